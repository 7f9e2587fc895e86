"""A sync through a Close that fails every few requests emits exactly what a
clean sync emits, in every stream."""

import pytest
from sync_harness import ALL_STREAMS, make_config, sync

NOW = "2024-05-01T12:00:00+00:00"


def emitted(result) -> dict[str, list]:
    return {stream: sorted(result.ids(stream)) for stream in ALL_STREAMS}


def test_faults_every_few_requests_change_nothing_in_the_output(emulator_factory):
    emu = emulator_factory(size="small", now=NOW)
    # NB: one worker keeps the request order, so which request meets which
    # fault is the same on every run.
    config = make_config(
        emu, "2024-01-01T00:00:00Z", concurrency=1, request_timeout=0.5
    )
    clean = sync(emu, config=config)

    emu.add_fault(kind="status", status=503, every=5, times=None)
    emu.add_fault(kind="truncate", every=7, times=None)
    emu.add_fault(kind="drop", every=11, times=None)
    emu.add_fault(kind="status", status=502, every=13, times=None)
    faulty = sync(emu, config=config)

    assert sum(r.status != 200 for r in faulty.requests) > 10
    assert emitted(faulty) == emitted(clean)
    assert faulty.state == clean.state


@pytest.mark.parametrize("concurrency", [2, 4])
def test_sparse_faults_with_windows_in_flight_change_nothing(
    emulator_factory, concurrency
):
    emu = emulator_factory(size="small", now=NOW)
    config = make_config(emu, "2024-01-01T00:00:00Z", concurrency=concurrency)
    clean = sync(emu, config=config)

    emu.add_fault(kind="status", status=503, every=10, times=None)
    emu.add_fault(kind="truncate", every=17, times=None)
    faulty = sync(emu, config=config)

    assert sum(r.status != 200 for r in faulty.requests) > 5
    assert emitted(faulty) == emitted(clean)
    assert faulty.state == clean.state
