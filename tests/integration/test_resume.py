"""Crash and resume: whatever point a run dies at, a run from the last STATE
it wrote emits every record the first one had not delivered."""

from datetime import timedelta

import pytest
from sync_harness import ALL_STREAMS, KINDS, catalog_of, make_config, sync

from tap_closeio.timeutil import parse_datetime

NOW = "2024-05-01T12:00:00+00:00"
START = parse_datetime("2024-03-01T00:00:00Z")
SIZE = {"users": 3, "leads": 60, "activities": 120, "tasks": 30}
PAGES = {
    "custom_fields": 4,
    "leads": 2,
    "activities": 5,
    "tasks": 3,
    "users": 1,
    "event_log": 10,
}
HOURLY = [f"2024-04-10T0{hour}:00:00+00:00" for hour in range(6)]


def versions(records: list[dict]) -> set[tuple]:
    return {(r["id"], parse_datetime(r["date_updated"])) for r in records}


def delivered(result, stream: str) -> list[dict]:
    """Records a target has for sure: those before the last STATE (the tap
    flushes at each STATE; a kill loses whatever was buffered after it)."""
    states = [i for i, m in enumerate(result.messages) if m["type"] == "STATE"]
    cut = states[-1] if states else 0
    return [
        m["record"]
        for m in result.messages[:cut]
        if m["type"] == "RECORD" and m["stream"] == stream
    ]


def assert_nothing_lost(emu, runs) -> None:
    """Every current version of every record from start_date on (users: all
    of them; events: as far back as Close keeps them) was delivered."""
    oldest = {stream: START for stream in ALL_STREAMS}
    oldest["event_log"] = max(START, parse_datetime(NOW) - timedelta(days=30))
    for stream in ALL_STREAMS:
        emitted = set()
        for run in runs:
            emitted |= versions(delivered(run, stream))
        key = "date_created" if stream in ("activities", "event_log") else None
        for obj in emu.objects(KINDS[stream]):
            moment = parse_datetime(obj[key or "date_updated"])
            if stream != "users" and moment < oldest[stream]:
                continue
            version = (obj["id"], parse_datetime(obj["date_updated"]))
            assert version in emitted, (stream, version)


@pytest.fixture(scope="module")
def world():
    from close_emulator import Emulator

    emu = Emulator(seed=3, size=SIZE, now=NOW).start()
    clean = sync(emu, config=config_of(emu), page_sizes=PAGES)
    yield emu, len(clean.messages)
    emu.stop()


def config_of(emu, concurrency: int = 2):
    return make_config(
        emu, START.isoformat(), date_window_days=3, concurrency=concurrency
    )


@pytest.mark.parametrize("fraction", [i / 21 for i in range(1, 21)])
def test_killed_at_any_point_a_resumed_run_loses_nothing(world, fraction):
    emu, total = world
    crash_after = int(total * fraction)
    first = sync(emu, config=config_of(emu), page_sizes=PAGES, crash_after=crash_after)
    assert first.error is not None

    resume_from = first.states()[-1] if first.states() else {}
    second = sync(emu, resume_from, config=config_of(emu), page_sizes=PAGES)

    assert second.state["currently_syncing"] is None
    assert_nothing_lost(emu, [first, second])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_window_failing_on_page_two_keeps_its_start_as_the_bookmark(
    emulator_factory, concurrency
):
    emu = emulator_factory(size="empty", now=NOW)
    for number, moment in enumerate(HOURLY):
        emu.add(
            "activity",
            {"id": f"acti_{number}", "_type": "Note", "date_created": moment},
        )
    emu.add(
        "activity",
        {
            "id": "acti_late",
            "_type": "Note",
            "date_created": "2024-04-20T00:00:00+00:00",
        },
    )
    config = make_config(
        emu,
        "2024-04-01T00:00:00Z",
        concurrency=concurrency,
        activities_window_seconds=86400,
    )
    state = {"bookmarks": {"activities": {"date_created": "2024-04-02T00:00:00Z"}}}
    emu.add_fault(
        path_prefix="/api/v1/activity/",
        kind="status",
        status=500,
        on_request=2,
        times=None,
    )

    first = sync(
        emu,
        state,
        config=config,
        catalog=catalog_of("activities"),
        page_sizes={"activities": 2},
        expect_error=True,
    )

    assert first.error is not None
    for value in first.states():
        assert value["bookmarks"]["activities"] == {
            "date_created": "2024-04-02T00:00:00Z"
        }

    emu.clear_faults()
    second = sync(
        emu,
        first.states()[-1],
        config=config,
        catalog=catalog_of("activities"),
        page_sizes={"activities": 2},
    )
    assert {"acti_2", "acti_3"} <= set(second.ids("activities"))
    assert sorted(set(first.ids("activities")) | set(second.ids("activities"))) == [
        "acti_0",
        "acti_1",
        "acti_2",
        "acti_3",
        "acti_4",
        "acti_5",
        "acti_late",
    ]
    assert second.state["bookmarks"]["activities"] == {
        "date_created": "2024-04-20T00:00:00.000000Z"
    }


def test_resumed_leads_use_the_saved_offset_for_the_same_query(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    for second in range(30):
        moment = f"2024-04-10T00:00:{second:02d}+00:00"
        emu.add("lead", {"id": f"lead_{second:02d}", "date_updated": moment})
    catalog = catalog_of("leads")

    first = sync(emu, catalog=catalog, page_sizes={"leads": 2}, crash_after=24)
    saved = first.states()[-1]["bookmarks"]["leads"]
    # Ten pages of two with an overlap of one: leads 00 to 10 emitted.
    assert saved["date_updated"] == "2024-04-10T00:00:10.000000Z"
    assert saved["offset"]["skip"] == 10
    assert saved["offset"]["seen"] == [["lead_10", "2024-04-10T00:00:10+00:00"]]

    second = sync(emu, first.states()[-1], catalog=catalog, page_sizes={"leads": 2})
    assert second.requests[0].query["_skip"] == "10"
    # lead_10, at _skip=10, is the record the offset says is there: read
    # (which checks the offset still fits), not emitted again.
    assert second.ids("leads")[0] == "lead_11"
    assert set(first.ids("leads")) | set(second.ids("leads")) == {
        f"lead_{n:02d}" for n in range(30)
    }
    assert "offset" not in second.state["bookmarks"]["leads"]


def test_offset_saved_by_the_original_tap_is_ignored(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    for minute in range(5):
        moment = f"2024-04-10T00:0{minute}:00+00:00"
        emu.add("lead", {"id": f"lead_{minute}", "date_updated": moment})
    state = {
        "bookmarks": {
            "leads": {"date_updated": "2024-04-01T00:00:00Z", "offset": {"skip": 3}}
        }
    }

    result = sync(emu, state, catalog=catalog_of("leads"))

    assert result.requests[0].query["_skip"] == "0"
    assert result.ids("leads") == [f"lead_{m}" for m in range(5)]


def test_saved_lead_offset_that_no_longer_fits_is_read_again(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    for second in range(30):
        moment = f"2024-04-10T00:00:{second:02d}+00:00"
        emu.add("lead", {"id": f"lead_{second:02d}", "date_updated": moment})
    catalog = catalog_of("leads")
    first = sync(emu, catalog=catalog, page_sizes={"leads": 2}, crash_after=24)
    for second in range(3):  # gone before the resume: the rest moves up
        emu.delete("lead", f"lead_{second:02d}")

    second = sync(emu, first.states()[-1], catalog=catalog, page_sizes={"leads": 2})

    assert [r.query["_skip"] for r in second.requests[:2]] == ["10", "0"]
    assert set(first.ids("leads")) | set(second.ids("leads")) >= {
        f"lead_{n:02d}" for n in range(3, 30)
    }
