"""The packaged schemas: resolved, fresh copies, and the shape rules every
stream's schema keeps."""

import json

import jsonschema
import pytest
from tap_closeio.schemas import STREAM_NAMES, SchemaError, load_all, load_schema

ALL_JSON_TYPES = {"null", "boolean", "number", "string", "object", "array"}


def walk(schema: dict, path: str = ""):
    """Yield (path, subschema) for every property and array item."""
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}" if path else name, sub
        yield from walk(sub, f"{path}.{name}" if path else name)
    items = schema.get("items")
    if isinstance(items, dict):
        yield f"{path}[]", items
        yield from walk(items, f"{path}[]")


def test_load_all_has_the_six_streams_in_sync_order():
    assert list(load_all()) == [
        "custom_fields",
        "leads",
        "activities",
        "tasks",
        "users",
        "event_log",
    ]


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_schema_has_no_ref_and_is_valid_draft4(stream):
    schema = load_schema(stream)

    assert "$ref" not in json.dumps(schema)
    jsonschema.Draft4Validator.check_schema(schema)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_every_property_is_nullable_and_objects_stay_open(stream):
    schema = load_schema(stream)

    assert schema["additionalProperties"] is True
    for path, sub in walk(schema):
        assert "null" in sub["type"], path
        if "object" in sub["type"]:
            assert sub["additionalProperties"] is True, path


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_date_times_are_nullable_strings_with_format(stream):
    date_times = [
        (path, sub)
        for path, sub in walk(load_schema(stream))
        if sub.get("format") == "date-time"
    ]

    assert ("date_updated" in dict(date_times)) or stream == "activities"
    for path, sub in date_times:
        assert sub["type"] == ["null", "string"], path


def test_each_call_returns_a_fresh_copy():
    first = load_schema("users")
    first["properties"]["id"]["type"].append("integer")
    first["properties"].clear()

    assert load_schema("users")["properties"]["id"] == {"type": ["null", "string"]}


def test_lead_custom_fields_accept_every_json_type_and_no_legacy_custom():
    properties = load_schema("leads")["properties"]
    item = properties["custom_fields"]["items"]

    assert "custom" not in properties
    assert item["properties"]["id"]["type"] == ["null", "string"]
    assert set(item["properties"]["value"]["type"]) == ALL_JSON_TYPES


def test_opportunity_value_is_a_number_and_date_won_a_plain_string():
    opportunity = load_schema("leads")["properties"]["opportunities"]["items"]

    assert opportunity["properties"]["value"] == {"type": ["null", "number"]}
    assert opportunity["properties"]["date_won"] == {"type": ["null", "string"]}


def test_task_dates_are_plain_strings():
    for schema in (
        load_schema("tasks"),
        load_schema("leads")["properties"]["tasks"]["items"],
    ):
        assert schema["properties"]["date"] == {"type": ["null", "string"]}
        assert schema["properties"]["due_date"] == {"type": ["null", "string"]}


def test_event_payloads_are_nullable_strings():
    properties = load_schema("event_log")["properties"]

    assert properties["data"]["type"] == ["null", "string"]
    assert properties["previous_data"]["type"] == ["null", "string"]


def test_activity_users_are_strings_and_call_cost_may_be_text():
    properties = load_schema("activities")["properties"]

    assert properties["users"] == {
        "type": ["null", "array"],
        "items": {"type": ["null", "string"]},
    }
    assert properties["cost"]["type"] == ["null", "string", "number"]


def test_email_envelope_date_is_plain_text():
    envelope = load_schema("activities")["properties"]["envelope"]

    assert "format" not in envelope["properties"]["date"]


def test_original_tap_columns_are_kept():
    # A sample of the original tap's column names, nested ones included.
    leads = load_schema("leads")["properties"]
    activities = load_schema("activities")["properties"]

    assert {"addresses", "contacts", "opportunities", "tasks", "integration_links"} <= (
        set(leads)
    )
    assert {"phone", "phone_formatted", "emails"} <= set(
        leads["contacts"]["items"]["properties"]["phones"]["items"]["properties"]
    ) | set(leads["contacts"]["items"]["properties"])
    assert {"envelope", "send_attempts", "opens", "body_html_quoted"} <= set(activities)


def test_unknown_stream_is_refused():
    with pytest.raises(SchemaError, match="'opportunities'.*known: custom_fields"):
        load_schema("opportunities")


def test_one_schema_per_declared_stream_in_sync_order():
    from tap_closeio.streams import STREAMS

    assert STREAM_NAMES == tuple(stream.name for stream in STREAMS)
