"""Discovery against the emulator: the event-log probe decides whether
`event_log` is in the catalog."""

from datetime import datetime, timezone

import pytest

from tap_closeio.client import CloseClient
from tap_closeio.config import Config
from tap_closeio.discovery import discover
from tap_closeio.errors import AuthenticationError, NotFoundError, RetryableError

ALL_STREAMS = ["custom_fields", "leads", "activities", "tasks", "users", "event_log"]


@pytest.fixture
def emulator(emulator_factory):
    return emulator_factory(size="tiny")


def make_client(emulator, sleeps: list[float] | None = None) -> CloseClient:
    config = Config(
        api_key=emulator.api_key,
        start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        base_url=emulator.base_url,
    )
    fake_sleep = sleeps.append if sleeps is not None else None
    return CloseClient(config, sleep=fake_sleep) if fake_sleep else CloseClient(config)


def streams_of(catalog: dict) -> list[str]:
    return [entry["tap_stream_id"] for entry in catalog["streams"]]


def test_probe_is_one_small_event_request(emulator):
    catalog = discover(make_client(emulator), None)

    assert streams_of(catalog) == ALL_STREAMS
    assert [(r.method, r.path, r.query) for r in emulator.requests] == [
        ("GET", "/api/v1/event/", {"_limit": "1"})
    ]


@pytest.mark.parametrize("status", [400, 403])
def test_event_log_refused_is_left_out_with_a_warning(emulator, capfd, status):
    emulator.add_fault(
        path_prefix="/api/v1/event/",
        status=status,
        times=None,
        body={"error": "No access to the event log."},
    )

    catalog = discover(make_client(emulator), None)

    assert streams_of(catalog) == ALL_STREAMS[:-1]
    # NB: singer's get_logger reconfigures the root logger on every request
    # metric, which unhooks caplog; the line on stderr is what users see.
    warnings = [
        line for line in capfd.readouterr().err.splitlines() if "WARNING" in line
    ]
    assert warnings == [
        f"WARNING Close refused the event log to this API key (HTTP {status}: "
        f"Close answered HTTP {status} on GET /event/: No access to the event "
        "log.); leaving event_log out of the catalog"
    ]


def test_a_bad_key_fails_discovery_instead_of_hiding_a_stream(emulator):
    config = Config(
        api_key="not-the-key",
        start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        base_url=emulator.base_url,
    )

    with pytest.raises(AuthenticationError):
        discover(CloseClient(config), None)


def test_other_client_errors_propagate(emulator):
    emulator.add_fault(path_prefix="/api/v1/event/", status=404, times=None)

    with pytest.raises(NotFoundError):
        discover(make_client(emulator), None)


def test_server_errors_are_retried_then_propagate(emulator):
    emulator.add_fault(path_prefix="/api/v1/event/", status=503, times=None)
    sleeps: list[float] = []

    with pytest.raises(RetryableError):
        discover(make_client(emulator, sleeps), None)

    assert sleeps == [1, 2, 4, 8, 16]


def test_without_a_client_every_stream_is_listed_and_nothing_requested(emulator):
    assert streams_of(discover(None, None)) == ALL_STREAMS
    assert emulator.requests == []
