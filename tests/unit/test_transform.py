"""Record transformation: exact output values, and validity against the
emitted SCHEMA."""

import json
import logging
import re

import jsonschema
import pytest
from tap_closeio.schemas import load_schema

from tap_closeio.transform import DATE_OR_TEXT_FIELDS, make_transformer

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)
FORMATS = jsonschema.FormatChecker(())


@FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or RFC3339.match(value) is not None


def transform(stream: str, record: dict, selected: set[str] | None = None) -> dict:
    return make_transformer(stream, load_schema(stream), selected)(record)


def assert_valid(stream: str, record: dict) -> None:
    validator = jsonschema.Draft4Validator(load_schema(stream), format_checker=FORMATS)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
    assert errors == []


MEETING = {
    "id": "acti_meeting1",
    "_type": "Meeting",
    "lead_id": "lead_1",
    "users": ["user_A", "user_B"],
    "starts_at": "2024-04-02T09:00:00+02:00",
    "ends_at": "2024-04-02T07:30:00Z",
    "date_created": "2024-04-01T12:00:00.123000+00:00",
    "date_updated": "2024-04-01T12:00:00+00:00",
    "duration": 1800,
    "attendees": [{"email": "a@example.com", "is_organizer": True}],
}


def test_meeting_keeps_user_ids_and_normalises_date_times():
    record = transform("activities", MEETING)

    assert record == {
        "id": "acti_meeting1",
        "_type": "Meeting",
        "lead_id": "lead_1",
        "users": ["user_A", "user_B"],
        "starts_at": "2024-04-02T07:00:00.000000Z",
        "ends_at": "2024-04-02T07:30:00.000000Z",
        "date_created": "2024-04-01T12:00:00.123000Z",
        "date_updated": "2024-04-01T12:00:00.000000Z",
        "duration": 1800,
        "attendees": [{"email": "a@example.com", "is_organizer": True}],
    }
    assert_valid("activities", record)


LEAD = {
    "id": "lead_1",
    "display_name": "Bluth Company",
    "custom": {"Multi": ["red", "blue"]},
    "custom.cf_multi": ["red", "blue"],
    "custom.cf_num": 12.5,
    "custom.cf_obj": {"k": [1, 2]},
    "custom.cf_flag": True,
    "custom.cf_empty": None,
    "custom.cf_date": "2024-02-29",
    "custom.cf_a.b": "dotted",
    "opportunities": [
        {
            "id": "oppo_1",
            "value": 1234.5,
            "confidence": 50,
            "date_won": "2024-03-01",
            "date_created": "2024-02-01T10:00:00+00:00",
        }
    ],
    "date_updated": "2024-03-01T10:15:30+00:00",
}


def test_lead_custom_keys_become_custom_fields_with_their_json_types():
    record = transform("leads", LEAD)

    assert record == {
        "id": "lead_1",
        "display_name": "Bluth Company",
        "opportunities": [
            {
                "id": "oppo_1",
                "value": 1234.5,
                "confidence": 50,
                "date_won": "2024-03-01",
                "date_created": "2024-02-01T10:00:00.000000Z",
            }
        ],
        "date_updated": "2024-03-01T10:15:30.000000Z",
        "custom_fields": [
            {"id": "cf_multi", "value": ["red", "blue"]},
            {"id": "cf_num", "value": 12.5},
            {"id": "cf_obj", "value": {"k": [1, 2]}},
            {"id": "cf_flag", "value": True},
            {"id": "cf_empty", "value": None},
            {"id": "cf_date", "value": "2024-02-29"},
            {"id": "cf_a.b", "value": "dotted"},
        ],
    }
    assert type(record["opportunities"][0]["value"]) is float
    assert_valid("leads", record)


def test_lead_without_custom_keys_gets_an_empty_list():
    assert transform("leads", {"id": "lead_2"}) == {"id": "lead_2", "custom_fields": []}


def test_deselected_custom_fields_drop_every_custom_key():
    record = transform("leads", LEAD, selected={"id", "date_updated"})

    assert record == {"id": "lead_1", "date_updated": "2024-03-01T10:15:30.000000Z"}


EMAIL = {
    "id": "acti_email1",
    "_type": "Email",
    "envelope": {
        "date": "4/21/17 9:21 AM (GMT-05:00)",
        "from": [{"name": "Jane Doe", "email": "jane@example.com"}],
    },
    "date_sent": "2017-04-21T14:21:00+00:00",
    "send_attempts": [{"date": "2017-04-21T16:21:00+02:00", "error_class": None}],
}


def test_email_envelope_date_that_is_text_passes_through():
    record = transform("activities", EMAIL)

    assert record == {
        "id": "acti_email1",
        "_type": "Email",
        "envelope": {
            "date": "4/21/17 9:21 AM (GMT-05:00)",
            "from": [{"name": "Jane Doe", "email": "jane@example.com"}],
        },
        "date_sent": "2017-04-21T14:21:00.000000Z",
        "send_attempts": [{"date": "2017-04-21T14:21:00.000000Z", "error_class": None}],
    }
    assert_valid("activities", record)


def test_date_or_text_field_holding_iso_date_time_is_normalised():
    record = transform(
        "activities", {"envelope": {"date": "2024-04-30T12:00:00+02:00"}}
    )

    assert record == {"envelope": {"date": "2024-04-30T10:00:00.000000Z"}}


def test_task_date_may_be_a_date_or_a_date_time():
    dated = transform("tasks", {"id": "task_1", "date": "2024-05-01"})
    timed = transform(
        "tasks", {"id": "task_2", "due_date": "2024-05-01T09:00:00-04:00"}
    )

    assert dated == {"id": "task_1", "date": "2024-05-01"}
    assert timed == {"id": "task_2", "due_date": "2024-05-01T13:00:00.000000Z"}


def test_event_payloads_are_json_encoded_in_close_key_order():
    event = {
        "id": "ev_1",
        "date_updated": "2024-04-30T10:00:05.5",
        "data": {"z": 1, "a": [1.5, None, "é"], "date_updated": "x"},
        "previous_data": {"status_id": "stat_old"},
    }

    record = transform("event_log", event)

    assert record == {
        "id": "ev_1",
        "date_updated": "2024-04-30T10:00:05.500000Z",
        "data": '{"z":1,"a":[1.5,null,"é"],"date_updated":"x"}',
        "previous_data": '{"status_id":"stat_old"}',
    }
    assert_valid("event_log", record)


def test_event_with_data_but_no_previous_data():
    record = transform("event_log", {"id": "ev_2", "data": {"k": "v"}})

    assert record == {"id": "ev_2", "data": '{"k":"v"}', "previous_data": None}
    assert_valid("event_log", record)


def test_event_with_neither_payload():
    record = transform("event_log", {"id": "ev_3", "data": None})

    assert record == {"id": "ev_3", "data": None, "previous_data": None}
    assert_valid("event_log", record)


def test_deselected_fields_are_removed_and_undeclared_fields_kept():
    close_object = {
        "id": "user_1",
        "email": "jane@example.com",
        "first_name": "Jane",
        "date_updated": "2024-01-01T00:00:00+00:00",
        "brand_new_field": {"nested": True},
    }

    record = transform("users", close_object, selected={"id", "date_updated"})

    assert record == {
        "id": "user_1",
        "date_updated": "2024-01-01T00:00:00.000000Z",
        "brand_new_field": {"nested": True},
    }


def test_input_object_is_not_changed():
    before = json.loads(json.dumps(LEAD))

    transform("leads", LEAD)

    assert LEAD == before


def test_unparseable_date_time_passes_through_with_one_warning(caplog):
    convert = make_transformer("users", load_schema("users"), None)

    with caplog.at_level(logging.WARNING, logger="tap_closeio.transform"):
        first = convert({"id": "u1", "date_created": "not a date"})
        second = convert({"id": "u2", "date_created": "still not"})
        third = convert({"id": "u3", "date_created": 1714471205})

    assert first == {"id": "u1", "date_created": "not a date"}
    assert second == {"id": "u2", "date_created": "still not"}
    assert third == {"id": "u3", "date_created": 1714471205}
    assert [r.getMessage() for r in caplog.records] == [
        "date_created holds 'not a date', not a date-time; passing it through "
        "unchanged (warned once per field)"
    ]


def test_values_of_wrong_container_type_pass_through():
    record = transform("activities", {"envelope": "odd", "attendees": {"a": 1}})

    assert record == {"envelope": "odd", "attendees": {"a": 1}}


def test_validator_rejects_a_naive_date_time():
    # Guards the helper above: without a date-time check these tests could
    # not fail on an unnormalised value.
    with pytest.raises(AssertionError):
        assert_valid("users", {"date_created": "2024-01-01T00:00:00"})


@pytest.mark.parametrize("stream", sorted(DATE_OR_TEXT_FIELDS))
def test_date_or_text_paths_exist_in_the_schema(stream):
    make_transformer(stream, load_schema(stream), None)


def test_a_date_or_text_path_missing_from_the_schema_is_refused():
    schema = {"properties": {"date": {"type": ["null", "string"]}}}

    with pytest.raises(ValueError, match=r"tasks: .*\['due_date'\]"):
        make_transformer("tasks", schema, None)
