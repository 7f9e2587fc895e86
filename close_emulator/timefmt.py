"""Close's timestamp forms: writing them, and reading filter values."""

import re
from datetime import date, datetime, timedelta, timezone

UTC = timezone.utc

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_CLOSE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?(\+00:00)?$")


def to_utc(value: str | datetime) -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return parse_value(value)


def format_ts(moment: datetime) -> str:
    """Close's object form: microseconds and +00:00, the fraction dropped
    when it is zero (2024-04-02T00:00:00+00:00). The text is remembered with
    its moment so that filtering never has to parse it again."""
    moment = to_utc(moment)
    text = moment.isoformat()
    _PARSED[text] = moment
    return text


def format_naive(moment: datetime) -> str:
    """The event envelope form: UTC without an offset (NB: the samples)."""
    return to_utc(moment).replace(tzinfo=None).isoformat()


def format_date(moment: datetime | date) -> str:
    """A date-only value such as an opportunity's date_won."""
    return moment.strftime("%Y-%m-%d")


def parse_value(text: str) -> datetime:
    """Read any ISO 8601 date or date-time a client may send; a value
    without an offset is UTC. Raises ValueError otherwise."""
    if _CLOSE_FORM.match(text):
        # Close's own forms: the C parser is several times faster.
        return to_utc(datetime.fromisoformat(text))
    match = _ISO.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        micro,
        tzinfo=_offset(offset),
    )
    return moment.astimezone(UTC)


def _offset(text: str | None) -> timezone:
    if not text or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


_PARSED: dict[str, datetime | None] = {}


def record_moment(value: object) -> datetime | None:
    """A record's timestamp as aware UTC, None when absent or unreadable.
    Cached: the same strings are compared on every page request."""
    if not isinstance(value, str):
        return None
    moment = _PARSED.get(value)
    if moment is None and value not in _PARSED:
        try:
            moment = parse_value(value)
        except ValueError:
            moment = None
        if len(_PARSED) > 2_000_000:
            _PARSED.clear()
        _PARSED[value] = moment
    return moment


def truncate_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
