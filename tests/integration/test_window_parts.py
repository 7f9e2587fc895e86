"""A window query cut into parts for idle workers, read from the emulator:
the parts cover what was left unread, and together with the pages already
read give every record of the window exactly once."""

from datetime import datetime, timedelta, timezone

from sync_harness import make_config

from tap_closeio.client import CloseClient
from tap_closeio.paging import _Query, _query_pages

UTC = timezone.utc
NOW = "2024-05-01T12:00:00+00:00"
DAY = datetime(2024, 4, 1, tzinfo=UTC)


def minute(n: int, second: int = 0) -> datetime:
    return DAY + timedelta(minutes=n, seconds=second)


def read(pages) -> tuple[list[str], list[_Query]]:
    ids = []
    while True:
        try:
            ids += [record["id"] for record in next(pages)]
        except StopIteration as done:
            return ids, done.value


def test_an_idle_worker_gets_a_share_of_the_rest_and_nothing_is_lost(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    for n in range(50):  # one a minute from midnight, read newest first
        emu.add(
            "activity",
            {
                "id": f"acti_{n:02}",
                "_type": "Note",
                "date_created": minute(n).isoformat(),
            },
        )
    window = _Query(DAY, DAY + timedelta(days=1))

    with CloseClient(make_config(emu, "2024-04-01T00:00:00Z")) as client:
        first, parts = read(
            _query_pages(
                client, "activity/", window, "date_created", 10, "test", spare=lambda: 2
            )
        )

        # The first page's ten records cover 9 minutes; 40 minutes are left,
        # enough for the two idle workers and this one, two pages each.
        assert first == [f"acti_{n:02}" for n in range(49, 39, -1)]
        oldest = frozenset({"acti_40"})
        assert parts == [
            _Query(minute(0), minute(13, 20), oldest),
            _Query(minute(13, 20), minute(26, 40), oldest),
            _Query(minute(26, 40), minute(40, 1), oldest),
        ]

        rest = []
        for part in parts:
            ids, more = read(
                _query_pages(client, "activity/", part, "date_created", 10, "test")
            )
            assert more == []
            rest += ids

    assert sorted(first + rest) == [f"acti_{n:02}" for n in range(50)]


def test_no_share_when_the_rest_is_one_page(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    for n in range(15):
        emu.add(
            "activity",
            {
                "id": f"acti_{n:02}",
                "_type": "Note",
                "date_created": minute(n).isoformat(),
            },
        )
    window = _Query(minute(0), minute(15))

    with CloseClient(make_config(emu, "2024-04-01T00:00:00Z")) as client:
        ids, parts = read(
            _query_pages(
                client, "activity/", window, "date_created", 10, "test", spare=lambda: 5
            )
        )

    assert parts == []
    assert sorted(ids) == [f"acti_{n:02}" for n in range(15)]
