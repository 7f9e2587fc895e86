"""One time model: parse every ISO 8601 form at the edge into aware UTC
datetimes, compare datetimes (never strings), write one bookmark format."""

import re
from datetime import date, datetime, timedelta, timezone

UTC = timezone.utc
BOOKMARK_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# Close's own form, the one nearly every value takes: the fast path. [0-9], not
# \d, which also matches other scripts' digits.
_CLOSE_FORM = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.([0-9]{1,6}))?(?:\+00:00|Z)?"
)
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def parse_datetime(value: str | datetime | date) -> datetime:
    """Parse an ISO 8601 instant (or a bare date, read as midnight UTC) to an
    aware UTC datetime. A value without an offset is read as UTC, as Close
    sends some of its timestamps naive. Raises ValueError when it does not
    parse."""
    if type(value) is str:
        # The hot path, once or twice a record: Close's own form, which
        # fromisoformat reads as UTC (3.11 reads a "Z" too; 3.10 goes on below).
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return _parse_text(value)
        return moment if moment.tzinfo is UTC else _as_utc(moment)
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a date-time: {value!r}")
    return _parse_text(value)


def _parse_text(value: str) -> datetime:
    text = value.strip()
    try:
        return _as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass

    # NB: fromisoformat on 3.10 refuses fractions that are not 3 or 6 digits
    # and week dates; pendulum reads the rest of ISO 8601. Strictly: its
    # lenient mode hands other text to dateutil, which guesses ("01/02/2024").
    # Imported here: it costs 40 ms at start and is rarely needed.
    import pendulum

    try:
        parsed = pendulum.parse(text, strict=True)
    except Exception as exc:  # pendulum raises its own ParserError
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from exc
    if isinstance(parsed, datetime):
        return _as_utc(parsed)
    if isinstance(parsed, date):
        return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
    raise ValueError(f"not an ISO 8601 date-time: {value!r}")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is before year 1 in UTC
        raise ValueError(f"out of range in UTC: {moment.isoformat()}") from None


def format_bookmark(moment: datetime) -> str:
    """The tap's one format for bookmarks and record date-times:
    RFC 3339 in UTC with microseconds, e.g. 2024-04-30T10:00:05.000000Z."""
    if moment.tzinfo is None:
        raise ValueError("refusing to format a naive datetime")
    return moment.astimezone(UTC).strftime(BOOKMARK_FORMAT)


def normalize_datetime(value: str) -> str:
    """Rewrite a date-time string from Close as RFC 3339 UTC. Raises
    ValueError when it does not parse."""
    match = _CLOSE_FORM.fullmatch(value)
    if match is not None:
        return _normalize_close_form(value, match.group(1))
    return format_bookmark(parse_datetime(value))


def _normalize_close_form(value: str, fraction: str | None) -> str:
    # Already UTC (or naive, read as UTC): only the spelling changes, so skip
    # the parse. This is the hot path of every record.
    # NB: like the regex, this does not check the calendar (2024-02-30 passes);
    # Close's own timestamps are valid ones.
    if fraction is None:
        return value[:19] + ".000000Z"
    if len(fraction) == 6:
        return value[:26] + "Z"
    return f"{value[:19]}.{fraction.ljust(6, '0')}Z"


def normalize_date_or_text(value: str) -> str:
    """For fields that hold a date-time or free text (an email's
    envelope.date): normalise an ISO 8601 date-time, pass anything else
    through unchanged."""
    if _ISO_DATETIME.match(value) is None:
        return value
    try:
        return normalize_datetime(value)
    except ValueError:
        return value


# NB: the floors subtract from the UTC datetimes this module hands out
# instead of calling replace(), which parses its keyword arguments on every
# call: 0.6 against 2.0 µs on the bench's machine, and the pagers floor every
# record they read. Any other zone takes replace(): subtracting resets
# `fold`, which in a repeated hour of a zone with summer time is an hour.
_MICROSECOND = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)


def floor_to_minute(moment: datetime) -> datetime:
    """Close's lead search compares date_updated at minute precision."""
    if moment.tzinfo is not UTC:
        return moment.replace(second=0, microsecond=0)
    return moment - (moment.second * _SECOND + moment.microsecond * _MICROSECOND)


def floor_to_second(moment: datetime) -> datetime:
    if moment.tzinfo is not UTC:
        return moment.replace(microsecond=0)
    return moment - moment.microsecond * _MICROSECOND


def days(count: float) -> timedelta:
    return timedelta(days=count)
