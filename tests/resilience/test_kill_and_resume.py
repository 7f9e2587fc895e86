"""The installed tap-closeio command SIGKILLed at many points (mid-page,
mid-window, between streams, right after a STATE), then run again from the
last STATE it wrote: every record Close holds arrives, nothing is lost."""

import signal
from datetime import timedelta

import pytest
from resilience_support import (
    STREAMS,
    expected_versions,
    recent_now,
    run_tap,
    sync_args,
    versions,
)

from close_emulator import Emulator

# Windows of three days over ninety: about thirty activities windows, several
# in flight at concurrency 4; a little latency keeps the tap from running far
# ahead of the reader, so a kill lands where it is aimed.
LATENCY = 0.01
LINE_FRACTIONS = (0.02, 0.3, 0.6, 0.95)
# Three pages of leads, two of tasks, twelve of events.
SIZE = {"users": 4, "leads": 220, "activities": 500, "tasks": 150, "events": 600}
KILL_POINTS = (
    [("line", fraction) for fraction in LINE_FRACTIONS]
    + [("announced", stream) for stream in STREAMS]
    + [("first_record", stream) for stream in ("leads", "activities", "event_log")]
    + [("nth_state_in", "activities", n) for n in (3, 15)]
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One emulator per module (these runs only read) and a clean run of
    each concurrency to aim the kills and compare final states with."""
    now = recent_now()
    emu = Emulator(seed=11, size=SIZE, now=now, latency=LATENCY).start()
    start = now - timedelta(days=90)
    clean = {}
    for concurrency in (1, 4):
        tmp = tmp_path_factory.mktemp(f"clean{concurrency}")
        run = run_tap(sync_args(tmp, config_of(emu, start, concurrency)), tmp)
        assert run.returncode == 0, run.stderr[-2000:]
        clean[concurrency] = run
    yield emu, start, clean
    emu.stop()


def config_of(emu, start, concurrency: int) -> dict:
    return {
        "api_key": emu.api_key,
        "start_date": start.isoformat(),
        "base_url": emu.base_url,
        "date_window": "3",
        "concurrency": concurrency,
    }


def kill_predicate(point: tuple, clean_messages: list[dict]):
    """A KillWhen for one named kill point; it tracks the stream being
    synced from the STATEs read so far."""
    kind = point[0]
    if kind == "line":
        target = int(len(clean_messages) * point[1])
        return lambda index, message: index >= target

    seen = {"stream": None, "states": 0, "records": 0}

    def when(index: int, message: dict) -> bool:
        if message["type"] == "STATE":
            stream = message["value"].get("currently_syncing")
            if stream != seen["stream"]:
                seen.update(stream=stream, states=0, records=0)
                if kind == "announced" and stream == point[1]:
                    return True  # between streams: before its SCHEMA
                return False
            seen["states"] += 1
            return kind == "nth_state_in" and (stream, seen["states"]) == point[1:]
        if message["type"] == "RECORD" and message["stream"] == seen["stream"]:
            seen["records"] += 1
            return kind == "first_record" and seen["stream"] == point[1]
        return False

    return when


def point_id(point: tuple) -> str:
    return "-".join(str(part) for part in point)


@pytest.mark.parametrize("point", KILL_POINTS, ids=point_id)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_sigkill_then_resume_from_the_last_state_loses_nothing(
    world, tmp_path, concurrency, point
):
    emu, start, clean = world
    config = config_of(emu, start, concurrency)
    when = kill_predicate(point, clean[concurrency].messages)

    first = run_tap(sync_args(tmp_path, config), tmp_path, kill_when=when)
    assert first.returncode == -signal.SIGKILL, "the kill point was never reached"

    second = run_tap(sync_args(tmp_path, config, first.last_state()), tmp_path)

    assert second.returncode == 0, second.stderr[-2000:]
    final = second.last_state()
    assert final["currently_syncing"] is None
    # Same data, so the same bookmarks as a clean run (offsets cleared).
    assert final == clean[concurrency].last_state()
    for stream in STREAMS:
        delivered = versions(first.records(stream, committed_only=True))
        delivered |= versions(second.records(stream))
        missing = expected_versions(emu, stream, start) - delivered
        assert not missing, (stream, sorted(missing)[:5], len(missing))


def test_the_check_catches_a_resume_state_that_runs_ahead(world, tmp_path):
    # The loss check above must be able to fail: resuming a run killed in
    # activities from the clean run's final state skips what was left.
    emu, start, clean = world
    config = config_of(emu, start, 1)
    when = kill_predicate(("first_record", "activities"), clean[1].messages)
    first = run_tap(sync_args(tmp_path, config), tmp_path, kill_when=when)

    second = run_tap(sync_args(tmp_path, config, clean[1].last_state()), tmp_path)

    assert second.returncode == 0
    delivered = versions(first.records("activities", committed_only=True))
    delivered |= versions(second.records("activities"))
    assert len(expected_versions(emu, "activities", start) - delivered) > 100


@pytest.mark.parametrize("concurrency", [1, 4])
def test_killed_again_and_again_each_run_from_the_last_state_loses_nothing(
    world, tmp_path, concurrency
):
    # Every run dies once it has written half of a clean run's lines;
    # each next one starts from the last STATE the chain wrote, until one
    # finishes (streams already done are incremental, so runs get shorter).
    # NB: with a third, no run finishes: event_log saves state only at the
    # end of its walk, which is longer than a third of the lines.
    emu, start, clean = world
    config = config_of(emu, start, concurrency)
    lines = len(clean[concurrency].messages) // 2
    runs, state = [], None
    while len(runs) < 10:
        args = sync_args(tmp_path, config, state)
        run = run_tap(args, tmp_path, kill_when=lambda index, _: index >= lines)
        runs.append(run)
        state = run.last_state() or state
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL

    assert runs[-1].returncode == 0 and len(runs) >= 3
    assert runs[-1].last_state() == clean[concurrency].last_state()
    for stream in STREAMS:
        delivered = set()
        for run in runs:
            delivered |= versions(run.records(stream, committed_only=True))
        missing = expected_versions(emu, stream, start) - delivered
        assert not missing, (stream, sorted(missing)[:5], len(missing))
