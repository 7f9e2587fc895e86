"""Close changing under the tap: leads updated or deleted, activities deleted
or created, tasks updated or deleted while the tap pages past them. No other
record may be missed, in this run or across it and the next."""

from datetime import timedelta

import pytest
from resilience_support import (
    after_answer,
    expected_versions,
    recent_now,
    run_tap,
    stamp_now,
    sync_args,
    versions,
    write_json,
)

from tap_closeio.timeutil import parse_datetime

COUNT = 250  # three pages of Close's 100


def catalog_of(tmp_path, stream: str) -> str:
    entry = {
        "tap_stream_id": stream,
        "stream": stream,
        "schema": {"type": "object", "properties": {}},
        "key_properties": ["id"],
        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
    }
    return write_json(tmp_path / "catalog.json", {"streams": [entry]})


def iso(moment) -> str:
    return moment.isoformat()


def two_runs(emu, tmp_path, stream: str, concurrency: int = 1):
    """A run, then a run from its last STATE; both must succeed."""
    config = {
        "api_key": emu.api_key,
        "start_date": iso(emu.now - timedelta(days=10)),
        "base_url": emu.base_url,
        "concurrency": concurrency,
    }
    catalog = ["--catalog", catalog_of(tmp_path, stream)]
    first = run_tap(sync_args(tmp_path, config) + catalog, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_tap(
        sync_args(tmp_path, config, first.last_state()) + catalog, tmp_path
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.last_state()["currently_syncing"] is None
    return first, second


def current(emu, kind: str) -> set[tuple]:
    return {
        (obj["id"], parse_datetime(obj["date_updated"])) for obj in emu.objects(kind)
    }


def delete(emu, kind: str, ids) -> None:
    for rid in sorted(ids):
        emu.delete(kind, rid)


# --- leads: one crowded minute, paged by the lead search ----------------------


@pytest.fixture
def crowded_leads(emulator_factory):
    """250 leads updated within one minute two days ago."""
    emu = emulator_factory(size="empty", now=recent_now())
    minute = (emu.now - timedelta(days=2)).replace(second=0)
    for n in range(COUNT):
        moment = iso(minute + timedelta(milliseconds=200 * n))
        emu.add(
            "lead",
            {"id": f"lead_{n:03d}", "date_created": moment, "date_updated": moment},
        )
    return emu


@pytest.mark.parametrize("moved", [3, 7])
def test_leads_updated_off_the_first_page_hide_no_other_lead(
    crowded_leads, tmp_path, moved
):
    emu = crowded_leads
    ids = [f"lead_{n:03d}" for n in range(10, 10 + moved)]

    def edit(page: list[dict]) -> None:
        stamp_now(emu)
        for rid in ids:
            emu.update("lead", rid, description="edited mid-sync")

    fired = after_answer(emu, "lead/", edit)
    first, second = two_runs(emu, tmp_path, "leads")

    assert set(ids) <= set(fired[0])
    assert first.ids("leads") == {f"lead_{n:03d}" for n in range(COUNT)}
    delivered = versions(first.records("leads")) | versions(second.records("leads"))
    assert current(emu, "lead") <= delivered


def test_leads_deleted_off_the_first_page_hide_no_other_lead(crowded_leads, tmp_path):
    emu = crowded_leads
    gone = {f"lead_{n:03d}" for n in range(20, 27)}
    fired = after_answer(emu, "lead/", lambda page: delete(emu, "lead", gone))

    first, _ = two_runs(emu, tmp_path, "leads")

    assert gone <= set(fired[0])
    assert first.ids("leads") >= {f"lead_{n:03d}" for n in range(COUNT)} - gone


# --- activities: one window of 250, newest first --------------------------------


@pytest.fixture
def crowded_activities(emulator_factory):
    """250 activities a minute apart, three to one days ago: one window."""
    emu = emulator_factory(size="empty", now=recent_now())
    first = emu.now - timedelta(days=3)
    for n in range(COUNT):
        moment = iso(first + timedelta(minutes=n))
        emu.add(
            "activity", {"id": f"acti_{n:03d}", "_type": "Note", "date_created": moment}
        )
    return emu


def activity_ids(numbers) -> set[str]:
    return {f"acti_{n:03d}" for n in numbers}


@pytest.mark.parametrize("deleted", [1, 7])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_activities_deleted_mid_window_hide_no_other_activity(
    crowded_activities, tmp_path, concurrency, deleted
):
    emu = crowded_activities
    gone: set[str] = set()

    def remove(page: list[dict]) -> None:
        # From the middle of a page just served whose query goes on: the
        # rest of the result moves up under the tap's _skip.
        gone.update(record["id"] for record in page[40 : 40 + deleted])
        delete(emu, "activity", gone)

    # NB: at concurrency 4 the first page only sizes the parts of the window.
    nth = 1 if concurrency == 1 else 2
    fired = after_answer(emu, "activity/", remove, nth=nth, with_more=True)

    first, _ = two_runs(emu, tmp_path, "activities", concurrency)

    assert fired and len(gone) == deleted
    # This run alone: the next one re-reads a day and would hide the loss.
    assert first.ids("activities") >= activity_ids(range(COUNT)) - gone


@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_activity_created_mid_window_is_delivered_by_this_run_or_the_next(
    crowded_activities, tmp_path, concurrency
):
    emu = crowded_activities

    def create(page: list[dict]) -> None:
        stamp_now(emu)
        emu.add("activity", {"id": "acti_new", "_type": "Note"})

    fired = after_answer(emu, "activity/", create)
    first, second = two_runs(emu, tmp_path, "activities", concurrency)

    assert fired
    assert first.ids("activities") >= activity_ids(range(COUNT))
    assert "acti_new" in first.ids("activities") | second.ids("activities")


# --- tasks: created in one second (a bulk action), paged by date_created ------


@pytest.fixture
def bulk_tasks(emulator_factory):
    emu = emulator_factory(size="empty", now=recent_now())
    created = iso(emu.now - timedelta(days=2))
    for n in range(COUNT):
        updated = iso(emu.now - timedelta(days=2) + timedelta(seconds=n))
        emu.add(
            "task",
            {
                "id": f"task_{n:03d}",
                "_type": "lead",
                "date_created": created,
                "date_updated": updated,
            },
        )
    return emu


def test_tasks_updated_and_deleted_while_paging_hide_no_other_task(
    bulk_tasks, tmp_path
):
    emu = bulk_tasks
    edited = [f"task_{n:03d}" for n in range(5, 12)]
    gone = {f"task_{n:03d}" for n in range(30, 37)}

    def change(page: list[dict]) -> None:
        stamp_now(emu)
        for rid in edited:
            emu.update("task", rid, text="edited mid-sync")
        delete(emu, "task", gone)

    fired = after_answer(emu, "task/", change)
    first, second = two_runs(emu, tmp_path, "tasks")

    assert set(edited) | gone <= set(fired[0])
    assert first.ids("tasks") >= {f"task_{n:03d}" for n in range(COUNT)} - gone
    delivered = versions(first.records("tasks")) | versions(second.records("tasks"))
    assert current(emu, "task") <= delivered


@pytest.mark.parametrize(
    ("fault", "times", "warning"),
    [
        ("not_found_deleted", 2, "stepping over the page"),
        ("empty_has_more", 1, "has_more with an empty page"),
    ],
    ids=["deleted-twice", "empty-has-more"],
)
def test_an_activities_page_not_read_is_read_by_the_next_run(
    emulator_factory, tmp_path, fault, times, warning
):
    emu = emulator_factory(size="empty", now=recent_now())
    oldest = emu.now - timedelta(days=6)
    for n in range(COUNT):
        moment = iso(oldest + timedelta(minutes=30 * n))
        emu.add(
            "activity", {"id": f"acti_{n:03d}", "_type": "Note", "date_created": moment}
        )
    # The window's second page fails the way Close's pages can lie.
    emu.add_fault("/api/v1/activity/", kind=fault, on_request=2, times=times)

    first, second = two_runs(emu, tmp_path, "activities")

    assert warning in first.stderr
    assert len(first.ids("activities")) < COUNT
    lost = (
        activity_ids(range(COUNT)) - first.ids("activities") - second.ids("activities")
    )
    assert sorted(lost) == [], f"{len(lost)} lost for good"


@pytest.mark.parametrize(
    ("fault", "times", "nth", "warning"),
    [
        ("empty_has_more", 1, 2, "has_more with an empty page"),
        ("not_found_deleted", 2, 2, "stepping over the page"),
        ("not_found_deleted", 2, 3, "stepping over the page"),
    ],
    ids=["empty-has-more", "deleted-twice-page-2", "deleted-twice-last-page"],
)
def test_tasks_left_unread_by_a_lying_page_are_read_by_the_next_run(
    emulator_factory, tmp_path, fault, times, nth, warning
):
    emu = emulator_factory(size="empty", now=recent_now())
    base = emu.now - timedelta(days=5)
    for n in range(COUNT):
        # The oldest tasks were updated last (a bulk edit of old tasks).
        created = iso(base + timedelta(minutes=n))
        updated = iso(base + timedelta(days=1, minutes=COUNT - n))
        emu.add(
            "task",
            {
                "id": f"task_{n:03d}",
                "_type": "lead",
                "date_created": created,
                "date_updated": updated,
            },
        )
    emu.add_fault("/api/v1/task/", kind=fault, on_request=nth, times=times)

    first, second = two_runs(emu, tmp_path, "tasks")

    assert warning in first.stderr
    lost = {f"task_{n:03d}" for n in range(COUNT)} - first.ids("tasks")
    lost -= second.ids("tasks")
    assert sorted(lost) == [], f"{len(lost)} lost for good"


def test_events_left_unread_by_an_empty_page_are_read_by_the_next_run(
    emulator_factory, tmp_path
):
    size = {"users": 2, "leads": 40, "activities": 60, "tasks": 30, "events": 250}
    emu = emulator_factory(seed=8, size=size, now=recent_now())
    emu.add_fault("/api/v1/event/", kind="empty_has_more", on_request=2, times=1)

    first, second = two_runs(emu, tmp_path, "event_log")

    assert len(first.ids("event_log")) == 50
    start = emu.now - timedelta(days=10)  # two_runs' start_date
    wanted = {rid for rid, _ in expected_versions(emu, "event_log", start)}
    assert len(wanted) > 100
    lost = wanted - first.ids("event_log") - second.ids("event_log")
    assert sorted(lost) == [], f"{len(lost)} of {len(wanted)} lost for good"
