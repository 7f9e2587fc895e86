"""Bookmarks and windows at their edges: equal values, mixed ISO forms,
offsets in start_date, window boundaries, records dated in the future."""

import pytest
from sync_harness import catalog_of, make_config, sync, tap_logs

NOW = "2024-05-01T12:00:00+00:00"
KINDS = {"leads": "lead", "tasks": "task", "custom_fields": "custom_field_lead"}


def add(emu, kind: str, rid: str, **dates) -> None:
    emu.add(kind, {"id": rid, **dates})


def test_activity_on_a_window_boundary_is_emitted_once(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    emu.add(
        "activity",
        {
            "id": "acti_edge",
            "_type": "Note",
            "date_created": "2024-04-02T00:00:00+00:00",
        },
    )
    emu.add(
        "activity",
        {
            "id": "acti_before",
            "_type": "Note",
            "date_created": "2024-04-01T23:59:59.999999+00:00",
        },
    )
    config = make_config(emu, "2024-04-01T00:00:00Z", date_window_days=1)

    result = sync(emu, config=config, catalog=catalog_of("activities"))

    assert sorted(result.ids("activities")) == ["acti_before", "acti_edge"]
    windows = sorted(
        (r.query["date_created__gte"], r.query.get("date_created__lt"))
        for r in result.requests
    )
    assert windows[:2] == [
        ("2024-04-01T00:00:00.000000+00:00", "2024-04-02T00:00:00.000000+00:00"),
        ("2024-04-02T00:00:00.000000+00:00", "2024-04-03T00:00:00.000000+00:00"),
    ]


def test_every_activities_request_carries_its_window(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    config = make_config(emu, "2024-04-01T00:00:00Z", date_window_days=7)

    result = sync(emu, config=config, catalog=catalog_of("activities"))

    windows = sorted(
        (r.query["date_created__gte"], r.query.get("date_created__lt"))
        for r in result.requests
    )
    assert windows == [
        ("2024-04-01T00:00:00.000000+00:00", "2024-04-08T00:00:00.000000+00:00"),
        ("2024-04-08T00:00:00.000000+00:00", "2024-04-15T00:00:00.000000+00:00"),
        ("2024-04-15T00:00:00.000000+00:00", "2024-04-22T00:00:00.000000+00:00"),
        ("2024-04-22T00:00:00.000000+00:00", "2024-04-29T00:00:00.000000+00:00"),
        ("2024-04-29T00:00:00.000000+00:00", None),
    ]


def test_lead_equal_to_the_bookmark_is_emitted_and_one_a_second_later(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    add(emu, "lead", "lead_older", date_updated="2024-03-01T10:15:29+00:00")
    add(emu, "lead", "lead_equal", date_updated="2024-03-01T10:15:30+00:00")
    add(emu, "lead", "lead_later", date_updated="2024-03-01T10:15:31+00:00")
    state = {"bookmarks": {"leads": {"date_updated": "2024-03-01T10:15:30+00:00"}}}

    result = sync(emu, state, catalog=catalog_of("leads"))

    assert result.ids("leads") == ["lead_equal", "lead_later"]
    assert [r.query for r in result.requests] == [
        {
            "query": 'date_updated >= "2024-03-01T10:15" sort:date_updated',
            "_skip": "0",
            "_limit": "100",
        }
    ]
    assert result.state["bookmarks"]["leads"] == {
        "date_updated": "2024-03-01T10:15:31.000000Z"
    }


@pytest.mark.parametrize("stream", ["leads", "tasks", "custom_fields"])
def test_mixed_iso_forms_are_compared_as_instants(emulator_factory, stream):
    emu = emulator_factory(size="empty", now=NOW)
    if stream == "custom_fields":
        for record in emu.objects("custom_field_lead"):
            emu.delete("custom_field_lead", record["id"])
    forms = {
        "x_at": "2024-04-30T10:00:00Z",
        "x_half": "2024-04-30T10:00:04.5Z",
        "x_five": "2024-04-30T10:00:05+00:00",
    }
    for rid, value in forms.items():
        add(emu, KINDS[stream], rid, date_created=value, date_updated=value)
    bookmark = "2024-04-30T10:00:00.000001+00:00"
    state = {"bookmarks": {stream: {"date_updated": bookmark}}}

    result = sync(emu, state, catalog=catalog_of(stream))

    assert sorted(result.ids(stream)) == ["x_five", "x_half"]
    assert result.state["bookmarks"][stream] == {
        "date_updated": "2024-04-30T10:00:05.000000Z"
    }


def test_start_date_with_an_offset_is_read_as_its_instant(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    add(emu, "lead", "lead_before", date_updated="2023-12-31T18:59:59+00:00")
    add(emu, "lead", "lead_in", date_updated="2023-12-31T20:00:00+00:00")
    config = make_config(emu, "2024-01-01T00:00:00+05:00")

    result = sync(emu, config=config, catalog=catalog_of("leads"))

    assert result.ids("leads") == ["lead_in"]


def test_activity_dated_in_the_future_is_emitted_without_moving_the_bookmark(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    emu.add(
        "activity",
        {
            "id": "acti_now",
            "_type": "Note",
            "date_created": "2024-04-30T10:00:00+00:00",
        },
    )
    emu.add(
        "activity",
        {
            "id": "acti_2031",
            "_type": "Note",
            "date_created": "2031-01-01T00:00:00+00:00",
        },
    )
    config = make_config(emu, "2024-04-01T00:00:00Z")

    with tap_logs() as logs:
        result = sync(emu, config=config, catalog=catalog_of("activities"))

    assert sorted(result.ids("activities")) == ["acti_2031", "acti_now"]
    assert [line for line in logs.lines if "after this run started" in line] == [
        "INFO activities: acti_2031 has date_created 2031-01-01T00:00:00+00:00, "
        "after this run started (2024-05-01T12:00:00+00:00); records like it are "
        "emitted but do not move the bookmark, so they come again next run"
    ]
    assert result.state["bookmarks"]["activities"] == {
        "date_created": "2024-04-30T10:00:00.000000Z"
    }
    assert all(
        s["bookmarks"].get("activities", {}).get("date_created", "")
        <= "2024-04-30T10:00:00.000000Z"
        for s in result.states()
    )


def test_lead_dated_in_the_future_is_emitted_without_moving_the_bookmark(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    add(emu, "lead", "lead_now", date_updated="2024-04-30T10:00:00+00:00")
    add(emu, "lead", "lead_2031", date_updated="2031-01-01T00:00:00+00:00")

    with tap_logs() as logs:
        result = sync(emu, catalog=catalog_of("leads"))

    assert result.ids("leads") == ["lead_now", "lead_2031"]
    assert [line for line in logs.lines if "after this run started" in line] == [
        "INFO leads: lead_2031 has date_updated 2031-01-01T00:00:00+00:00, "
        "after this run started (2024-05-01T12:00:00+00:00); records like it are "
        "emitted but do not move the bookmark, so they come again next run"
    ]
    assert result.state["bookmarks"]["leads"] == {
        "date_updated": "2024-04-30T10:00:00.000000Z"
    }


def test_event_log_bookmark_stays_five_minutes_before_the_sync(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    emu.add("lead", {"id": "lead_x", "date_updated": "2024-05-01T11:59:00+00:00"})

    result = sync(emu, catalog=catalog_of("event_log"))

    assert len(result.ids("event_log")) == 1
    assert result.state["bookmarks"]["event_log"] == {
        "date_updated": "2024-05-01T11:55:00.000000Z"
    }
    assert result.requests[0].query == {
        "date_updated__gte": "2020-01-01T00:00:00.000000+00:00",
        "_limit": "50",
    }


def test_row_without_a_date_is_emitted_and_moves_no_bookmark(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    for record in emu.objects("custom_field_lead"):
        emu.delete("custom_field_lead", record["id"])
    add(emu, "custom_field_lead", "cf_dated", date_updated="2024-04-30T10:00:00Z")
    add(emu, "custom_field_lead", "cf_undated")

    result = sync(emu, catalog=catalog_of("custom_fields"))

    assert sorted(result.ids("custom_fields")) == ["cf_dated", "cf_undated"]
    assert result.state["bookmarks"]["custom_fields"] == {
        "date_updated": "2024-04-30T10:00:00.000000Z"
    }


def test_tasks_are_asked_for_every_type_since_the_bookmark_by_date_created(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    for n in range(5):
        add(
            emu,
            "task",
            f"task_{n}",
            _type="lead" if n % 2 else "email_followup",
            date_created=f"2024-04-0{n + 1}T00:00:00+00:00",
            date_updated=f"2024-04-2{n}T00:00:00+00:00",
        )
    state = {"bookmarks": {"tasks": {"date_updated": "2024-04-21T00:00:00Z"}}}

    result = sync(emu, state, catalog=catalog_of("tasks"), page_sizes={"tasks": 2})

    assert result.ids("tasks") == ["task_1", "task_2", "task_3", "task_4"]
    base = {
        "_type": "all",
        "date_updated__gte": "2024-04-21T00:00:00.000000+00:00",
        "_order_by": "date_created",
        "_limit": "2",
    }
    assert [r.query for r in result.requests] == [
        {**base, "_skip": "0"},
        {**base, "date_created__gte": "2024-04-03T00:00:00.000000+00:00", "_skip": "0"},
        {**base, "date_created__gte": "2024-04-04T00:00:00.000000+00:00", "_skip": "0"},
    ]
    assert result.state["bookmarks"]["tasks"] == {
        "date_updated": "2024-04-24T00:00:00.000000Z"
    }


def test_first_run_emits_custom_field_definitions_older_than_start_date(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    for record in emu.objects("custom_field_lead"):
        emu.delete("custom_field_lead", record["id"])
    add(emu, "custom_field_lead", "cf_old", date_updated="2019-06-01T00:00:00Z")
    add(emu, "custom_field_lead", "cf_new", date_updated="2024-04-30T10:00:00Z")
    config = make_config(emu, "2024-01-01T00:00:00Z")

    first = sync(emu, config=config, catalog=catalog_of("custom_fields"))
    second = sync(emu, first.state, config=config, catalog=catalog_of("custom_fields"))

    assert sorted(first.ids("custom_fields")) == ["cf_new", "cf_old"]
    assert second.ids("custom_fields") == ["cf_new"]
    assert second.state["bookmarks"]["custom_fields"] == {
        "date_updated": "2024-04-30T10:00:00.000000Z"
    }
