"""The one time model: every ISO 8601 form to aware UTC, compared as
datetimes, written in one bookmark format."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from tap_closeio.timeutil import (
    UTC,
    floor_to_minute,
    floor_to_second,
    format_bookmark,
    normalize_date_or_text,
    normalize_datetime,
    parse_datetime,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        # The forms the original tap left in state files, and start_date forms.
        ("2024-04-30T10:00:00+00:00", utc(2024, 4, 30, 10)),
        ("2024-04-30T10:00:00Z", utc(2024, 4, 30, 10)),
        ("2024-04-30T10:00:00.000000Z", utc(2024, 4, 30, 10)),
        ("2024-04-30T10:00:00.123456+00:00", utc(2024, 4, 30, 10, 0, 0, 123456)),
        ("2024-04-30T10:00:04.5Z", utc(2024, 4, 30, 10, 0, 4, 500000)),
        ("2024-04-30T10:00:00", utc(2024, 4, 30, 10)),
        ("2024-04-30 10:00:00", utc(2024, 4, 30, 10)),
        ("2024-04-30", utc(2024, 4, 30)),
        ("2024-01-01T00:00:00+05:00", utc(2023, 12, 31, 19)),
        ("2024-04-30T05:00:00-05:00", utc(2024, 4, 30, 10)),
        ("  2024-04-30T10:00:00Z ", utc(2024, 4, 30, 10)),
        # Rarer ISO 8601 forms, read by pendulum.
        ("2024-W18-2T10:00:00Z", utc(2024, 4, 30, 10)),
        ("20240430T100000Z", utc(2024, 4, 30, 10)),
    ],
)
def test_parse_datetime_reads_every_iso_form_as_aware_utc(text, expected):
    parsed = parse_datetime(text)

    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_parse_datetime_takes_datetimes_and_dates():
    plus_two = timezone(timedelta(hours=2))

    assert parse_datetime(datetime(2024, 4, 30, 12, tzinfo=plus_two)) == utc(
        2024, 4, 30, 10
    )
    assert parse_datetime(datetime(2024, 4, 30, 10)) == utc(2024, 4, 30, 10)
    assert parse_datetime(date(2024, 4, 30)) == utc(2024, 4, 30)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "yesterday",
        "4/21/17 9:21 AM (GMT-05:00)",
        "01/02/2024",
        "2024-02-30",
        1714471205,
        # Dates that exist only in their own zone: before year 1 or after
        # 9999 once in UTC.
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
        "0001-01-01 00:00:00+0500",
    ],
)
def test_parse_datetime_refuses_what_is_not_a_date_time(bad):
    with pytest.raises(ValueError):
        parse_datetime(bad)


def test_updates_after_a_microsecond_bookmark_are_found_as_datetimes():
    # As strings, "2024-04-30T10:00:04.5Z" sorts before the bookmark.
    bookmark = parse_datetime("2024-04-30T10:00:00.000001+00:00")
    updates = [
        "2024-04-30T10:00:00Z",
        "2024-04-30T10:00:04.5Z",
        "2024-04-30T10:00:05+00:00",
    ]

    newer = [text for text in updates if parse_datetime(text) > bookmark]
    newest = max(parse_datetime(text) for text in updates)

    assert newer == ["2024-04-30T10:00:04.5Z", "2024-04-30T10:00:05+00:00"]
    assert format_bookmark(newest) == "2024-04-30T10:00:05.000000Z"


def test_start_date_with_an_offset_is_the_same_instant_in_utc():
    start = parse_datetime("2024-01-01T00:00:00+05:00")
    lead_updated = parse_datetime("2023-12-31T20:00:00+00:00")

    assert lead_updated >= start


def test_equal_instants_in_different_spellings_compare_equal():
    assert parse_datetime("2024-03-01T10:15:30+00:00") == parse_datetime(
        "2024-03-01T11:15:30.000+01:00"
    )


def test_format_bookmark_is_one_utc_form_and_refuses_naive():
    plus_two = timezone(timedelta(hours=2))

    assert format_bookmark(utc(2024, 4, 30, 10, 0, 5)) == "2024-04-30T10:00:05.000000Z"
    assert (
        format_bookmark(datetime(2024, 4, 30, 12, 0, 5, 7, tzinfo=plus_two))
        == "2024-04-30T10:00:05.000007Z"
    )
    with pytest.raises(ValueError, match="naive"):
        format_bookmark(datetime(2024, 4, 30, 10))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025-01-14T10:44:06.154000+00:00", "2025-01-14T10:44:06.154000Z"),
        ("2022-11-12T18:00:00+00:00", "2022-11-12T18:00:00.000000Z"),
        ("2023-06-07T10:01:33.158000", "2023-06-07T10:01:33.158000Z"),
        ("2024-04-30T10:00:04.5Z", "2024-04-30T10:00:04.500000Z"),
        ("2024-04-30T10:00:05Z", "2024-04-30T10:00:05.000000Z"),
        ("2024-04-02T09:00:00+02:00", "2024-04-02T07:00:00.000000Z"),
        ("2024-04-30T10:00:00.1234567Z", "2024-04-30T10:00:00.123456Z"),
        ("2024-04-30", "2024-04-30T00:00:00.000000Z"),
    ],
)
def test_normalize_datetime_writes_rfc3339_utc(text, expected):
    assert normalize_datetime(text) == expected


@pytest.mark.parametrize(
    "bad", ["soon", "2024-04-30T10:00:00+00:00 (UTC)", "２０２４-04-30"]
)
def test_normalize_datetime_refuses_non_dates(bad):
    with pytest.raises(ValueError):
        normalize_datetime(bad)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4/21/17 9:21 AM (GMT-05:00)", "4/21/17 9:21 AM (GMT-05:00)"),
        ("Sat, 18 Sep 2021 08:29:12 +1100", "Sat, 18 Sep 2021 08:29:12 +1100"),
        ("2024-02-29", "2024-02-29"),
        ("", ""),
        ("2024-04-30T12:00:00+02:00", "2024-04-30T10:00:00.000000Z"),
        ("2024-04-30 10:00", "2024-04-30T10:00:00.000000Z"),
        ("2024-04-30T99:00 tomorrow", "2024-04-30T99:00 tomorrow"),
    ],
)
def test_normalize_date_or_text_changes_only_iso_date_times(text, expected):
    assert normalize_date_or_text(text) == expected


def test_floor_to_minute_for_closes_lead_search():
    assert floor_to_minute(utc(2024, 3, 1, 10, 15, 30, 999)) == utc(2024, 3, 1, 10, 15)


@pytest.mark.parametrize(
    "moment",
    [
        utc(2024, 3, 1, 10, 15, 30, 999),
        utc(2024, 3, 1, 10, 15, 0, 0),
        utc(2024, 3, 1, 10, 15, 59, 999_999),
        utc(1, 1, 1, 0, 0, 0, 1),
        datetime(2024, 3, 1, 10, 15, 30, 5, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2024, 3, 1, 10, 15, 30, 5),
    ],
)
def test_floors_keep_the_zone_and_drop_only_what_is_below_them(moment):
    second, minute = floor_to_second(moment), floor_to_minute(moment)

    assert second == moment.replace(microsecond=0)
    assert minute == moment.replace(second=0, microsecond=0)
    assert second.tzinfo is minute.tzinfo is moment.tzinfo
    assert (second.microsecond, minute.second, minute.microsecond) == (0, 0, 0)


def test_floors_keep_the_second_of_a_repeated_hour():
    # 01:30 comes twice in New York on 2024-11-03; fold 1 is the second, an
    # hour after the first. Subtracting would reset fold and lose the hour.
    try:
        zone = ZoneInfo("America/New_York")
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone database on this machine")
    moment = datetime(2024, 11, 3, 1, 30, 15, 500, fold=1, tzinfo=zone)

    for floored in (floor_to_second(moment), floor_to_minute(moment)):
        assert floored.fold == 1
        assert (
            floored.astimezone(timezone.utc).hour
            == moment.astimezone(timezone.utc).hour
        )
