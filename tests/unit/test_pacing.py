"""The pacer: what it learns from Close's RateLimit answers and how long it
makes the next request wait."""

import pytest

from tap_closeio.pacing import Pacer


def pacer_of(limit: int, period: float) -> Pacer:
    pacer = Pacer()
    pacer.learn(limit, limit - 1, period)
    return pacer


def test_nothing_waits_until_a_windows_first_answer_is_seen():
    pacer = Pacer()
    for now in (0.0, 0.0, 0.0, 0.0):
        assert pacer.wait(now) == 0.0
        pacer.sent(now)

    # Later answers of a window name only what is left of it.
    pacer.learn(limit=3, remaining=1, reset=0.6)
    assert not pacer.known
    assert pacer.wait(0.1) == 0.0


def test_a_windows_first_answer_gives_the_budget_and_its_length():
    pacer = Pacer()
    pacer.learn(limit=20, remaining=19, reset=1.0)

    assert pacer.known
    assert (pacer.limit, pacer.period) == (20, 1.0)
    assert pacer.span == pytest.approx(1.05)  # the 0.05 s floor of the margin


def test_the_margin_is_a_share_of_a_long_window():
    assert pacer_of(600, 15.0).span == pytest.approx(15.75)


def test_the_longest_first_answer_is_the_windows_length():
    pacer = pacer_of(20, 0.98)
    pacer.learn(limit=20, remaining=19, reset=1.0)
    pacer.learn(limit=20, remaining=19, reset=0.99)

    assert pacer.period == 1.0


def test_no_span_of_the_windows_length_holds_more_than_the_limit():
    pacer = pacer_of(3, 1.0)  # span 1.05
    for now in (0.0, 0.1, 0.2):
        assert pacer.wait(now) == 0.0
        pacer.sent(now)

    assert pacer.wait(0.3) == pytest.approx(0.75)  # until 0.0 leaves the span
    pacer.sent(1.05)
    assert pacer.wait(1.05) == pytest.approx(0.1)  # until 0.1 leaves it
    assert pacer.wait(1.15) == pytest.approx(0.0, abs=1e-9)
    pacer.sent(1.15)
    assert pacer.wait(1.2) == pytest.approx(0.05)


def test_sends_before_the_window_was_known_count():
    pacer = Pacer()
    for now in (0.0, 0.0, 0.0, 0.0):
        pacer.sent(now)
    pacer.learn(limit=4, remaining=3, reset=2.0)

    assert pacer.wait(0.5) == pytest.approx(1.6)


def test_another_budget_is_learnt_afresh():
    pacer = pacer_of(20, 1.0)

    # Close names the budget nearest to being hit: now the organisation's.
    pacer.learn(limit=60, remaining=30, reset=0.4)
    assert not pacer.known
    assert pacer.wait(0.0) == 0.0

    pacer.learn(limit=60, remaining=59, reset=1.0)
    assert (pacer.limit, pacer.period) == (60, 1.0)


@pytest.mark.parametrize(
    "limit, remaining, reset",
    [(None, 19, 1.0), (20, None, 1.0), (20, 19, None), (0, 0, 1.0)],
)
def test_an_answer_that_names_no_budget_changes_nothing(limit, remaining, reset):
    pacer = pacer_of(20, 1.0)
    pacer.learn(limit, remaining, reset)

    assert (pacer.limit, pacer.period) == (20, 1.0)
