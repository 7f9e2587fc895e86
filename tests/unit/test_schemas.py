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


# The original tap's column names (its schemas, 1.6.x): warehouse tables
# people already have. Each must still be declared, nested ones included.
ORIGINAL_COLUMNS = {
    ("activities",): """envelope date_created references body_text_quoted
        need_smtp_credentials in_reply_to_id updated_by_name old_status_label
        transferred_from user_id updated_by cc opportunity_value task_assigned_to
        created_by status email_account_id template_id transferred_to attachments
        message_ids voicemail_duration local_phone body_html_quoted opens task_id
        lead_id task_assigned_to_name body_text thread_id task_text user_name note
        source import_id to recording_url date_scheduled subject body_preview
        created_by_name phone sender duration date_sent _type new_status_label
        opportunity_value_formatted opportunity_id opens_summary new_status_type
        remote_phone new_status_id contact_id body_html opportunity_date_won
        opportunity_value_currency old_status_type bcc organization_id old_status_id
        opportunity_confidence date_updated template_name opportunity_value_period
        voicemail_url send_attempts id direction""",
    ("activities", "envelope"): """cc message_id sender date subject is_autoreply
        from bcc reply_to to in_reply_to""",
    ("activities", "attachments"): "filename content_id url size content_type",
    ("activities", "opens"): "ip_address user_agent opened_by opened_at",
    ("activities", "send_attempts"): "date error_message error_class",
    ("tasks",): """emails date voicemail_duration body_preview created_by
        organization_id phone phone_formatted assigned_to is_complete object_type
        lead_id view _type date_updated is_dateless updated_by_name updated_by
        remote_phone_description text contact_id assigned_to_name
        opportunity_value_currency opportunity_value remote_phone_formatted
        contact_name lead_name opportunity_value_formatted phone_number_description
        date_created due_date opportunity_note remote_phone subject recording_url
        object_id created_by_name voicemail_url opportunity_value_period id email_id
        local_phone""",
    ("leads",): """custom_fields integration_links description updated_by status_id
        opportunities organization_id date_updated created_by tasks status_label
        created_by_name date_created contacts updated_by_name display_name html_url
        id addresses name url""",
    ("leads", "opportunities"): """integration_links value date_lost created_by
        user_id contact_id updated_by_name updated_by status_id user_name
        organization_id value_formatted date_created id value_currency value_period
        lead_id confidence contact_name date_updated status_label note lead_name
        status_type created_by_name date_won""",
    ("leads", "tasks"): """_type created_by updated_by_name view object_id date
        text updated_by due_date organization_id object_type is_dateless id lead_id
        contact_name assigned_to date_updated assigned_to_name lead_name
        created_by_name date_created contact_id is_complete""",
    ("leads", "contacts"): """urls display_name title integration_links id
        created_by phones lead_id organization_id date_updated updated_by name
        emails date_created""",
    ("leads", "addresses"): "city state address_2 zipcode country label address_1",
    ("users",): """first_name id organizations email date_updated last_name image
        date_created last_used_timezone""",
    ("custom_fields",): """id name type date_created date_updated created_by
        updated_by organization_id choices editable_with_roles""",
    ("event_log",): """date_updated action date_created data previous_data
        object_id user_id lead_id request_id object_type id organization_id
        changed_fields meta""",
}


@pytest.mark.parametrize("where", ORIGINAL_COLUMNS, ids="/".join)
def test_original_tap_columns_are_kept(where):
    stream, *path = where
    schema = load_schema(stream)
    for name in path:
        schema = schema["properties"][name]
        schema = schema.get("items", schema)

    missing = set(ORIGINAL_COLUMNS[where].split()) - set(schema["properties"])

    assert missing == set()


def test_unknown_stream_is_refused():
    with pytest.raises(SchemaError, match="'opportunities'.*known: custom_fields"):
        load_schema("opportunities")


def test_one_schema_per_declared_stream_in_sync_order():
    from tap_closeio.streams import STREAMS

    assert STREAM_NAMES == tuple(stream.name for stream in STREAMS)
