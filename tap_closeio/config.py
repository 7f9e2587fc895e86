"""The tap's settings: read once at start-up, validated, then passed around as
one typed, immutable `Config`.

TODO(client/cli helper): implement `load_config` (file + TAP_CLOSEIO_* env).
"""

from dataclasses import dataclass
from datetime import datetime

DEFAULT_BASE_URL = "https://api.close.com/api/v1/"
DEFAULT_DATE_WINDOW_DAYS = 15
DEFAULT_ACTIVITIES_WINDOW_SECONDS = 86400
DEFAULT_CONCURRENCY = 4
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Config:
    """Validated settings. Field names are the tap's; config keys in brackets."""

    api_key: str  # [api_key] HTTP Basic user name; never logged
    start_date: datetime  # [start_date] aware, UTC
    date_window_days: int = DEFAULT_DATE_WINDOW_DAYS  # [date_window]
    activities_window_seconds: int = DEFAULT_ACTIVITIES_WINDOW_SECONDS
    user_agent: str | None = None  # [user_agent]
    base_url: str = DEFAULT_BASE_URL  # [base_url], always ends with "/"
    concurrency: int = DEFAULT_CONCURRENCY  # [concurrency] requests in flight
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS  # [request_timeout]

    def __repr__(self) -> str:
        # NB: keeps the key out of tracebacks and debug logs.
        return (
            f"Config(api_key='***', start_date={self.start_date.isoformat()}, "
            f"base_url={self.base_url!r}, date_window_days={self.date_window_days},"
            f" activities_window_seconds={self.activities_window_seconds},"
            f" concurrency={self.concurrency})"
        )
