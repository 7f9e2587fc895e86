"""Rate limits in each style (on a fake clock) and each fault kind."""

import pytest
import requests
from emu_helpers import client, get, ids


def names(response: requests.Response) -> set[str]:
    """The header names exactly as sent (lower case, as Close sends them)."""
    return set(response.raw.headers.keys())


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limited(emulator_factory, style: str, clock: FakeClock):
    return emulator_factory(
        size="tiny", rate_limit=(2, 1.0), rate_limit_style=style, rate_clock=clock
    )


def test_ratelimit_header_counts_down_then_429_with_retry_after(emulator_factory):
    clock = FakeClock()
    emu = limited(emulator_factory, "ratelimit", clock)

    first = get(emu, "lead/")
    clock.now += 0.25
    second = get(emu, "lead/")
    third = get(emu, "lead/")
    other_group = get(emu, "activity/")
    clock.now += 0.75
    fresh = get(emu, "lead/")

    assert first.headers["RateLimit"] == "limit=2, remaining=1, reset=1"
    assert {"ratelimit", "content-type", "content-length"} <= names(first)
    assert second.headers["RateLimit"] == "limit=2, remaining=0, reset=0.75"
    assert third.status_code == 429
    assert third.headers["RateLimit"] == "limit=2, remaining=0, reset=0.75"
    assert third.headers["Retry-After"] == "1"
    assert "retry-after" not in names(second)
    assert other_group.status_code == 200
    assert fresh.headers["RateLimit"] == "limit=2, remaining=1, reset=1"


def test_x_rate_limit_style_headers(emulator_factory):
    clock = FakeClock()
    emu = limited(emulator_factory, "x-rate-limit", clock)

    get(emu, "lead/")
    clock.now += 0.5
    second = get(emu, "lead/")
    third = get(emu, "lead/")

    assert (
        second.headers["X-Rate-Limit-Limit"],
        second.headers["X-Rate-Limit-Remaining"],
        second.headers["X-Rate-Limit-Reset"],
    ) == ("2", "0", "0.5")
    assert third.status_code == 429
    assert not {"ratelimit", "retry-after"} & names(third)


def test_body_style_429_carries_rate_reset_and_no_headers(emulator_factory):
    clock = FakeClock()
    emu = limited(emulator_factory, "body", clock)

    get(emu, "lead/")
    get(emu, "lead/")
    clock.now += 0.4
    third = get(emu, "lead/")

    assert third.status_code == 429
    assert third.json() == {
        "error": {
            "rate_reset": 0.6,
            "message": "API call count exceeded for this period",
            "rate_limit": 2,
            "rate_window": 1.0,
        }
    }
    assert not {"ratelimit", "retry-after", "x-rate-limit-reset"} & names(third)


def test_none_style_429_has_no_hint(emulator_factory):
    clock = FakeClock()
    emu = limited(emulator_factory, "none", clock)

    get(emu, "lead/")
    get(emu, "lead/")
    third = get(emu, "lead/")

    assert third.status_code == 429
    assert third.json() == {"error": "API call count exceeded for this period"}
    assert not {"ratelimit", "retry-after", "x-rate-limit-reset"} & names(third)


def test_status_fault_on_the_second_matching_request_only(emulator_factory):
    emu = emulator_factory(size="tiny")
    emu.add_fault(path_prefix="/api/v1/activity/", status=503, on_request=2)

    statuses = [get(emu, "activity/").status_code for _ in range(3)]
    lead_status = get(emu, "lead/").status_code

    assert statuses == [200, 503, 200]
    assert lead_status == 200
    assert [r.status for r in emu.requests] == [200, 503, 200, 200]


def test_status_fault_with_body_and_headers_every_second_request(emulator_factory):
    emu = emulator_factory(size="tiny")
    body = {"error": {"rate_reset": 2, "message": "slow down"}}
    emu.add_fault(
        kind="status", status=429, every=2, times=None, body=body, headers={"X-A": "b"}
    )

    responses = [get(emu, "user/") for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 429, 200, 429]
    assert responses[1].json() == body
    assert responses[1].headers["X-A"] == "b"


def test_fault_times_bounds_the_firing(emulator_factory):
    emu = emulator_factory(size="tiny")
    emu.add_fault(status=502, on_request=1, times=2)

    assert [get(emu, "user/").status_code for _ in range(3)] == [502, 502, 200]


def test_delay_fault_outlasts_a_client_timeout(emulator_factory):
    emu = emulator_factory(size="tiny")
    emu.add_fault(kind="delay", seconds=2.0)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client(emu).get(emu.base_url + "user/", timeout=0.3)
    retry = get(emu, "user/", _limit=1)

    assert retry.status_code == 200
    assert [(r.query, r.status) for r in emu.requests] == [
        ({}, 200),
        ({"_limit": "1"}, 200),
    ]


def test_truncate_fault_sends_half_a_body(emulator_factory):
    emu = emulator_factory(size="tiny")
    whole = get(emu, "user/").text
    emu.add_fault(kind="truncate")

    response = get(emu, "user/")

    assert response.status_code == 200
    assert response.text == whole[: len(whole.encode()) // 2]
    with pytest.raises(ValueError):
        response.json()


def test_drop_fault_closes_without_a_response(emulator_factory):
    emu = emulator_factory(size="tiny")
    emu.add_fault(kind="drop")

    with pytest.raises(requests.exceptions.ConnectionError):
        get(emu, "user/")

    assert emu.requests[-1].status == 0
    assert get(emu, "user/").status_code == 200


def test_empty_page_with_has_more(emulator_factory):
    emu = emulator_factory(size="tiny")
    emu.add_fault(path_prefix="/api/v1/lead/", kind="empty_has_more", on_request=2)

    first = get(emu, "lead/", _limit=5).json()
    second = get(emu, "lead/", _skip=5, _limit=5).json()

    assert len(first["data"]) == 5
    assert second == {"has_more": True, "data": []}


def test_not_found_deleted_in_the_middle_of_paging(emulator_factory):
    emu = emulator_factory(size="tiny")
    emu.add_fault(
        path_prefix="/api/v1/activity/", kind="not_found_deleted", on_request=2
    )

    first = get(emu, "activity/", _limit=5)
    second = get(emu, "activity/", _skip=5, _limit=5)
    third = get(emu, "activity/", _skip=5, _limit=5)

    assert first.status_code == 200
    assert second.status_code == 404
    assert "has been deleted" in second.json()["error"]
    every = ids(get(emu, "activity/", _limit=10))
    assert (ids(first), ids(third)) == (every[:5], every[5:])


def test_clear_faults(emulator_factory):
    emu = emulator_factory(size="tiny")
    emu.add_fault(status=500, times=None)

    emu.clear_faults()

    assert get(emu, "user/").status_code == 200
