"""Pure parts of paging: filter format, skip-cap narrowing, activity windows,
the window pool's gate."""

import logging
import queue
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from tap_closeio import paging
from tap_closeio.config import Config
from tap_closeio.errors import SkipCapExhaustedError
from tap_closeio.paging import (
    PageAhead,
    Window,
    _Gate,
    _narrow,
    _Query,
    _Seen,
    _split_rest,
    _WindowPool,
    format_filter,
)
from tap_closeio.streams import STREAMS_BY_NAME, ReadContext, activity_windows

UTC = timezone.utc


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 4, 1, hour, minute, second, micro, tzinfo=UTC)


def seen_of(*moments: datetime) -> _Seen:
    seen = _Seen()
    for number, moment in enumerate(moments):
        seen.observe({"id": f"acti_{number}"}, moment)
    return seen


def test_filter_values_are_utc_with_microseconds_and_offset():
    assert format_filter(at(10, 0, 5, 7)) == "2024-04-01T10:00:05.000007+00:00"


def test_newest_first_narrows_the_upper_bound_to_the_oldest_second_seen():
    query = _Query(at(0), at(23))
    seen = seen_of(at(9), at(8, 30, 1, 500), at(8, 30, 1, 200))

    assert _narrow(query, seen, "t") == [
        _Query(at(0), at(8, 30, 2), frozenset({"acti_1", "acti_2"}))
    ]


def test_oldest_first_narrows_the_lower_bound_to_the_newest_second_seen():
    query = _Query(at(0), None)
    seen = seen_of(at(1), at(2), at(3, 0, 0, 10))

    assert _narrow(query, seen, "t") == [_Query(at(3), None, frozenset({"acti_2"}))]


def test_unordered_results_split_the_window_in_two():
    query = _Query(at(0), at(10))
    seen = seen_of(at(3), at(1), at(7))

    assert _narrow(query, seen, "t") == [_Query(at(5), at(10)), _Query(at(0), at(5))]


def test_one_crowded_second_cannot_be_narrowed():
    query = _Query(at(0), at(8, 0, 1))
    seen = seen_of(at(8), at(8), at(8))

    with pytest.raises(SkipCapExhaustedError, match="within one second"):
        _narrow(query, seen, "t")


def context(start_date, bookmark, started, window_days=1, lookback=3600):
    config = Config(
        api_key="k",
        start_date=start_date,
        date_window_days=window_days,
        activities_window_seconds=lookback,
    )
    return ReadContext(
        client=None,
        config=config,
        stream=STREAMS_BY_NAME["activities"],
        start=max(start_date, bookmark or start_date),
        state_bookmark=bookmark,
        sync_started_at=started,
        page_size=100,
        saved_offset=lambda fingerprint: (0, []),
    )


def test_windows_run_from_start_date_to_an_open_last_window():
    ctx = context(at(0), None, at(0) + timedelta(days=2, hours=5))
    day = timedelta(days=1)

    assert activity_windows(ctx) == [
        Window(at(0), at(0) + day),
        Window(at(0) + day, at(0) + 2 * day),
        Window(at(0) + 2 * day, None),
    ]


def test_windows_start_the_look_back_before_the_bookmark_never_before_start_date():
    started = at(0) + timedelta(days=3)
    bookmark = at(0) + timedelta(days=2, hours=12, microseconds=700)

    assert activity_windows(context(at(0), bookmark, started))[0].start == (
        at(0) + timedelta(days=2, hours=11)
    )
    assert activity_windows(context(at(0), at(0, 30), started))[0].start == at(0)


def test_start_date_after_the_sync_start_gives_one_open_window():
    assert activity_windows(context(at(12), None, at(11))) == [Window(at(12), None)]


def test_rest_of_a_newest_first_window_is_split_by_the_first_page_span():
    query = _Query(at(0), at(0) + timedelta(hours=24))
    seen = seen_of(at(23), at(22), at(21))

    # Three records over two hours: about ten pages in the 21 hours left,
    # two parts of about six pages.
    assert _split_rest(query, seen, most=12) == [
        _Query(at(0), at(10, 30), frozenset({"acti_2"})),
        _Query(at(10, 30), at(21, 0, 1), frozenset({"acti_2"})),
    ]


def test_rest_of_an_oldest_first_window_is_split_up_to_the_most_parts():
    query = _Query(at(0), at(0) + timedelta(hours=24))
    seen = seen_of(at(0), at(0, 30), at(1))

    parts = _split_rest(query, seen, most=4)
    assert parts == [
        _Query(at(1), at(6, 45), frozenset({"acti_2"})),
        _Query(at(6, 45), at(12, 30), frozenset({"acti_2"})),
        _Query(at(12, 30), at(18, 15), frozenset({"acti_2"})),
        _Query(at(18, 15), at(0) + timedelta(hours=24), frozenset({"acti_2"})),
    ]


def test_no_split_without_a_known_order_or_an_upper_bound():
    window = _Query(at(0), at(10))
    assert _split_rest(window, seen_of(at(3), at(1), at(7)), most=4) == []
    assert _split_rest(window, seen_of(at(3), at(3)), most=4) == []
    assert _split_rest(_Query(at(0), None), seen_of(at(1), at(2)), most=4) == []


class Meter:
    """Stands in for the wall clock and the process's CPU clock."""

    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0

    def spend(self, seconds: float, cpu_share: float) -> None:
        self.wall += seconds
        self.cpu += seconds * cpu_share


def gate_with(most: int) -> tuple[_Gate, Meter]:
    meter = Meter()
    return _Gate(most, clock=lambda: meter.wall, cpu=lambda: meter.cpu), meter


def pass_through(gate: _Gate) -> None:
    with gate:
        pass


def test_gate_reads_with_every_worker_while_the_tap_waits_on_close():
    gate, meter = gate_with(6)

    for _ in range(5):
        meter.spend(0.3, cpu_share=0.1)
        pass_through(gate)

    assert gate.limit == 6


def test_gate_halves_the_readers_per_busy_sample_down_to_one():
    gate, meter = gate_with(6)
    limits = []

    for _ in range(4):
        meter.spend(0.3, cpu_share=0.95)
        pass_through(gate)
        limits.append(gate.limit)

    assert limits == [3, 1, 1, 1]


def test_gate_opens_again_one_at_a_time_when_the_cpu_goes_idle():
    gate, meter = gate_with(3)
    meter.spend(0.3, cpu_share=1.0)
    pass_through(gate)
    assert gate.limit == 1
    limits = []

    for _ in range(3):
        meter.spend(0.3, cpu_share=0.2)
        pass_through(gate)
        limits.append(gate.limit)

    assert limits == [2, 3, 3]


def test_gate_holds_between_the_two_shares_and_within_a_sample():
    gate, meter = gate_with(4)
    meter.spend(0.3, cpu_share=0.9)
    pass_through(gate)

    meter.spend(0.3, cpu_share=0.7)  # between idle and busy: no change
    pass_through(gate)
    meter.spend(0.1, cpu_share=0.0)  # too short a sample to judge
    pass_through(gate)

    assert gate.limit == 2


def test_gate_makes_a_worker_wait_until_a_reader_leaves():
    gate, meter = gate_with(2)
    meter.spend(0.3, cpu_share=1.0)
    pass_through(gate)
    assert gate.limit == 1
    entered = threading.Event()

    def second_reader() -> None:
        with gate:
            entered.set()

    with gate:
        waiter = threading.Thread(target=second_reader)
        waiter.start()
        assert not entered.wait(0.2)
        assert gate.active == 1
    waiter.join(5)

    assert entered.is_set()
    assert gate.active == 0


def test_a_worker_that_fails_between_tasks_hands_its_error_to_the_caller():
    pool = _WindowPool(None, "activity/", "date_created", 100, "activities", 2)

    def broken() -> None:
        raise RuntimeError("between two tasks")

    pool._next_task = broken
    pool.start([])
    try:
        kind, window, error = pool.results.get(timeout=5)
    finally:
        pool.stop()

    assert (kind, window, str(error)) == ("error", None, "between two tasks")
    assert all(not thread.is_alive() for thread in pool.threads)


def test_idle_workers_are_spare_only_as_far_as_the_gate_lets_them_read():
    pool = _WindowPool(None, "activity/", "date_created", 100, "activities", 6)
    pool.idle = 3
    pool.gate.active = 2
    assert pool._spare() == 3

    pool.gate.limit = 3  # the process's CPU is busy: the gate let in fewer
    assert pool._spare() == 1
    pool.gate.limit = 2
    assert pool._spare() == 0
    pool.gate.limit = 1  # halved below the readers still inside
    assert pool._spare() == 0


def test_a_rest_already_read_in_several_pages_is_sized_by_their_span():
    query = _Query(at(0), at(0) + timedelta(hours=24))
    # Three pages read down to 20:00: an hour a page, 20 hours left, parts
    # of two pages: as many as asked for, three.
    seen = seen_of(at(23), at(22), at(21), at(20))

    assert _split_rest(query, seen, 3, pages_per_part=2, pages_read=3) == [
        _Query(at(0), at(6, 40), frozenset({"acti_3"})),
        _Query(at(6, 40), at(13, 20), frozenset({"acti_3"})),
        _Query(at(13, 20), at(20, 0, 1), frozenset({"acti_3"})),
    ]
    # With more parts allowed the density decides: an hour a page gives ten
    # parts of two pages; the same records taken as one page, four.
    assert len(_split_rest(query, seen, 12, pages_per_part=2, pages_read=3)) == 10
    assert len(_split_rest(query, seen, 12, pages_per_part=2, pages_read=1)) == 4


def test_closing_a_pager_waits_for_its_request_made_ahead_only_so_long(
    monkeypatch, caplog
):
    monkeypatch.setattr(paging, "STOP_WAIT", 0.2)
    caplog.set_level(logging.INFO, logger="tap_closeio.paging")
    ahead = PageAhead("leads")
    in_request, release = threading.Event(), threading.Event()

    def a_long_request() -> dict:
        in_request.set()
        release.wait(30)  # a request in an outage: retries, long timeouts
        return {"data": []}

    ahead.start("page 2", a_long_request)
    assert in_request.wait(5)
    began = time.monotonic()
    ahead.close()
    waited = time.monotonic() - began
    worker = next(t for t in threading.enumerate() if t.name == "leads ahead")
    release.set()

    assert 0.15 <= waited < 2.0
    assert "leads: a request made ahead is still waiting on Close" in caplog.text
    worker.join(5)
    assert not worker.is_alive()


def test_closing_a_pager_with_its_request_answered_waits_for_nothing(caplog):
    caplog.set_level(logging.INFO, logger="tap_closeio.paging")
    ahead = PageAhead("tasks")
    ahead.start("page 2", lambda: {"data": [{"id": "task_1"}]})

    assert ahead.take("page 2", lambda: {}) == {"data": [{"id": "task_1"}]}
    ahead.close()
    assert "still waiting" not in caplog.text
    assert not any(t.name == "tasks ahead" for t in threading.enumerate())


def test_stopping_waits_for_a_busy_worker_only_so_long(monkeypatch):
    monkeypatch.setattr(paging, "STOP_WAIT", 0.2)
    pool = _WindowPool(None, "activity/", "date_created", 100, "activities", 2)
    in_request, release = threading.Event(), threading.Event()

    def a_long_request() -> None:
        in_request.set()
        release.wait(30)  # a request in an outage: retries, long timeouts
        raise queue.Empty

    pool._next_task = a_long_request
    pool.start([])
    assert in_request.wait(5)
    began = time.monotonic()
    pool.stop()
    waited = time.monotonic() - began
    release.set()

    assert 0.15 <= waited < 2.0
    for thread in pool.threads:
        thread.join(5)
        assert not thread.is_alive()
