"""A sync through a Close that fails every few requests (5xx, dropped
connections, truncated bodies, answers slower than request_timeout) under a
tight rate limit emits exactly what a clean sync emits, and exits 0."""

from collections import Counter
from datetime import timedelta

from resilience_support import (
    STREAMS,
    FakeClock,
    recent_now,
    run_tap,
    sync_args,
    sync_in_process,
)

from tap_closeio.config import Config
from tap_closeio.timeutil import parse_datetime

NOW = "2024-05-01T12:00:00+00:00"

# Small enough that the real backoff waits (1 s, then 2 s) of a subprocess
# keep the run well under a minute.
SIZE = {"users": 4, "leads": 220, "activities": 500, "tasks": 150, "events": 300}


def emitted(run) -> dict[str, list[str]]:
    return {stream: sorted(r["id"] for r in run.records(stream)) for stream in STREAMS}


def storm(emu, periods: tuple[int, ...], delay: float) -> None:
    """Faults of every retryable kind, each on every n-th request: 503, a
    dropped connection, a truncated body, 502, an answer `delay` seconds
    late, 500."""
    p503, pdrop, ptrunc, p502, pdelay, p500 = periods
    emu.add_fault(kind="status", status=503, every=p503, times=None)
    emu.add_fault(kind="drop", every=pdrop, times=None)
    emu.add_fault(kind="truncate", every=ptrunc, times=None)
    emu.add_fault(kind="status", status=502, every=p502, times=None)
    emu.add_fault(kind="delay", seconds=delay, every=pdelay, times=None)
    emu.add_fault(kind="status", status=500, every=p500, times=None)


def test_a_fault_storm_under_a_tight_rate_limit_emits_what_a_clean_sync_does(
    emulator_factory, tmp_path
):
    now = recent_now()
    emu = emulator_factory(seed=3, size=SIZE, now=now, rate_limit=(10, 1.0))
    config = {
        "api_key": emu.api_key,
        "start_date": (now - timedelta(days=90)).isoformat(),
        "base_url": emu.base_url,
        "date_window": "6",
        # NB: one request at a time makes the storm deterministic: a third of
        # requests fail, and at concurrency 4 the interleaving now and then
        # lines up six failures for one request, the retry policy's bound.
        "concurrency": 1,
        "request_timeout": 1.0,
    }
    clean = run_tap(sync_args(tmp_path, config), tmp_path)
    assert clean.returncode == 0, clean.stderr[-2000:]
    emu.clear_requests()

    storm(emu, (7, 11, 13, 17, 19, 23), delay=2.0)
    faulty = run_tap(sync_args(tmp_path, config), tmp_path, timeout=100)

    assert faulty.returncode == 0, faulty.stderr[-3000:]
    statuses = Counter(r.status for r in emu.requests)
    assert statuses[0] > 3 and statuses[503] > 5 and statuses[502] > 2, statuses
    assert [f["fired"] > 0 for f in emu.faults.describe()] == [True] * 6
    assert emitted(faulty) == emitted(clean)
    assert all(emitted(clean)[s] for s in STREAMS if s != "custom_fields")
    assert faulty.last_state() == clean.last_state()
    assert not faulty.stderr_lines("CRITICAL")
    assert faulty.stderr_lines("INFO Waiting"), "no retry or rate-limit wait logged"


def test_the_demo_dataset_through_a_fault_storm_and_a_rate_limit(emulator_factory):
    # In process, so the waits go to a fake clock that the emulator's rate
    # limiter shares: the demo dataset's 550 requests and every backoff and
    # rate-limit wait cost no wall time (only the delays past the timeout).
    clock = FakeClock()
    emu = emulator_factory(
        seed=1, size="demo", now=NOW, rate_limit=(10, 1.0), rate_clock=clock.monotonic
    )
    config = Config(
        api_key=emu.api_key,
        start_date=parse_datetime("2023-05-01T00:00:00Z"),
        base_url=emu.base_url,
        date_window_days=7,
        request_timeout=1.0,
    )
    clean = sync_in_process(config, started=emu.now, clock=clock)
    assert clean.error is None
    emu.clear_requests()
    clock.sleeps.clear()

    # About one request in eight fails, four in flight at once: sparse
    # enough that six failures in a row for one request stay unlikely.
    storm(emu, (29, 37, 41, 47, 97, 53), delay=1.5)
    faulty = sync_in_process(config, started=emu.now, clock=clock)

    assert faulty.error is None, repr(faulty.error)
    statuses = Counter(r.status for r in emu.requests)
    assert min(statuses[s] for s in (0, 500, 502, 503)) > 5, statuses
    assert sum(statuses[s] for s in (0, 500, 502, 503)) > 40, statuses
    assert emitted(faulty) == emitted(clean)
    assert faulty.state == clean.state
    # 10 requests a second: the 400 event pages alone take 40 s of waiting.
    assert sum(clock.sleeps) > 40
