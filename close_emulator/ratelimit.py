"""Request budgets per endpoint group, and the four ways Close has told
clients about them (close-api.md section 3)."""

import math
import threading
import time
from collections.abc import Callable

STYLES = ("ratelimit", "x-rate-limit", "body", "none")


class RateLimiter:
    """A fixed window of `period` seconds per group, `limit` requests in it."""

    def __init__(
        self,
        limit: int,
        period: float,
        style: str = "ratelimit",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"unknown rate_limit_style {style!r}: one of {STYLES}")
        self.limit, self.period, self.style = limit, period, style
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, list[float]] = {}

    def take(self, group: str) -> tuple[bool, int, float]:
        """Spend one request of `group`: (allowed, remaining, reset seconds)."""
        with self._lock:
            now = self.monotonic()
            window = self._windows.get(group)
            if window is None or now - window[0] >= self.period:
                window = self._windows[group] = [now, 0]
            reset = window[0] + self.period - now
            if window[1] >= self.limit:
                return False, 0, reset
            window[1] += 1
            return True, self.limit - window[1], reset

    def headers(self, remaining: int, reset: float, limited: bool) -> dict:
        if self.style == "ratelimit":
            value = f"limit={self.limit}, remaining={remaining}, reset={_num(reset)}"
            headers = {"RateLimit": value}
            if limited:
                headers["Retry-After"] = str(max(1, math.ceil(reset)))
            return headers
        if self.style == "x-rate-limit":
            return {
                "X-Rate-Limit-Limit": str(self.limit),
                "X-Rate-Limit-Remaining": str(remaining),
                "X-Rate-Limit-Reset": _num(reset),
            }
        return {}

    def body(self, reset: float) -> dict:
        if self.style == "body":
            return {
                "error": {
                    "rate_reset": round(reset, 6),
                    "message": "API call count exceeded for this period",
                    "rate_limit": self.limit,
                    "rate_window": self.period,
                }
            }
        return {"error": "API call count exceeded for this period"}


def _num(seconds: float) -> str:
    """A decimal number of seconds as Close writes it: 0.734, 1, 12.5."""
    text = f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".")
    return text or "0"
