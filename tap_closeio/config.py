"""The tap's settings: read once at start-up, validated, then passed around as
one typed, immutable `Config`.

Values come from the config file and, for keys the file leaves out, from
`TAP_CLOSEIO_<KEY>` environment variables (as SDK-built taps and Meltano do).
"""

import difflib
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

from tap_closeio.errors import ConfigError
from tap_closeio.timeutil import parse_datetime

DEFAULT_BASE_URL = "https://api.close.com/api/v1/"
DEFAULT_DATE_WINDOW_DAYS = 15
DEFAULT_ACTIVITIES_WINDOW_SECONDS = 86400
# NB: at Close's 300 ms or so per request, 6 in flight are 20 requests a
# second, its per-key example limit; the client keeps under whatever limit
# Close reports (bench/RESULTS.md: 4 left the limit a quarter unused).
DEFAULT_CONCURRENCY = 6
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0

# Upper bounds: past them a value is a typo, and a date window or look-back
# of more than a century overflows Python's dates in the middle of a sync.
MAX_WINDOW_DAYS = 36_500
MAX_CONCURRENCY = 64  # Close's budgets are tens of requests a second


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
    output_process: bool = True  # [output_process]

    def __repr__(self) -> str:
        # NB: keeps the key out of tracebacks and debug logs.
        return (
            f"Config(api_key='***', start_date={self.start_date.isoformat()}, "
            f"base_url={self.base_url!r}, date_window_days={self.date_window_days},"
            f" activities_window_seconds={self.activities_window_seconds},"
            f" concurrency={self.concurrency}, output_process={self.output_process})"
        )


LOGGER = logging.getLogger(__name__)
ENV_PREFIX = "TAP_CLOSEIO_"


@dataclass(frozen=True)
class Setting:
    """One config key, as `--about` and Meltano describe it."""

    name: str
    kind: str  # JSON Schema type
    description: str
    required: bool = False
    default: Any = None
    secret: bool = False
    format: str | None = None

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS = (
    Setting(
        "api_key",
        "string",
        "Close API key (Settings > Developer > API Keys); sent as the HTTP "
        "Basic user name with an empty password.",
        required=True,
        secret=True,
    ),
    Setting(
        "start_date",
        "string",
        "ISO 8601 date or date-time; nothing older is synced.",
        required=True,
        format="date-time",
    ),
    Setting(
        "date_window",
        "integer",
        "Size of each activities date window, in days.",
        default=DEFAULT_DATE_WINDOW_DAYS,
    ),
    Setting(
        "activities_window_seconds",
        "integer",
        "Look-back before the activities bookmark, in seconds, so that "
        "recently edited activities are read again.",
        default=DEFAULT_ACTIVITIES_WINDOW_SECONDS,
    ),
    Setting("user_agent", "string", "Sent as the User-Agent header."),
    Setting(
        "base_url",
        "string",
        "Close API root; https only, except on a loopback address.",
        default=DEFAULT_BASE_URL,
    ),
    Setting(
        "concurrency",
        "integer",
        "Most requests in flight at once.",
        default=DEFAULT_CONCURRENCY,
    ),
    Setting(
        "request_timeout",
        "number",
        "Seconds to wait for Close to answer one request.",
        default=DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ),
    Setting(
        "output_process",
        "boolean",
        "Transform and write records in a second process, so that a sync "
        "uses two CPU cores; false keeps everything in one process.",
        default=True,
    ),
)


def load_config(raw: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """Validate the config file's object, filling keys it leaves out from
    `TAP_CLOSEIO_*` variables in `env`. Raises ConfigError naming the key;
    logs a WARNING for each value replaced by its default."""
    if not isinstance(raw, Mapping):
        raise ConfigError("The config must be a JSON object of settings.")

    values = {s.name: _lookup(s, raw, env) for s in SETTINGS}
    _note_unknown_keys(raw)
    return Config(
        api_key=_api_key(values["api_key"]),
        start_date=_start_date(values["start_date"]),
        date_window_days=_window(
            "date_window",
            values["date_window"],
            DEFAULT_DATE_WINDOW_DAYS,
            MAX_WINDOW_DAYS,
        ),
        activities_window_seconds=_window(
            "activities_window_seconds",
            values["activities_window_seconds"],
            DEFAULT_ACTIVITIES_WINDOW_SECONDS,
            MAX_WINDOW_DAYS * 86_400,
        ),
        user_agent=_user_agent(values["user_agent"]),
        base_url=_base_url(values["base_url"]),
        concurrency=_concurrency(values["concurrency"]),
        request_timeout=_request_timeout(values["request_timeout"]),
        output_process=_boolean("output_process", values["output_process"], True),
    )


def _note_unknown_keys(raw: Mapping[str, Any]) -> None:
    """Keys no setting reads are ignored: orchestrators add their own. One
    that looks like a misspelt setting gets a warning, since the setting it
    was meant for silently keeps its default."""
    names = [s.name for s in SETTINGS]
    others = []
    for key in raw:
        if key in names:
            continue
        near = difflib.get_close_matches(str(key), names, n=1, cutoff=0.8)
        if near:
            LOGGER.warning(
                "Config key %r is not a setting of this tap and is ignored; "
                "did you mean %r?",
                key,
                near[0],
            )
        else:
            others.append(repr(key))
    if others:
        LOGGER.info(
            "Config keys this tap does not read (ignored): %s", ", ".join(others)
        )


def _lookup(setting: Setting, raw: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    # The file wins; an empty variable counts as unset (shells and Meltano
    # export blanks for settings nobody filled in).
    if raw.get(setting.name) is not None:
        return raw[setting.name]
    value = env.get(setting.env_var)
    return value if value else None


def _api_key(value: Any) -> str:
    # Never put the value in a message: it may be a real key in a wrong place.
    if value is None:
        raise ConfigError(
            "Config is missing the required key 'api_key' (or set TAP_CLOSEIO_API_KEY)."
        )
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("Config 'api_key' must be a non-empty string.")
    if not _is_printable_ascii(value.strip()):
        raise ConfigError(
            "Config 'api_key' holds characters no Close API key has (only "
            "printable ASCII can be sent): check what was pasted."
        )
    return value.strip()


def _is_printable_ascii(text: str) -> bool:
    # What an HTTP header can carry as it is: no CR/LF to split it.
    return text.isascii() and text.isprintable()


def _start_date(value: Any) -> datetime:
    if value is None:
        raise ConfigError(
            "Config is missing the required key 'start_date' "
            "(or set TAP_CLOSEIO_START_DATE)."
        )
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            pass
    raise ConfigError(
        f"Config 'start_date' {value!r} is not an ISO 8601 date or date-time "
        "within years 1 to 9999 UTC (e.g. 2024-01-01 or 2024-01-01T00:00:00Z)."
    )


def _window(key: str, value: Any, default: int, maximum: int) -> int:
    # Compatibility: Stitch hands every value as a string, and the original
    # tap fell back to its default for 0, "", "0" and non-numbers.
    if value is None:
        return default
    number = _whole_number(value)
    if number is None or number <= 0:
        LOGGER.warning(
            "Config '%s' is %r, not a positive whole number; using the default %d.",
            key,
            value,
            default,
        )
        return default
    if number > maximum:
        raise ConfigError(
            f"Config '{key}' is {value!r}, more than the largest it may be "
            f"({maximum}, a hundred years)."
        )
    return number


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = value.strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not number.is_integer():
        return None
    return int(number)


def _user_agent(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"Config 'user_agent' must be a string, got {value!r}.")
    if not _is_printable_ascii(value):
        raise ConfigError(
            f"Config 'user_agent' must be one line of printable ASCII, got {value!r}."
        )
    return value


def _base_url(value: Any) -> str:
    if value is None or value == "":
        return DEFAULT_BASE_URL
    if not isinstance(value, str):
        raise ConfigError(f"Config 'base_url' must be a string, got {value!r}.")

    url = value.strip()
    if not url.endswith("/"):
        url += "/"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"Config 'base_url' {value!r} is not an http(s) URL.")
    if not _has_valid_port(parts):
        raise ConfigError(
            f"Config 'base_url' {value!r} has a port that is not a number from "
            "0 to 65535."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            f"Config 'base_url' must not carry credentials, a query or a "
            f"fragment: {parts.scheme}://{parts.netloc.rpartition('@')[2]}"
            f"{parts.path}"
        )

    # The key travels in every request's Authorization header: plain http
    # would show it to the network, which is fine only on this machine.
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"Config 'base_url' {value!r} is not https; plain http is allowed "
            "only for a loopback address (127.0.0.0/8, ::1, localhost)."
        )
    return url


def _has_valid_port(parts: SplitResult) -> bool:
    try:
        port = parts.port  # urllib checks the port only when it is asked for
    except ValueError:
        return False
    return port is None or 0 <= port <= 65535


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _concurrency(value: Any) -> int:
    if value is None:
        return DEFAULT_CONCURRENCY
    number = _whole_number(value)
    if number is None or not 1 <= number <= MAX_CONCURRENCY:
        raise ConfigError(
            f"Config 'concurrency' must be a whole number from 1 to "
            f"{MAX_CONCURRENCY}, got {value!r}."
        )
    return number


def _request_timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_REQUEST_TIMEOUT_SECONDS
    try:
        seconds = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(
            f"Config 'request_timeout' must be a positive number of seconds, "
            f"got {value!r}."
        )
    return seconds


_TRUE_WORDS = ("true", "1", "yes", "on")
_FALSE_WORDS = ("false", "0", "no", "off")


def _boolean(name: str, value: Any, default: bool) -> bool:
    # Words too: a TAP_CLOSEIO_* variable is always a string. A blank is the
    # default, as an empty variable is; 1 and 0 are what some tools write.
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    raise ConfigError(f"Config {name!r} must be true or false, got {value!r}.")
