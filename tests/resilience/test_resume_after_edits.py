"""Crash, then Close changes, then resume: a run killed while paging a
crowded minute of leads saves an offset into that minute; leads of that
minute edited or deleted before the next run must not hide the others."""

import signal
from datetime import timedelta

import pytest
from resilience_support import (
    recent_now,
    run_tap,
    stamp_now,
    sync_args,
    versions,
    write_json,
)

from tap_closeio.timeutil import parse_datetime

COUNT = 1500  # fifteen pages; the leads reader saves an offset every ten


@pytest.fixture
def bulk_edited_leads(emulator_factory):
    """1500 leads updated within one minute (a bulk edit in Close)."""
    emu = emulator_factory(size="empty", now=recent_now(), latency=0.01)
    minute = (emu.now - timedelta(days=2)).replace(second=0)
    for n in range(COUNT):
        moment = (minute + timedelta(milliseconds=30 * n)).isoformat()
        emu.add(
            "lead",
            {"id": f"lead_{n:04d}", "date_created": moment, "date_updated": moment},
        )
    return emu


def leads_only(tmp_path) -> list[str]:
    entry = {
        "tap_stream_id": "leads",
        "stream": "leads",
        "schema": {"type": "object", "properties": {}},
        "key_properties": ["id"],
        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
    }
    return ["--catalog", write_json(tmp_path / "catalog.json", {"streams": [entry]})]


def saved_an_offset(index: int, message: dict) -> bool:
    if message["type"] != "STATE":
        return False
    return "offset" in message["value"]["bookmarks"].get("leads", {})


def kill_at_the_offset(emu, tmp_path, config):
    first = run_tap(
        sync_args(tmp_path, config) + leads_only(tmp_path),
        tmp_path,
        kill_when=saved_an_offset,
    )
    assert first.returncode == -signal.SIGKILL
    offset = first.last_state()["bookmarks"]["leads"]["offset"]
    assert offset["skip"] > 900  # ten pages into the minute
    return first


@pytest.mark.parametrize("edited", [3, 12], ids=["3", "12"])
@pytest.mark.parametrize("change", ["update", "delete"])
def test_leads_changed_between_a_crash_and_the_resume_hide_no_other_lead(
    bulk_edited_leads, tmp_path, change, edited
):
    emu = bulk_edited_leads
    config = {
        "api_key": emu.api_key,
        "start_date": (emu.now - timedelta(days=10)).isoformat(),
        "base_url": emu.base_url,
    }
    first = kill_at_the_offset(emu, tmp_path, config)

    # Between the runs, leads from the start of the minute change: the rest
    # of the minute moves up by as many places.
    stamp_now(emu)
    for n in range(edited):
        if change == "update":
            emu.update("lead", f"lead_{n:04d}", description="bulk edited again")
        else:
            emu.delete("lead", f"lead_{n:04d}")
    second = run_tap(
        sync_args(tmp_path, config, first.last_state()) + leads_only(tmp_path),
        tmp_path,
    )

    assert second.returncode == 0, second.stderr[-2000:]
    delivered = versions(first.records("leads", committed_only=True))
    delivered |= versions(second.records("leads"))
    wanted = {
        (lead["id"], parse_datetime(lead["date_updated"]))
        for lead in emu.objects("lead")
    }
    missing = sorted(rid for rid, _ in wanted - delivered)
    assert missing == [], f"{len(missing)} missing: {missing}"
