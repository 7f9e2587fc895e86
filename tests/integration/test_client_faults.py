"""CloseClient against the emulator over real sockets: the one retry policy,
rate-limit waits (asserted exactly through a fake sleep and clock), Close's
errors mapped to the tap's error tree, and what is sent on the wire."""

import base64
import io
import json
import logging
import threading
import time

import pytest
import requests

from close_emulator import Emulator
from tap_closeio import __version__, sync
from tap_closeio.client import CloseClient, RetryPolicy
from tap_closeio.config import load_config
from tap_closeio.errors import (
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    DeletedDocumentError,
    NotFoundError,
    RateLimitError,
    RetryableError,
    SkipCapError,
)

KEY = "api_CLIENTFAULTS_4b2d90e1"
NOW = "2024-05-01T12:00:00+00:00"
RATE_BODY = {
    "error": {
        "rate_reset": 1,
        "message": "API call count exceeded for this 15 second window",
        "rate_limit": 600,
        "rate_window": 15,
    }
}


class FakeClock:
    """sleep() records each wait and moves monotonic() on by it; the fake
    also notes how many requests the emulator had seen when each wait began."""

    def __init__(self, emulator=None):
        self.now = 5000.0
        self.sleeps = []
        self.requests_at_sleep = []
        self.emulator = emulator

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        if self.emulator is not None:
            self.requests_at_sleep.append(len(self.emulator.requests))
        self.now += seconds

    def monotonic(self):
        return self.now


@pytest.fixture(scope="module")
def emulator():
    with Emulator(seed=3, size="tiny", now=NOW, api_key=KEY, max_skip=4) as emu:
        yield emu


@pytest.fixture
def emu(emulator):
    emulator.clear_faults()
    emulator.clear_requests()
    yield emulator
    emulator.clear_faults()


@pytest.fixture
def clock(emu):
    return FakeClock(emu)


def make_client(emu, clock, **settings):
    raw = {
        "api_key": KEY,
        "start_date": "2024-01-01",
        "base_url": emu.base_url,
        **settings,
    }
    return CloseClient(
        load_config(raw, {}), sleep=clock.sleep, monotonic=clock.monotonic
    )


@pytest.fixture
def client(emu, clock):
    with make_client(emu, clock) as client:
        yield client


@pytest.fixture
def waits_logged():
    """INFO lines of the client's logger, and with `level=logging.WARNING`
    its WARNING lines. NB: singer re-applies its logging config on every
    metric, which drops pytest's caplog handler from the root logger; a
    handler on the client's own logger survives that."""
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger("tap_closeio.client")
    logger.addHandler(handler)
    yield lambda level=logging.INFO: [
        r.getMessage() for r in records if r.levelno == level
    ]
    logger.removeHandler(handler)


def sent(emu, path):
    return [(r.path, r.query_string, r.status) for r in emu.requests if r.path == path]


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def users_body(emu):
    return {"data": emu.objects("user"), "has_more": False}


# --- 429: wait what Close says, repeat the same request ---------------------


def test_429_with_body_rate_reset_waits_one_second_and_repeats(
    emu, client, clock, waits_logged
):
    emu.add_fault("/api/v1/user/", kind="status", status=429, body=RATE_BODY)

    body = client.get("user/", {"_limit": 100, "_skip": 0})

    assert body["data"] == emu.objects("user")
    assert clock.sleeps == [1.0]
    assert sent(emu, "/api/v1/user/") == [
        ("/api/v1/user/", "_limit=100&_skip=0", 429),
        ("/api/v1/user/", "_limit=100&_skip=0", 200),
    ]
    assert waits_logged() == [
        "Waiting 1.000 s for Close's rate limit: HTTP 429 on /user/"
    ]


def test_429_with_only_a_ratelimit_header_waits_its_fractional_reset(
    emu, client, clock
):
    headers = {"ratelimit": "limit=100, remaining=0, reset=0.417"}
    emu.add_fault("/api/v1/user/", kind="status", status=429, headers=headers)

    client.get("user/")

    assert clock.sleeps == [pytest.approx(0.417)]
    assert [s for _, _, s in sent(emu, "/api/v1/user/")] == [429, 200]


def test_429_with_only_retry_after_waits_that_long(emu, client, clock):
    emu.add_fault(
        "/api/v1/user/", kind="status", status=429, headers={"Retry-After": "2"}
    )

    client.get("user/")

    assert clock.sleeps == [2.0]
    assert [s for _, _, s in sent(emu, "/api/v1/user/")] == [429, 200]


def test_429_with_no_hint_waits_the_default_two_seconds(
    emu, client, clock, waits_logged
):
    emu.add_fault("/api/v1/user/", kind="status", status=429, body="Slow down")

    client.get("user/")

    assert clock.sleeps == [2.0]
    assert waits_logged() == [
        "Waiting 2.000 s for Close's rate limit: HTTP 429 on /user/ without a "
        "reset time"
    ]


def test_429_with_a_zero_reset_never_busy_loops(emu, client, clock):
    headers = {"RateLimit": "limit=100, remaining=0, reset=0"}
    emu.add_fault("/api/v1/user/", kind="status", status=429, headers=headers, times=3)

    client.get("user/")

    assert clock.sleeps == [0.25, 0.25, 0.25]


def test_endless_429s_give_up_with_a_rate_limit_error(emu, client, clock):
    emu.add_fault("/api/v1/user/", kind="status", status=429, times=None)

    with pytest.raises(RateLimitError, match="rate limiting GET /user/") as raised:
        client.get("user/")

    assert "10 responses in a row were HTTP 429" in str(raised.value)
    assert len(sent(emu, "/api/v1/user/")) == 10
    assert clock.sleeps == [2.0] * 9


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "100000"}, {"X-Rate-Limit-Reset": "1733350000"}],
    ids=["hours", "epoch"],
)
def test_a_429_asking_for_longer_than_the_tap_waits_ends_the_run(
    emu, client, clock, headers
):
    # Sleeping through it would look like a hung run (a helper's find).
    emu.add_fault("/api/v1/user/", kind="status", status=429, headers=headers)
    seconds = max(float(value) for value in headers.values())

    with pytest.raises(RateLimitError) as raised:
        client.get("user/")

    assert str(raised.value) == (
        f"Close asks to wait {seconds:.0f} s before the next GET /user/ (HTTP "
        "429), longer than this tap waits (900 s). Run it again later; the last "
        "STATE is safe to resume from."
    )
    assert clock.sleeps == []
    assert len(sent(emu, "/api/v1/user/")) == 1


# --- the budget Close reports on a 200 --------------------------------------


def answer_users_with(emu, headers: dict) -> None:
    """The next /user/ answer is its usual 200 with these headers."""
    emu.add_fault(
        "/api/v1/user/",
        kind="status",
        status=200,
        body=users_body(emu),
        headers=headers,
    )


def test_a_spent_budget_resetting_after_the_longest_wait_is_not_paced_on(
    emu, client, clock
):
    headers = {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "1733350000"}
    answer_users_with(emu, headers)

    client.get("user/")
    client.get("user/")

    assert clock.sleeps == []
    assert [s for _, _, s in sent(emu, "/api/v1/user/")] == [200, 200]


def test_a_spent_budget_on_a_200_waits_before_the_next_call(emu, client, clock):
    headers = {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "0.417"}
    answer_users_with(emu, headers)

    first = client.get("user/")
    assert clock.sleeps == []
    second = client.get("user/")

    assert first == second == users_body(emu)
    assert clock.sleeps == [pytest.approx(0.417)]
    assert clock.requests_at_sleep == [1]  # after the 200, before the next call


@pytest.mark.parametrize(
    "headers",
    [
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "0"},
        {"RATELIMIT": "limit=10, remaining=0, reset=0.004"},
    ],
)
def test_a_spent_budget_with_a_tiny_reset_waits_the_floor_not_zero(
    emu, client, clock, headers
):
    answer_users_with(emu, headers)

    client.get("user/")
    client.get("user/")

    assert clock.sleeps == [pytest.approx(0.05)]


def test_a_budget_with_requests_left_causes_no_wait(emu, client, clock):
    headers = {"RateLimit": "limit=10, remaining=1, reset=5"}
    answer_users_with(emu, headers)

    client.get("user/")
    client.get("user/")

    assert clock.sleeps == []


def test_a_spent_budget_holds_only_its_own_endpoint_group(emu, client, clock):
    headers = {"RateLimit": "limit=10, remaining=0, reset=3"}
    answer_users_with(emu, headers)

    client.get("user/")
    client.get("task/", {"_type": "all"})
    assert clock.sleeps == []
    client.get("user/")

    assert clock.sleeps == [3.0]


def test_the_wait_is_shared_by_every_thread(emu, client, clock):
    headers = {"RateLimit": "limit=10, remaining=0, reset=1.5"}
    answer_users_with(emu, headers)
    thread = threading.Thread(target=client.get, args=("user/",))
    thread.start()
    thread.join()

    client.get("user/")

    assert clock.sleeps == [1.5]


def test_threads_that_meet_the_same_hold_log_it_once(emu, clock, waits_logged):
    both_asleep = threading.Barrier(2, timeout=10)

    def sleep(seconds: float) -> None:
        both_asleep.wait()  # each has met the hold before either moves on
        clock.sleep(seconds)

    client = CloseClient(
        load_config(
            {"api_key": KEY, "start_date": "2024-01-01", "base_url": emu.base_url}, {}
        ),
        sleep=sleep,
        monotonic=clock.monotonic,
    )
    headers = {"RateLimit": "limit=10, remaining=0, reset=1.5"}
    emu.add_fault("/api/v1/user/", kind="status", status=200, body={}, headers=headers)
    client.get("user/")  # spent: the group is held for 1.5 s

    threads = [threading.Thread(target=client.get, args=("user/",)) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()

    assert clock.sleeps == [1.5, 1.5]
    assert waits_logged() == [
        "Waiting 1.500 s for Close's rate limit: rate-limit budget of /user/ "
        "spent (0 left)"
    ]


def test_requests_in_flight_elsewhere_are_kept_in_reserve(emu, client, clock):
    user_id = emu.objects("user")[0]["id"]
    held = emu.add_fault(f"/api/v1/user/{user_id}/", kind="delay", seconds=1.0)
    other = threading.Thread(target=client.get, args=(f"user/{user_id}/",))
    other.start()
    wait_until(lambda: held.fired == 1)  # that request is now in flight

    # One request left, and one other request of the group still in flight:
    # that one will spend it, so the next call must wait.
    headers = {"RateLimit": "limit=10, remaining=1, reset=2"}
    emu.add_fault("/api/v1/user/", kind="status", status=200, body={}, headers=headers)
    client.get("user/")
    other.join()
    client.get("user/")

    assert clock.sleeps == [2.0]


def test_threads_that_sent_before_are_kept_in_reserve_between_requests(
    emu, client, clock
):
    user_id = emu.objects("user")[0]["id"]
    held = emu.add_fault(f"/api/v1/user/{user_id}/", kind="delay", seconds=0.5)
    other = threading.Thread(target=client.get, args=(f"user/{user_id}/",))
    other.start()
    wait_until(lambda: held.fired == 1)
    client.get("task/", {"_type": "all"})  # another group: not a sender here
    client.get("user/")  # two requests of the group were in flight at once
    other.join()

    # Nothing else is in flight now, but the other thread may send again
    # before it reads an answer: one request left is its reserve.
    headers = {"RateLimit": "limit=10, remaining=1, reset=2"}
    emu.add_fault("/api/v1/user/", kind="status", status=200, body={}, headers=headers)
    client.get("user/")
    client.get("user/")

    assert clock.sleeps == [2.0]


def test_a_budget_left_for_requests_in_flight_waits_its_reset_not_the_floor(
    emu, client, clock
):
    user_id = emu.objects("user")[0]["id"]
    held = emu.add_fault(f"/api/v1/user/{user_id}/", kind="delay", seconds=1.0)
    other = threading.Thread(target=client.get, args=(f"user/{user_id}/",))
    other.start()
    wait_until(lambda: held.fired == 1)

    # One request left for the one in flight: the window rolls over in 40 ms,
    # and that is the wait (a spent budget would wait the 0.05 s floor).
    headers = {"RateLimit": "limit=10, remaining=1, reset=0.04"}
    emu.add_fault("/api/v1/user/", kind="status", status=200, body={}, headers=headers)
    client.get("user/")
    other.join()
    client.get("user/")

    assert clock.sleeps == [pytest.approx(0.04)]


def budgeted(emulator_factory, rate_limit: tuple[int, float], **options):
    """An emulator with a budget of `rate_limit` (requests, seconds) kept on
    a fake clock, and that clock."""
    clock = FakeClock()
    emu = emulator_factory(
        seed=3,
        size="tiny",
        now=NOW,
        api_key=KEY,
        rate_limit=rate_limit,
        rate_clock=clock.monotonic,
        **options,
    )
    clock.emulator = emu
    return emu, clock


@pytest.mark.parametrize("style", ["ratelimit", "x-rate-limit"])
def test_the_emulators_budget_is_obeyed_without_meeting_a_429(
    emulator_factory, style, waits_logged
):
    emu, clock = budgeted(emulator_factory, (3, 30.0), rate_limit_style=style)

    with make_client(emu, clock) as client:
        for _ in range(5):
            client.get("user/")

    # The first answer shows a budget of 3 in 30 s and the third says it is
    # spent: the client waits out the window and the pacer's margin (5 %),
    # once, before the fourth request, and never meets a 429.
    assert clock.sleeps == [31.5]
    assert clock.requests_at_sleep == [3]
    assert [r.status for r in emu.requests] == [200] * 5
    # The pace spends each window's budget by design: no line for that.
    assert waits_logged() == []


def test_once_the_window_is_known_requests_are_paced_not_held_in_reserve(
    emulator_factory,
):
    emu, clock = budgeted(emulator_factory, (4, 10.0))
    user_id = emu.objects("user")[0]["id"]
    held = emu.add_fault(f"/api/v1/user/{user_id}/", kind="delay", seconds=1.0)

    with make_client(emu, clock) as client:
        client.get("user/")  # remaining 3 of 4, reset 10: the window is known
        other = threading.Thread(target=client.get, args=(f"user/{user_id}/",))
        other.start()
        wait_until(lambda: held.fired == 1)  # counted, answer held back

        # One left with another request in flight: before the window was
        # known that was a hold of 10 s; the pacer lets the fourth go.
        client.get("user/")
        assert clock.sleeps == []
        client.get("user/")  # remaining 0: spent
        other.join()
        client.get("user/")

    # Four sends in the first span of 10.5 s: the fifth waits for it to end.
    assert clock.sleeps == [10.5]
    assert [r.status for r in emu.requests] == [200] * 5


# --- faults worth repeating ---------------------------------------------------


def test_502_then_503_then_200_on_users_is_retried_with_backoff(
    emu, client, clock, waits_logged
):
    emu.add_fault("/api/v1/user/", kind="status", status=502, on_request=1)
    emu.add_fault("/api/v1/user/", kind="status", status=503, on_request=2)

    body = client.get("user/", {"_skip": 0, "_limit": 100})

    assert body == users_body(emu)
    assert clock.sleeps == [1, 2]
    assert [(q, s) for _, q, s in sent(emu, "/api/v1/user/")] == [
        ("_skip=0&_limit=100", 502),
        ("_skip=0&_limit=100", 503),
        ("_skip=0&_limit=100", 200),
    ]
    # A fault is worth a warning; the rate-limit waits above are routine.
    assert waits_logged() == []
    assert waits_logged(logging.WARNING) == [
        "Waiting 1.00 s before retrying GET /user/ (attempt 1 of 6 failed: "
        "Close answered HTTP 502 on GET /user/)",
        "Waiting 2.00 s before retrying GET /user/ (attempt 2 of 6 failed: "
        "Close answered HTTP 503 on GET /user/)",
    ]
    assert client.requests_made == 3


def test_a_retry_due_after_the_client_closed_is_not_sent(emu, client, clock):
    # A request made ahead that the run left behind (paging.STOP_WAIT) is in
    # its wait when the run ends and closes the client.
    emu.add_fault("/api/v1/user/", kind="status", status=503, times=None)
    waited = clock.sleep

    def the_run_ends_meanwhile(seconds):
        waited(seconds)
        client.close()

    client._sleep = the_run_ends_meanwhile

    with pytest.raises(RetryableError) as raised:
        client.get("user/")

    assert str(raised.value) == "GET /user/ not sent: the client is closed"
    assert [r.status for r in emu.requests] == [503]
    assert clock.sleeps == [1]


def test_a_lasting_5xx_gives_up_after_the_bounded_number_of_attempts(
    emu, client, clock
):
    emu.add_fault("/api/v1/user/", kind="status", status=500, times=None)

    with pytest.raises(RetryableError) as raised:
        client.get("user/")

    assert str(raised.value) == (
        "Close answered HTTP 500 on GET /user/ (gave up after 6 attempts)"
    )
    assert clock.sleeps == [1, 2, 4, 8, 16]
    assert len(sent(emu, "/api/v1/user/")) == 6


def test_a_read_timeout_repeats_the_same_window(emu, clock):
    emu.add_fault("/api/v1/activity/", kind="delay", seconds=2.0)
    window = {
        "date_created__gte": "2024-04-01T00:00:00+00:00",
        "date_created__lt": "2024-04-02T00:00:00+00:00",
        "_skip": 0,
        "_limit": 100,
    }

    with make_client(emu, clock, request_timeout=0.3) as client:
        body = client.get("activity/", window)

    assert "data" in body
    assert clock.sleeps == [1]
    # NB: the emulator logs the held request only once it has answered it.
    wait_until(lambda: len(sent(emu, "/api/v1/activity/")) == 2)
    queries = [r.query for r in emu.requests if r.path == "/api/v1/activity/"]
    assert queries == [{k: str(v) for k, v in window.items()}] * 2


def test_a_truncated_200_is_repeated(emu, client, clock):
    emu.add_fault("/api/v1/user/", kind="truncate")

    assert client.get("user/") == users_body(emu)
    assert clock.sleeps == [1]
    assert len(sent(emu, "/api/v1/user/")) == 2


def test_a_200_that_is_not_json_is_repeated(emu, client, clock):
    emu.add_fault("/api/v1/user/", kind="status", status=200, body="<html>oops")

    assert client.get("user/") == users_body(emu)
    assert clock.sleeps == [1]


def test_a_dropped_connection_is_repeated(emu, client, clock):
    emu.add_fault("/api/v1/user/", kind="drop")

    assert client.get("user/") == users_body(emu)
    assert clock.sleeps == [1]
    assert client.requests_made == 2


def test_429s_and_faults_have_their_own_bounds(emu, clock):
    policy = RetryPolicy(max_attempts=2, max_rate_limited=3)
    emu.add_fault("/api/v1/user/", kind="status", status=429, on_request=1, times=2)
    emu.add_fault("/api/v1/user/", kind="status", status=503, on_request=3)

    with make_client(emu, clock) as client:
        client.policy = policy
        assert client.get("user/") == users_body(emu)

    assert clock.sleeps == [2.0, 2.0, 1]


# --- errors that end the request at once --------------------------------------


def test_404_not_found_fails_at_once(emu, client, clock):
    with pytest.raises(NotFoundError) as raised:
        client.get("lead/lead_doesnotexist/")

    assert not isinstance(raised.value, DeletedDocumentError)
    assert raised.value.status == 404
    assert "HTTP 404 on GET /lead/lead_doesnotexist/" in str(raised.value)
    assert clock.sleeps == []
    assert client.requests_made == 1


def test_404_error_not_found_body_fails_at_once(emu, client, clock):
    emu.add_fault(
        "/api/v1/user/", kind="status", status=404, body={"error": "not found"}
    )

    with pytest.raises(NotFoundError) as raised:
        client.get("user/")

    assert str(raised.value) == "Close answered HTTP 404 on GET /user/: not found"
    assert clock.sleeps == []
    assert len(sent(emu, "/api/v1/user/")) == 1


def test_404_saying_the_document_was_deleted_is_its_own_error(emu, client, clock):
    emu.add_fault("/api/v1/activity/", kind="not_found_deleted")

    with pytest.raises(DeletedDocumentError, match="has been deleted"):
        client.get("activity/", {"_skip": 100})

    assert clock.sleeps == []


def test_401_fails_at_once_with_no_retries(emu, clock):
    raw = {"api_key": "api_WRONG_0000", "start_date": "2024", "base_url": emu.base_url}
    client = CloseClient(load_config(raw, {}), sleep=clock.sleep)

    with pytest.raises(AuthenticationError) as raised:
        client.get("me/")

    assert "Close refused the API key (HTTP 401 on GET /me/)" in str(raised.value)
    assert "api_WRONG_0000" not in str(raised.value)
    assert clock.sleeps == []
    assert [r.status for r in emu.requests] == [401]


def test_403_is_access_denied_with_closes_text(emu, client):
    emu.add_fault(
        "/api/v1/event/", kind="status", status=403, body={"error": "Forbidden for you"}
    )

    with pytest.raises(AccessDeniedError) as raised:
        client.get("event/")

    assert str(raised.value) == (
        "Close answered HTTP 403 on GET /event/: Forbidden for you"
    )
    assert (raised.value.status, raised.value.path) == (403, "event/")


def test_the_skip_cap_400_is_a_skip_cap_error(emu, client, clock):
    with pytest.raises(SkipCapError, match=r"max_skip = 4"):
        client.get("activity/", {"_skip": 6, "_limit": 2})

    assert clock.sleeps == []


def test_other_400s_carry_closes_own_message(emu, client):
    with pytest.raises(ApiError) as raised:
        client.get("user/", {"_limit": 5000})

    assert type(raised.value) is ApiError
    assert raised.value.status == 400
    assert "HTTP 400 on GET /user/: " in str(raised.value)
    assert "max_limit" in str(raised.value)


def test_a_400_with_field_errors_lists_them(emu, client):
    body = {"errors": [], "field-errors": {"date_created__gte": "Invalid date."}}
    emu.add_fault("/api/v1/activity/", kind="status", status=400, body=body)

    with pytest.raises(ApiError) as raised:
        client.get("activity/")

    assert str(raised.value) == (
        "Close answered HTTP 400 on GET /activity/: date_created__gte: Invalid date."
    )


def test_a_400_with_a_plain_text_body_names_status_and_endpoint(emu, client, clock):
    emu.add_fault("/api/v1/task/", kind="status", status=400, body="Bad Request")

    with pytest.raises(ApiError) as raised:
        client.get("task/", {"_type": "all"})

    assert str(raised.value) == (
        "Close answered HTTP 400 on GET /task/ with no error text"
    )
    assert clock.sleeps == []


# --- what goes on the wire -----------------------------------------------------


def test_requests_carry_basic_auth_user_agent_and_utc_offset(emu, client):
    client.get("me/")

    headers = emu.requests[-1].headers
    expected = base64.b64encode(f"{KEY}:".encode()).decode()
    assert headers["authorization"] == f"Basic {expected}"
    assert headers["user-agent"] == f"tap-closeio/{__version__}"
    assert headers["x-tz-offset"] == "0"


def test_requests_carry_exactly_the_headers_a_requests_session_sends(emu, client):
    # The client prepares requests itself (client._prepare); what reaches
    # Close must be what Session.request sent: its defaults, then ours.
    search = {"query": {"type": "object_type", "object_type": "lead"}, "_limit": 2}
    client.get("user/", {"_skip": 0, "_limit": 2})
    client.post("data/search/", search)

    get, post = emu.requests[-2].headers, emu.requests[-1].headers
    host = emu.base_url.split("/")[2]
    auth = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert get == {
        "host": host,
        "user-agent": f"tap-closeio/{__version__}",
        # requests' own (urllib3 adds br or zstd where they are installed)
        "accept-encoding": requests.utils.default_headers()["Accept-Encoding"],
        "accept": "application/json",
        "connection": "keep-alive",
        "x-tz-offset": "0",
        "authorization": auth,
    }
    assert post == {
        **get,
        "content-length": str(len(json.dumps(search))),
        "content-type": "application/json",
    }
    assert emu.requests[-2].query_string == "_skip=0&_limit=2"


def test_a_redirect_from_close_is_followed_with_the_same_auth(emu, client):
    # Close answers a path without its trailing slash with a 308.
    body = client.get("user", {"_limit": 2})

    assert body["data"] == emu.objects("user")[:2]
    assert [(r.path, r.query_string, r.status) for r in emu.requests] == [
        ("/api/v1/user", "_limit=2", 308),
        ("/api/v1/user/", "_limit=2", 200),
    ]
    auth = {r.headers["authorization"] for r in emu.requests}
    assert auth == {"Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}


def test_cookies_the_session_holds_go_with_every_request(emu, client):
    # A load balancer's cookie, say: requests sends back what it was given.
    client.get("me/")
    assert "cookie" not in emu.requests[-1].headers
    client._session().cookies.set("lb", "node-2")

    client.get("me/")
    client.get("me/")

    assert [r.headers.get("cookie") for r in emu.requests[-2:]] == ["lb=node-2"] * 2


def test_the_configured_user_agent_is_sent(emu, clock):
    with make_client(emu, clock, user_agent="acme-etl ops@acme.test") as client:
        client.get("me/")

    assert emu.requests[-1].headers["user-agent"] == "acme-etl ops@acme.test"


def test_post_sends_the_body_as_json(emu, client):
    query = {"query": {"type": "object_type", "object_type": "lead"}, "_limit": 2}

    body = client.post("data/search/", query)

    assert emu.requests[-1].method == "POST"
    assert json.loads(emu.requests[-1].body) == query
    assert len(body["data"]) <= 2


def test_every_request_is_timed_as_a_singer_metric(emu, clock, capfd):
    # NB: the client is made inside the test: it applies singer's logging
    # config once, binding its handler to the sys.stderr of that moment.
    emu.add_fault("/api/v1/user/", kind="status", status=503)
    with make_client(emu, clock) as client:
        client.get("user/")

    metrics = [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in capfd.readouterr().err.splitlines()
        if "METRIC: " in line
    ]
    assert [(m["metric"], m["tags"]) for m in metrics] == [
        (
            "http_request_duration",
            {"endpoint": "/user/", "http_status_code": 503, "status": "failed"},
        ),
        (
            "http_request_duration",
            {"endpoint": "/user/", "http_status_code": 200, "status": "succeeded"},
        ),
    ]


def test_a_proxy_named_in_the_environment_is_used(emu, clock, monkeypatch):
    # The client reads proxy settings once per session instead of on every
    # request; they must still be the environment's. The emulator serves as
    # the proxy: requests for a closed port reach it only through it.
    proxy = emu.base_url.split("/api/")[0]
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with make_client(emu, clock, base_url="http://localhost:9/api/v1/") as client:
        body = client.get("user/")

    assert body == users_body(emu)
    assert sent(emu, "/api/v1/user/") == [("/api/v1/user/", "", 200)]


def test_the_key_is_never_in_repr(emu, client):
    assert KEY not in repr(client)


# --- through a whole sync: each record exactly once -------------------------


def users_only_catalog():
    entry = {
        "tap_stream_id": "users",
        "stream": "users",
        "schema": {"type": "object", "properties": {}},
        "key_properties": ["id"],
        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
    }
    return {"streams": [entry]}


@pytest.mark.parametrize(
    ("faults", "waits"),
    [
        ([{"kind": "status", "status": 429, "body": RATE_BODY}], [1.0]),
        (
            [
                {"kind": "status", "status": 502, "on_request": 1},
                {"kind": "status", "status": 503, "on_request": 2},
            ],
            [1, 2],
        ),
    ],
    ids=["429-rate-reset", "502-503"],
)
def test_a_sync_through_faults_emits_each_user_once(emu, client, clock, faults, waits):
    for fault in faults:
        emu.add_fault("/api/v1/user/", **fault)
    out = io.StringIO()

    sync.run_sync(client, client_config(emu), users_only_catalog(), {}, out=out)

    records = [
        m["record"]["id"]
        for m in map(json.loads, out.getvalue().splitlines())
        if m["type"] == "RECORD"
    ]
    assert sorted(records) == sorted(user["id"] for user in emu.objects("user"))
    assert len(records) == len(set(records))
    assert clock.sleeps == waits
    queries = {r.query_string for r in emu.requests}
    assert len(queries) == 1  # every try was the same request


def client_config(emu):
    return load_config(
        {"api_key": KEY, "start_date": "2020-01-01", "base_url": emu.base_url}, {}
    )
