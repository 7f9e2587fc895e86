"""Whole syncs against the emulator: every record from start_date on, the
message order, stream order and selection, and a second run after changes."""

from datetime import timedelta

import pytest
from sync_harness import ALL_STREAMS, KINDS, catalog_of, make_config, sync, tap_logs
from tap_closeio.schemas import load_schema

from tap_closeio.timeutil import parse_datetime
from tap_closeio.transform import make_transformer

EVENT_KEEP = timedelta(days=30)


def truth(emu, stream: str) -> list[dict]:
    """What Close holds for the stream from start_date (2020) on; events
    only as far back as Close keeps them."""
    objects = emu.objects(KINDS[stream])
    if stream == "event_log":
        oldest = emu.now - EVENT_KEEP
        objects = [o for o in objects if parse_datetime(o["date_created"]) >= oldest]
    return objects


def test_full_sync_emits_exactly_what_close_holds(emulator_factory):
    emu = emulator_factory(size="small")
    result = sync(emu)

    for stream in ALL_STREAMS:
        expected = sorted(o["id"] for o in truth(emu, stream))
        assert expected, stream
        assert sorted(result.ids(stream)) == expected, stream


def test_records_are_the_transformed_close_objects(emulator_factory):
    emu = emulator_factory(size="tiny")
    result = sync(emu, catalog=catalog_of("users", "tasks"))

    for stream in ("users", "tasks"):
        transform = make_transformer(stream, load_schema(stream), None)
        expected = {o["id"]: transform(o) for o in truth(emu, stream)}
        assert {r["id"]: r for r in result.records(stream)} == expected


def test_final_state_bookmarks_each_stream_and_clears_currently_syncing(
    emulator_factory,
):
    emu = emulator_factory(size="tiny")
    result = sync(emu)
    now = emu.now

    def newest(stream: str, key: str) -> str:
        moments = [parse_datetime(o[key]) for o in truth(emu, stream)]
        return max(m for m in moments if m <= now).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    assert result.state == result.last_state()
    assert result.state["currently_syncing"] is None
    bookmarks = result.state["bookmarks"]
    assert bookmarks["leads"] == {"date_updated": newest("leads", "date_updated")}
    assert bookmarks["activities"] == {
        "date_created": newest("activities", "date_created")
    }
    assert bookmarks["tasks"] == {"date_updated": newest("tasks", "date_updated")}
    assert bookmarks["users"] == {"date_updated": newest("users", "date_updated")}
    settled = now - timedelta(minutes=5)
    newest_event = max(
        parse_datetime(o["date_updated"]) for o in truth(emu, "event_log")
    )
    assert bookmarks["event_log"] == {
        "date_updated": min(newest_event, settled).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    }


def test_schema_comes_before_records_for_every_stream_even_empty_ones(
    emulator_factory,
):
    emu = emulator_factory(size="empty")
    result = sync(emu)

    schemas = [m["stream"] for m in result.messages if m["type"] == "SCHEMA"]
    assert schemas == list(ALL_STREAMS)
    for stream in ALL_STREAMS:
        types = [
            m["type"] for m in result.messages if m.get("stream") in (stream, None)
        ]
        first_schema = [m.get("stream") for m in result.messages].index(stream)
        assert all(
            m["type"] != "RECORD" or m["stream"] != stream
            for m in result.messages[:first_schema]
        )
        assert "SCHEMA" in types


def test_schema_message_shape(emulator_factory):
    emu = emulator_factory(size="empty")
    result = sync(emu, catalog=catalog_of("leads"))

    schema = next(m for m in result.messages if m["type"] == "SCHEMA")
    assert schema == {
        "type": "SCHEMA",
        "stream": "leads",
        "schema": load_schema("leads"),
        "key_properties": ["id"],
        "bookmark_properties": ["date_updated"],
    }


def test_each_stream_announces_itself_in_currently_syncing(emulator_factory):
    emu = emulator_factory(size="empty")
    result = sync(emu)

    announced = []
    for value in result.states():
        name = value["currently_syncing"]
        if name is not None and (not announced or announced[-1] != name):
            announced.append(name)
    assert announced == list(ALL_STREAMS)
    assert result.states()[-1]["currently_syncing"] is None


def test_interrupted_stream_goes_first_then_the_rest_in_order(emulator_factory):
    emu = emulator_factory(size="empty")
    result = sync(emu, {"currently_syncing": "tasks"})

    schemas = [m["stream"] for m in result.messages if m["type"] == "SCHEMA"]
    assert schemas == [
        "tasks",
        "users",
        "event_log",
        "custom_fields",
        "leads",
        "activities",
    ]


def test_unknown_currently_syncing_warns_then_syncs_normally(emulator_factory):
    emu = emulator_factory(size="tiny")
    state = {
        "currently_syncing": "opportunities",
        "bookmarks": {"opportunities": {"date_updated": "2024-01-01T00:00:00Z"}},
    }
    with tap_logs() as logs:
        result = sync(emu, state)

    assert "WARNING State names currently_syncing='opportunities'" in logs.text
    schemas = [m["stream"] for m in result.messages if m["type"] == "SCHEMA"]
    assert schemas == list(ALL_STREAMS)
    assert sorted(result.ids("leads")) == sorted(o["id"] for o in truth(emu, "leads"))
    assert result.state["bookmarks"]["opportunities"] == {
        "date_updated": "2024-01-01T00:00:00Z"
    }
    assert result.state["currently_syncing"] is None


def test_each_stream_says_what_it_reads_and_from_which_bookmark(emulator_factory):
    emu = emulator_factory(size="empty")
    bookmark = "2021-03-04T05:06:07.000000Z"
    state = {
        "bookmarks": {
            "custom_fields": {"date_updated": bookmark},
            "users": {"date_updated": bookmark},
        }
    }

    with tap_logs() as logs:
        sync(emu, state)

    assert [line for line in logs.lines if ": reading " in line] == [
        "INFO custom_fields: reading every row on the first run, then rows "
        "updated at or after the bookmark (bookmark in state: "
        "2021-03-04T05:06:07.000000Z)",
        "INFO leads: reading from 2020-01-01T00:00:00.000000Z (bookmark in state: "
        "None)",
        "INFO activities: reading from the bookmark less "
        "activities_window_seconds, or start_date (bookmark in state: None)",
        "INFO tasks: reading from 2020-01-01T00:00:00.000000Z (bookmark in state: "
        "None)",
        "INFO users: reading the whole list (bookmark in state: "
        "2021-03-04T05:06:07.000000Z)",
        "INFO event_log: reading from 2020-01-01T00:00:00.000000Z (bookmark in "
        "state: None)",
    ]


def test_deselected_streams_are_never_requested(emulator_factory):
    emu = emulator_factory(size="tiny")
    result = sync(emu, catalog=catalog_of("users"))

    assert {r.path for r in result.requests} == {"/api/v1/user/"}
    assert [m["stream"] for m in result.messages if m["type"] == "SCHEMA"] == ["users"]


@pytest.mark.parametrize(
    "stream, path",
    [("tasks", "task/"), ("activities", "activity/"), ("event_log", "event/")],
)
def test_a_stream_refused_with_403_is_skipped_and_the_others_sync(
    emulator_factory, stream, path
):
    emu = emulator_factory(size="tiny")
    emu.add_fault(path_prefix="/api/v1/" + path, kind="status", status=403, times=None)
    with tap_logs() as logs:
        result = sync(emu)

    assert result.ids(stream) == []
    assert stream not in result.state["bookmarks"]
    for other in ALL_STREAMS:
        if other != stream:
            expected = sorted(o["id"] for o in truth(emu, other))
            assert sorted(result.ids(other)) == expected, other
    assert f"WARNING {stream}: Close refused access" in logs.text


def test_second_sync_after_changes_emits_them_and_loses_nothing(emulator_factory):
    emu = emulator_factory(size="small")
    first = sync(emu)
    changed = emu.mutate()
    second = sync(emu, first.state)

    for kind, stream in (("lead", "leads"), ("activity", "activities")):
        assert set(changed[kind]) <= set(second.ids(stream)), stream
    assert set(changed["task"]) <= set(second.ids("tasks"))
    assert set(changed["event"]) <= set(second.ids("event_log"))

    # Every current version of every record arrived in one run or the other.
    for stream in ALL_STREAMS:
        emitted = {
            (r["id"], parse_datetime(r["date_updated"]))
            for r in first.records(stream) + second.records(stream)
        }
        for obj in truth(emu, stream):
            assert (obj["id"], parse_datetime(obj["date_updated"])) in emitted, stream


def test_concurrency_one_and_four_emit_the_same_records(emulator_factory):
    emu = emulator_factory(size="small")
    catalog = catalog_of("activities")
    one = sync(emu, config=make_config(emu, concurrency=1), catalog=catalog)
    four = sync(emu, config=make_config(emu, concurrency=4), catalog=catalog)

    assert len(one.ids("activities")) == len(emu.objects("activity"))
    assert sorted(one.ids("activities")) == sorted(four.ids("activities"))
    assert one.state == four.state


def test_deselected_fields_leave_the_schema_and_the_records(emulator_factory):
    emu = emulator_factory(size="tiny")
    catalog = catalog_of("users")
    catalog["streams"][ALL_STREAMS.index("users")]["metadata"] += [
        {"breadcrumb": ["properties", "email"], "metadata": {"selected": False}},
        {"breadcrumb": ["properties", "image"], "metadata": {"selected": False}},
    ]

    result = sync(emu, catalog=catalog)

    schema = next(m for m in result.messages if m["type"] == "SCHEMA")["schema"]
    declared = set(load_schema("users")["properties"])
    assert set(schema["properties"]) == declared - {"email", "image"}
    for record in result.records("users"):
        assert "email" not in record and "image" not in record
        assert "first_name" in record and "date_updated" in record
