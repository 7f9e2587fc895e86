"""Spacing one endpoint group's requests so that a full budget is spent
evenly instead of in bursts.

Close counts requests per endpoint group in windows of a few seconds and
answers each with `RateLimit: limit=L, remaining=R, reset=S`. A client that
sends until the budget is nearly spent and then waits out `reset` loses the
time its next requests spend on the way to Close after every window: with
300 ms a request and 20 a second that was 0.3 s of every 1.3 s (bench,
latency-bound run). A client whose sends never put more than L in any span
of one window's length is never refused, whenever Close starts its windows
and however long a request takes to reach it, as long as that time does not
vary by more than the margin below.
"""

from collections import deque

# Slack added to the window's length, as a share of it, and at least this
# many seconds: the variation in how long a request takes to be counted
# that the spacing tolerates without a 429.
MARGIN_SHARE = 0.05
MARGIN_FLOOR = 0.05

# Sends remembered while the window's length is not yet known: enough for
# any budget Close has documented (600 in 15 s).
REMEMBERED = 4096


class Pacer:
    """Send times of one endpoint group and the budget they must fit in.
    Not thread-safe: the client calls it under its own lock."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.period = 0.0  # the window's length; 0 while unknown
        self._sent: deque[float] = deque(maxlen=REMEMBERED)

    @property
    def known(self) -> bool:
        """True once an answer has shown the budget's size and window."""
        return self.limit is not None and self.period > 0

    def learn(self, limit: int | None, remaining: int | None, reset: float | None):
        """Take what one answer said about the budget."""
        if limit is None or remaining is None or reset is None or limit < 1:
            return
        if limit != self.limit:
            # Close reports whichever budget is nearest to being hit (the
            # key's or the organisation's): another one now, so its window
            # is unknown until one of its windows is seen from the start.
            self.limit, self.period = limit, 0.0

        # The first answer of a window (all but this request left) says how
        # long the window lasts; later ones say less.
        if remaining == limit - 1 and reset > self.period:
            self.period = reset

    def wait(self, now: float) -> float:
        """Seconds before the next request may be sent; 0 means now."""
        if not self.known:
            return 0.0
        span = self.span
        sent = self._sent
        while sent and sent[0] <= now - span:
            sent.popleft()
        if len(sent) < self.limit:
            return 0.0
        return sent[-self.limit] + span - now

    def sent(self, now: float) -> None:
        self._sent.append(now)

    @property
    def span(self) -> float:
        """The window's length and the margin: no span this long holds more
        than `limit` sends."""
        return self.period + max(MARGIN_FLOOR, self.period * MARGIN_SHARE)
