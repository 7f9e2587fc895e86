"""State: shape validation, stream order, bookmarks and fingerprinted offsets."""

import logging
from datetime import datetime, timezone

import pytest

from tap_closeio.errors import StateError
from tap_closeio.state import (
    SyncState,
    query_fingerprint,
    stream_order,
    validate_state,
)

UTC = timezone.utc
KEYS = {"leads": "date_updated", "activities": "date_created"}
ORDER = ["custom_fields", "leads", "activities", "tasks", "users", "event_log"]


@pytest.mark.parametrize(
    "state, problem",
    [
        ([], "must be a JSON object"),
        ({"currently_syncing": 3}, "currently_syncing"),
        ({"bookmarks": []}, "bookmarks must be an object"),
        ({"bookmarks": {"leads": "x"}}, "bookmarks.leads must be an object"),
        (
            {"bookmarks": {"leads": {"date_updated": "yesterday"}}},
            "bookmarks.leads.date_updated is not an ISO 8601",
        ),
        (
            {"bookmarks": {"activities": {"offset": 5}}},
            "bookmarks.activities.offset must be an object",
        ),
    ],
)
def test_wrong_shapes_raise_state_error_naming_the_problem(state, problem):
    with pytest.raises(StateError, match=problem):
        validate_state(state, KEYS)


def test_state_written_by_the_original_is_valid():
    state = {
        "currently_syncing": "activities",
        "bookmarks": {
            "leads": {"date_updated": "2024-04-30T10:00:00+00:00"},
            "activities": {
                "date_created": "2024-04-30T09:00:00Z",
                "offset": {"skip": 200},
            },
            "opportunities": {"whatever": 1},
        },
    }
    validate_state(state, KEYS)


def test_bookmarks_in_any_iso_form_read_as_the_same_instant():
    forms = [
        "2024-04-30T10:00:00+00:00",
        "2024-04-30T10:00:00Z",
        "2024-04-30T10:00:00.000000Z",
        "2024-04-30T12:00:00+02:00",
        "2024-04-30T10:00:00",
    ]
    for form in forms:
        state = SyncState({"bookmarks": {"leads": {"date_updated": form}}})
        assert state.get_bookmark("leads", "date_updated") == datetime(
            2024, 4, 30, 10, tzinfo=UTC
        )


def test_bookmark_written_in_the_one_format_and_unknown_keys_kept():
    original = {"bookmarks": {"opportunities": {"x": 1}}, "extra": True}
    state = SyncState(original)
    state.set_bookmark(
        "leads", "date_updated", datetime(2024, 4, 30, 10, 0, 5, tzinfo=UTC)
    )

    assert state.value == {
        "currently_syncing": None,
        "bookmarks": {
            "opportunities": {"x": 1},
            "leads": {"date_updated": "2024-04-30T10:00:05.000000Z"},
        },
        "extra": True,
    }
    assert original == {"bookmarks": {"opportunities": {"x": 1}}, "extra": True}


def test_offset_is_used_only_with_its_own_query(caplog):
    fingerprint = query_fingerprint("lead/", {"query": "a"})
    state = SyncState({})
    state.set_offset("leads", fingerprint, 42, [("lead_1", "2024-04-30T10:00:00Z")])

    assert state.value["bookmarks"]["leads"]["offset"] == {
        "skip": 42,
        "query": fingerprint,
        "seen": [["lead_1", "2024-04-30T10:00:00Z"]],
    }
    assert state.get_offset("leads", fingerprint) == (
        42,
        [["lead_1", "2024-04-30T10:00:00Z"]],
    )
    other = query_fingerprint("lead/", {"query": "b"})
    assert state.get_offset("leads", other) == (0, [])


def test_offset_written_by_the_original_is_ignored_with_info(caplog):
    state = SyncState({"bookmarks": {"leads": {"offset": {"skip": 200}}}})
    with caplog.at_level(logging.INFO):
        assert state.get_offset("leads", query_fingerprint("lead/", {})) == (0, [])
    assert "ignoring saved offset" in caplog.text


@pytest.mark.parametrize(
    "seen", [[1, 2], [[["lead_1"], "x"]], "lead_1", [{"id": "lead_1"}], None]
)
def test_an_offset_whose_seen_records_cannot_be_read_is_ignored(caplog, seen):
    # Resuming at the skip without them could not notice records that moved.
    fingerprint = query_fingerprint("lead/", {"query": "a"})
    offset = {"skip": 42, "query": fingerprint, "seen": seen}
    state = SyncState({"bookmarks": {"leads": {"offset": offset}}})

    with caplog.at_level(logging.INFO):
        assert state.get_offset("leads", fingerprint) == (0, [])
    assert "its 'seen' is not a list of [id, version] pairs" in caplog.text


def test_an_offset_without_seen_records_resumes_at_its_skip():
    fingerprint = query_fingerprint("lead/", {"query": "a"})
    offset = {"skip": 3, "query": fingerprint}
    state = SyncState({"bookmarks": {"leads": {"offset": offset}}})

    assert state.get_offset("leads", fingerprint) == (3, [])


def test_fingerprint_ignores_page_position_only():
    base = query_fingerprint("task/", {"a": "1", "b": 2})
    assert (
        query_fingerprint("task/", {"b": "2", "a": 1, "_skip": 9, "_limit": 5}) == base
    )
    assert query_fingerprint("task/", {"a": "1", "b": 3}) != base
    assert query_fingerprint("lead/", {"a": "1", "b": 2}) != base


def test_no_currently_syncing_keeps_the_order():
    assert stream_order(ORDER, None, ORDER) == ORDER


def test_interrupted_stream_first_then_the_rest_then_those_before():
    assert stream_order(ORDER, "tasks", ORDER) == [
        "tasks",
        "users",
        "event_log",
        "custom_fields",
        "leads",
        "activities",
    ]


def test_unknown_currently_syncing_warns_and_starts_from_the_first(caplog):
    with caplog.at_level(logging.WARNING):
        assert stream_order(ORDER, "opportunities", ORDER) == ORDER
    assert "'opportunities'" in caplog.text


def test_currently_syncing_a_deselected_stream_keeps_the_order():
    assert stream_order(["leads", "users"], "tasks", ORDER) == ["leads", "users"]


NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_bookmark_in_the_future_is_refused_when_now_is_known():
    state = {"bookmarks": {"leads": {"date_updated": "2099-01-01T00:00:00Z"}}}

    with pytest.raises(StateError, match=r"bookmarks.leads.date_updated .* future"):
        validate_state(state, KEYS, now=NOW)
    validate_state(state, KEYS)


def test_a_bookmark_less_than_a_day_ahead_is_accepted():
    state = {"bookmarks": {"leads": {"date_updated": "2024-05-02T11:00:00Z"}}}

    validate_state(state, KEYS, now=NOW)


def test_a_bookmark_under_another_key_is_warned_about(caplog):
    state = {"bookmarks": {"leads": {"updated_at": "2024-01-01T00:00:00Z"}}}

    with caplog.at_level(logging.WARNING, logger="tap_closeio.state"):
        validate_state(state, KEYS, now=NOW)

    assert [r.getMessage() for r in caplog.records] == [
        "state: bookmarks.leads has no 'date_updated' (found updated_at); "
        "leads syncs from start_date"
    ]
