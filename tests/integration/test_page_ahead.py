"""Sequential pagers ask for the next page while the caller works on the
current one: the same requests in the same order, one at a time, errors
raised where the pager asks, and nothing left running once a pager ends."""

import threading
import time

import pytest

from tap_closeio.client import CloseClient
from tap_closeio.config import load_config
from tap_closeio.errors import NotFoundError
from tap_closeio.paging import cursor_pages, offset_list

KEY = "api_PAGEAHEAD_77c1d0e2"
NOW = "2024-05-01T12:00:00+00:00"


@pytest.fixture
def emu(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW, api_key=KEY)
    for number in range(5):
        moment = f"2024-04-0{number + 1}T10:00:00+00:00"
        emu.add(
            "user",
            {"id": f"user_{number}", "date_created": moment, "date_updated": moment},
        )
    return emu


@pytest.fixture
def client(emu):
    config = load_config(
        {"api_key": KEY, "start_date": "2024-01-01", "base_url": emu.base_url}, {}
    )
    # NB: no sleep is expected; a real one would only slow a failing test.
    with CloseClient(config, sleep=lambda seconds: None) as client:
        yield client


def skips(emu) -> list[str]:
    return [r.query.get("_skip") for r in emu.requests]


def ahead_threads(label: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"{label} ahead"]


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_the_next_page_is_asked_for_while_the_caller_holds_this_one(emu, client):
    pages = offset_list(client, "user/", 2, "users")

    first = next(pages)
    wait_until(lambda: len(emu.requests) == 2)
    assert skips(emu) == ["0", "2"]

    ids = [r["id"] for r in first] + [r["id"] for page in pages for r in page]
    assert ids == [user["id"] for user in emu.objects("user")]
    assert len(ids) == 6  # the key's own user and the five added
    assert skips(emu) == ["0", "2", "4"]  # the last page says has_more false
    assert ahead_threads("users") == []


def test_a_pager_closed_early_waits_for_its_request_and_ends_its_worker(emu, client):
    emu.add_fault("/api/v1/user/", kind="delay", seconds=0.3, on_request=2)
    pages = offset_list(client, "user/", 2, "users")
    next(pages)
    wait_until(lambda: len(emu.requests) == 2)

    pages.close()

    assert ahead_threads("users") == []
    assert skips(emu) == ["0", "2"]


def test_an_error_on_the_page_asked_ahead_is_raised_when_the_pager_gets_there(
    emu, client
):
    emu.add_fault("/api/v1/user/", kind="status", status=404, on_request=2)
    pages = offset_list(client, "user/", 2, "users")

    assert len(next(pages)) == 2
    wait_until(lambda: len(emu.requests) == 2)
    with pytest.raises(NotFoundError):
        next(pages)
    assert skips(emu) == ["0", "2"]
    assert ahead_threads("users") == []


def test_a_cursor_walk_asks_for_the_next_cursor_ahead(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW, api_key=KEY)
    for number in range(5):
        moment = f"2024-04-2{number + 1}T10:00:00+00:00"
        emu.add(
            "event",
            {
                "id": f"ev_{number}",
                "date_created": moment,
                "date_updated": moment,
                "object_type": "lead",
                "action": "updated",
            },
        )
    config = load_config(
        {"api_key": KEY, "start_date": "2024-01-01", "base_url": emu.base_url}, {}
    )
    with CloseClient(config, sleep=lambda seconds: None) as client:
        pages = cursor_pages(client, "event/", {}, 2, "events")
        first = next(pages)
        wait_until(lambda: len(emu.requests) == 2)
        rest = [record["id"] for page in pages for record in page]

    ids = [record["id"] for record in first] + rest
    assert sorted(ids) == [f"ev_{n}" for n in range(5)]
    assert len(ids) == 5
    assert [("_cursor" in r.query) for r in emu.requests] == [False, True, True]
    assert ahead_threads("events") == []
