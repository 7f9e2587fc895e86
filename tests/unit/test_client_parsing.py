"""Pure parts of the client: rate-limit headers, 429 waits, Close's error
texts, recognising the skip cap, the retry schedule."""

import itertools

import pytest

from tap_closeio.client import (
    Budget,
    RetryPolicy,
    close_error_text,
    is_skip_cap,
    parse_budget,
    rate_limit_wait,
)

MAX_SKIP_TEXT = (
    "The skip you set is larger than the maximum skip for this resource "
    "(max_skip = 250000). Please refine your search query."
)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"RateLimit": "limit=100, remaining=0, reset=0.417"}, Budget(0, 0.417, 100)),
        ({"ratelimit": "limit=600, remaining=42, reset=12"}, Budget(42, 12.0, 600)),
        ({"RATELIMIT": "reset=3.5,remaining=7,limit=10"}, Budget(7, 3.5, 10)),
        (
            {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "0.417"},
            Budget(0, 0.417),
        ),
        (
            {
                "x-rate-limit-limit": "20",
                "x-rate-limit-remaining": "5",
                "x-rate-limit-reset": "2",
            },
            Budget(5, 2.0, 20),
        ),
        ({}, Budget(None, None)),
        ({"RateLimit": "garbage"}, Budget(None, None)),
        ({"X-Rate-Limit-Reset": "soon"}, Budget(None, None)),
    ],
)
def test_parse_budget_reads_both_header_styles_in_any_case(headers, expected):
    assert parse_budget(headers) == expected


def test_the_ratelimit_header_wins_over_the_deprecated_pair():
    headers = {
        "RateLimit": "limit=100, remaining=3, reset=1.5",
        "X-Rate-Limit-Remaining": "0",
        "X-Rate-Limit-Reset": "9",
        "X-Rate-Limit-Limit": "600",
    }

    assert parse_budget(headers) == Budget(3, 1.5, 100)


RATE_BODY = {
    "error": {
        "rate_reset": 1,
        "message": "API call count exceeded for this 15 second window",
        "rate_limit": 600,
        "rate_window": 15,
    }
}


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, RATE_BODY, 1.0),
        ({"ratelimit": "limit=100, remaining=0, reset=0.417"}, None, 0.417),
        ({"Retry-After": "2"}, None, 2.0),
        ({"retry-after": "2"}, {"error": "Too many requests"}, 2.0),
        ({"X-Rate-Limit-Reset": "0.25"}, None, 0.25),
        ({}, {"rate_reset": 3}, 3.0),
        ({"Retry-After": "1", "RateLimit": "remaining=0, reset=0.417"}, None, 1.0),
        ({}, None, None),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, None),
        ({}, {"error": "Too many requests"}, None),
    ],
)
def test_rate_limit_wait_takes_the_longest_hint_or_none(headers, body, expected):
    assert rate_limit_wait(headers, body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "not found"}, "not found"),
        ({"error": {"message": "exceeded", "rate_reset": 1}}, "exceeded"),
        ({"errors": ["bad query"], "field-errors": {}}, "bad query"),
        (
            {"errors": [], "field-errors": {"_limit": "too big", "query": "bad"}},
            "_limit: too big; query: bad",
        ),
        ({"errors": ["a"], "field-errors": {"b": "c"}}, "a; b: c"),
        ({"data": []}, None),
        ("plain text", None),
        (None, None),
    ],
)
def test_close_error_text_uses_closes_own_words(body, expected):
    assert close_error_text(body) == expected


@pytest.mark.parametrize(
    ("text", "params", "expected"),
    [
        (MAX_SKIP_TEXT, {"_skip": "250100"}, True),
        (MAX_SKIP_TEXT, None, True),
        ("_skip: ensure this value is less than or equal to 250000", None, True),
        ("ensure this value is less than or equal to 250000", {"_skip": 300}, True),
        ("ensure this value is less than or equal to 100", {"_limit": 500}, False),
        ("ensure this value is less than or equal to 100", {"_skip": "0"}, False),
        (
            "The limit you set is larger than the maximum limit (max_limit = 100)",
            {},
            False,
        ),
        ("Invalid query", {"_skip": 200}, False),
        (None, {"_skip": 200}, False),
    ],
)
def test_is_skip_cap_recognises_both_wordings(text, params, expected):
    assert is_skip_cap(text, params) is expected


def test_retry_policy_waits_double_from_one_second_up_to_the_cap():
    waits = RetryPolicy(max_wait=10).waits()

    assert list(itertools.islice(waits, 6)) == [1, 2, 4, 8, 10, 10]


def test_each_call_of_waits_starts_the_schedule_again():
    policy = RetryPolicy()
    first = policy.waits()
    next(first), next(first)

    assert next(policy.waits()) == 1
