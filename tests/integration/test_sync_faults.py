"""Pages that lie, Close's max_skip, records edited while the tap pages past
them, deleted documents and timeouts: nothing is lost, nothing loops."""

import threading

import pytest
from sync_harness import catalog_of, make_config, sync, tap_logs

from tap_closeio.client import CloseClient
from tap_closeio.errors import DeletedDocumentError, SkipCapExhaustedError
from tap_closeio.streams import STREAMS

NOW = "2024-05-01T12:00:00+00:00"


def add_activities(emu, moments: list[str]) -> list[str]:
    ids = []
    for number, moment in enumerate(moments):
        rid = f"acti_{number:02d}"
        emu.add("activity", {"id": rid, "_type": "Note", "date_created": moment})
        ids.append(rid)
    return ids


def add_leads(emu, moments: list[str]) -> list[str]:
    ids = []
    for number, moment in enumerate(moments):
        rid = f"lead_{number:02d}"
        emu.add("lead", {"id": rid, "date_updated": moment, "date_created": moment})
        ids.append(rid)
    return ids


HOURLY = [f"2024-04-10T{hour:02d}:00:00+00:00" for hour in range(8)]


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_skip_cap_narrows_the_window_and_every_activity_arrives(
    emulator_factory, order
):
    emu = emulator_factory(size="empty", now=NOW, max_skip=4, activity_order=order)
    ids = add_activities(emu, HOURLY)
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=1)

    result = sync(
        emu,
        config=config,
        catalog=catalog_of("activities"),
        page_sizes={"activities": 2},
    )

    assert sorted(result.ids("activities")) == ids
    assert result.state["bookmarks"]["activities"] == {
        "date_created": "2024-04-10T07:00:00.000000Z"
    }
    refused = [r.query["_skip"] for r in result.requests if r.status == 400]
    assert refused == ["5"]


def test_newest_first_narrowing_sends_the_exact_queries(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW, max_skip=4)
    add_activities(emu, HOURLY)
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=1)

    result = sync(
        emu,
        config=config,
        catalog=catalog_of("activities"),
        page_sizes={"activities": 2},
    )

    first_window = [
        (r.query.get("date_created__lt"), r.query["_skip"], r.status)
        for r in result.requests
        if r.query["date_created__gte"] == "2024-04-01T00:00:00.000000+00:00"
    ]
    window_end = "2024-04-16T00:00:00.000000+00:00"
    narrowed = "2024-04-10T02:00:01.000000+00:00"
    # Pages overlap by one record (to notice removals): a step of one here.
    assert first_window == [
        (window_end, "0", 200),
        (window_end, "1", 200),
        (window_end, "2", 200),
        (window_end, "3", 200),
        (window_end, "4", 200),
        (window_end, "5", 400),
        (narrowed, "0", 200),
        (narrowed, "1", 200),
    ]


def test_more_activities_in_one_second_than_the_cap_stops_with_a_clear_error(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW, max_skip=4)
    add_activities(emu, ["2024-04-10T00:00:00+00:00"] * 10)
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=1)

    result = sync(
        emu,
        config=config,
        catalog=catalog_of("activities"),
        page_sizes={"activities": 2},
        expect_error=True,
    )

    assert isinstance(result.error, SkipCapExhaustedError)
    assert "more records were created within one second" in str(result.error)
    assert len(result.requests) < 20
    assert "activities" not in result.last_state()["bookmarks"]


def test_more_leads_in_one_minute_than_the_cap_stops_with_a_clear_error(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW, max_skip=4)
    add_leads(emu, [f"2024-04-10T00:00:{s:02d}+00:00" for s in range(10)])

    result = sync(
        emu,
        catalog=catalog_of("leads"),
        page_sizes={"leads": 2},
        expect_error=True,
    )

    assert isinstance(result.error, SkipCapExhaustedError)
    assert "more records share the key 2024-04-10T00:00:00+00:00" in str(result.error)
    assert len(result.requests) < 20


def test_leads_page_by_keyset_so_skip_stays_small(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW, max_skip=4)
    moments = [f"2024-04-10T00:{m:02d}:00+00:00" for m in range(30)]
    ids = add_leads(emu, moments)

    result = sync(emu, catalog=catalog_of("leads"), page_sizes={"leads": 3})

    assert result.ids("leads") == ids
    assert max(int(r.query["_skip"]) for r in result.requests) <= 1
    assert result.state["bookmarks"]["leads"] == {
        "date_updated": "2024-04-10T00:29:00.000000Z"
    }


def test_has_more_with_empty_data_forever_ends_the_query(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    ids = add_leads(emu, [f"2024-04-10T00:0{m}:00+00:00" for m in (0, 5, 9)])[:2]
    emu.add_fault(
        path_prefix="/api/v1/lead/", kind="empty_has_more", on_request=2, times=None
    )

    with tap_logs() as logs:
        result = sync(emu, catalog=catalog_of("leads"), page_sizes={"leads": 2})

    assert result.ids("leads") == ids
    assert len(result.requests) < 5
    assert "WARNING leads: Close said has_more with an empty page" in logs.text


class EditingClient(CloseClient):
    """A real client that, after its `after`-th request, lets `edit` change
    Close's data: an edit made while the tap pages."""

    def __init__(self, config, edit, after: int) -> None:
        super().__init__(config, sleep=lambda seconds: None)
        self.edit, self.after, self.calls = edit, after, 0

    def get(self, path, params=None, *, page=False):
        body = super().get(path, params, page=page)
        self.calls += 1
        if self.calls == self.after:
            self.edit()
        return body


def test_lead_updated_while_paging_does_not_hide_another(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    moments = [f"2024-04-10T00:0{m}:00+00:00" for m in range(6)]
    ids = add_leads(emu, moments)
    config = make_config(emu)
    client = EditingClient(
        config, lambda: emu.update("lead", "lead_00", description="x"), after=1
    )

    result = sync(
        emu,
        config=config,
        client=client,
        catalog=catalog_of("leads"),
        page_sizes={"leads": 2},
    )

    assert result.ids("leads") == ids + ["lead_00"]
    assert result.records("leads")[-1]["description"] == "x"


def test_lead_moving_within_a_crowded_minute_does_not_hide_another(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now="2024-04-10T00:00:59+00:00")
    moments = [f"2024-04-10T00:00:{s:02d}+00:00" for s in range(12)]
    ids = add_leads(emu, moments)
    config = make_config(emu)

    def edit() -> None:
        for rid in ("lead_00", "lead_01", "lead_02"):
            emu.update("lead", rid, description="x")

    client = EditingClient(config, edit, after=2)
    result = sync(
        emu,
        config=config,
        client=client,
        catalog=catalog_of("leads"),
        page_sizes={"leads": 3},
        started=emu.now,
    )

    emitted = result.ids("leads")
    assert set(emitted) == set(ids)
    assert emitted[-3:] == ["lead_00", "lead_01", "lead_02"]


def test_deleted_document_mid_paging_is_asked_again(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    ids = add_activities(emu, HOURLY)
    emu.add_fault(
        path_prefix="/api/v1/activity/", kind="not_found_deleted", on_request=2
    )
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=1)

    with tap_logs() as logs:
        result = sync(
            emu,
            config=config,
            catalog=catalog_of("activities"),
            page_sizes={"activities": 2},
        )

    assert sorted(result.ids("activities")) == ids
    assert "asking for the page once more" in logs.text


def test_deleted_document_twice_steps_over_the_page_with_a_warning(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    ids = add_activities(emu, HOURLY)
    emu.add_fault(
        path_prefix="/api/v1/activity/", kind="not_found_deleted", on_request=2, times=2
    )
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=1)

    with tap_logs() as logs:
        result = sync(
            emu,
            config=config,
            catalog=catalog_of("activities"),
            page_sizes={"activities": 2},
        )

    # Newest first, pages overlapping by one: the page at _skip=1 held 06:00
    # (already read) and 05:00.
    assert sorted(result.ids("activities")) == [i for i in ids if i != "acti_05"]
    assert "WARNING activities [2024-04-01T00:00:00+00:00, " in logs.text
    assert "stepping over the page at _skip=1" in logs.text
    # The window has a gap, so the bookmark stays and the next run reads it.
    assert "activities" not in result.state["bookmarks"]
    assert "may have records left unread" in logs.text


def test_timed_out_window_request_is_repeated_with_its_bounds(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    ids = add_activities(emu, HOURLY)
    emu.add_fault(path_prefix="/api/v1/activity/", kind="delay", seconds=1.0)
    config = make_config(
        emu, "2024-04-01T00:00:00Z", concurrency=1, request_timeout=0.3
    )

    result = sync(emu, config=config, catalog=catalog_of("activities"))

    assert sorted(result.ids("activities")) == ids
    first = {
        "date_created__gte": "2024-04-01T00:00:00.000000+00:00",
        "date_created__lt": "2024-04-16T00:00:00.000000+00:00",
        "_skip": "0",
        "_limit": "100",
    }
    # NB: the emulator logs the held request once it has answered it, which
    # is after the client gave up on it.
    queries = wait_for_requests(emu, len(result.requests) + 1)
    assert all("date_created__gte" in q for q in queries)
    assert queries.count(first) == 2


def wait_for_requests(emu, count: int) -> list[dict]:
    for _ in range(100):
        if len(emu.requests) >= count:
            break
        threading.Event().wait(0.05)
    return [r.query for r in emu.requests]


def test_deleted_document_twice_in_the_event_log_fails_without_a_bookmark(
    emulator_factory,
):
    emu = emulator_factory(size="tiny", now=NOW)
    emu.add_fault(
        path_prefix="/api/v1/event/", kind="not_found_deleted", on_request=2, times=2
    )

    result = sync(emu, catalog=catalog_of("event_log"), expect_error=True)

    # NB: a cursor walk cannot step over a page, and stopping early would
    # lose the older events; so the run fails and the bookmark stays.
    assert isinstance(result.error, DeletedDocumentError)
    assert "event_log" not in result.last_state()["bookmarks"]


def test_deleted_document_twice_while_paging_leads_loses_nothing(
    emulator_factory,
):
    emu = emulator_factory(size="empty", now=NOW)
    ids = add_leads(emu, [f"2024-04-10T00:0{m}:00+00:00" for m in range(6)])
    emu.add_fault(
        path_prefix="/api/v1/lead/", kind="not_found_deleted", on_request=2, times=2
    )

    result = sync(emu, catalog=catalog_of("leads"), page_sizes={"leads": 2})

    # The step lands past a record not yet seen, which the keyset check
    # notices: the minute is read again and nothing is lost.
    assert result.ids("leads") == ids
    assert [(r.query["_skip"], r.status) for r in result.requests] == [
        ("0", 200),
        ("0", 404),
        ("0", 404),
        ("2", 200),
        ("0", 200),
        ("0", 200),
        ("0", 200),
        ("0", 200),
    ]


def test_activities_removed_while_paging_do_not_hide_others(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW)
    ids = add_activities(emu, [f"2024-04-10T0{hour}:00:00+00:00" for hour in range(9)])
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=1)

    def remove_two_already_read() -> None:
        emu.delete("activity", "acti_07")
        emu.delete("activity", "acti_06")

    client = EditingClient(config, remove_two_already_read, after=1)
    with tap_logs() as logs:
        result = sync(
            emu,
            config=config,
            client=client,
            catalog=catalog_of("activities"),
            page_sizes={"activities": 3},
        )

    # Newest first: 08, 07 and 06 were read, then two of them went away and
    # 05 moved up to where the next page began; the query is read again.
    assert set(result.ids("activities")) == set(ids)
    assert "the result moved up while paging at _skip=2" in logs.text


@pytest.mark.parametrize("stream", ["leads", "activities"])
def test_every_page_deleted_fails_the_run_instead_of_looping(emulator_factory, stream):
    emu = emulator_factory(size="empty", now=NOW)
    add_leads(emu, [f"2024-04-10T00:0{m}:00+00:00" for m in range(6)])
    add_activities(emu, HOURLY)
    path = {"leads": "/api/v1/lead/", "activities": "/api/v1/activity/"}[stream]
    emu.add_fault(path_prefix=path, kind="not_found_deleted", on_request=2, times=None)
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=1)

    result = sync(
        emu,
        config=config,
        catalog=catalog_of(stream),
        page_sizes={stream: 2},
        expect_error=True,
    )

    assert isinstance(result.error, DeletedDocumentError)
    assert len(result.requests) < 40
    assert stream not in result.last_state()["bookmarks"]


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_a_crowded_window_is_read_in_parts_side_by_side_exactly_once(
    emulator_factory, order
):
    emu = emulator_factory(size="empty", now=NOW, activity_order=order)
    moments = [
        f"2024-04-{2 + n // 30:02d}T{(n % 30) // 2:02d}:{(n * 7) % 60:02d}:00+00:00"
        for n in range(300)
    ]
    ids = add_activities(emu, moments)
    config = make_config(emu, "2024-04-01T00:00:00Z", concurrency=4)

    result = sync(
        emu,
        config=config,
        catalog=catalog_of("activities"),
        page_sizes={"activities": 20},
    )

    assert sorted(result.ids("activities")) == sorted(ids)
    uppers = {r.query.get("date_created__lt") for r in result.requests}
    assert len(uppers) > 4  # the window's own bounds, and its parts'
    assert result.state["bookmarks"]["activities"] == {
        "date_created": "2024-04-11T14:" + f"{(299 * 7) % 60:02d}" + ":00.000000Z"
    }


@pytest.mark.parametrize(
    "stream, path",
    [
        ("users", "/api/v1/user/"),
        ("activities", "/api/v1/activity/"),
        ("leads", "/api/v1/lead/"),
        ("tasks", "/api/v1/task/"),
    ],
)
def test_a_close_that_ignores_skip_ends_the_query_instead_of_looping(
    emulator_factory, stream, path
):
    emu = emulator_factory(size="empty", now=NOW)
    page = [
        {
            "id": "x_1",
            "date_created": "2024-04-10T01:00:00+00:00",
            "date_updated": "2024-04-10T01:00:00+00:00",
        },
        {
            "id": "x_2",
            "date_created": "2024-04-10T00:00:00+00:00",
            "date_updated": "2024-04-10T00:00:00+00:00",
        },
    ]
    body = {"has_more": True, "data": page}
    emu.add_fault(path_prefix=path, kind="status", status=200, body=body, times=None)
    config = make_config(
        emu, "2024-04-01T00:00:00Z", concurrency=1, date_window_days=60
    )

    with tap_logs() as logs:
        result = sync(emu, config=config, catalog=catalog_of(stream))

    assert sorted(set(result.ids(stream))) == ["x_1", "x_2"]
    assert len(result.requests) < 15
    assert "ending this query" in logs.text


# A 200 whose body is not a page: read as an empty last page, it let the
# bookmark pass every record after it (found by trying to break the tap).
MALFORMED_PAGES = {
    "error": ({"error": "Internal"}, "that has no 'data' list (keys: error)"),
    "empty": ({}, "that has no 'data' list (keys: none)"),
    "object": ({"data": {"id": "x"}}, "that has no 'data' list (keys: data)"),
    "numbers": ({"data": [1]}, "whose 'data' holds something other than objects"),
}
PATHS = {stream.name: stream.path for stream in STREAMS}


@pytest.mark.parametrize("stream", ["activities", "event_log", "leads", "tasks"])
@pytest.mark.parametrize("case", sorted(MALFORMED_PAGES))
def test_a_malformed_page_is_asked_again_and_nothing_is_lost(
    emulator_factory, stream, case
):
    body, problem = MALFORMED_PAGES[case]
    path = PATHS[stream]
    emu = emulator_factory(seed=3, size="tiny", now=NOW)
    config = make_config(emu, concurrency=1)
    clean = sync(emu, config=config, catalog=catalog_of(stream), page_sizes={stream: 5})
    emu.add_fault(f"/api/v1/{path}", kind="status", status=200, body=body, on_request=2)

    with tap_logs() as logs:
        result = sync(
            emu, config=config, catalog=catalog_of(stream), page_sizes={stream: 5}
        )

    assert len(clean.ids(stream)) > 10
    assert sorted(result.ids(stream)) == sorted(clean.ids(stream))
    assert result.state == clean.state
    assert len(result.requests) == len(clean.requests) + 1
    assert (
        f"WARNING Waiting 1.00 s before retrying GET /{path} (attempt 1 of 6 "
        f"failed: Close answered GET /{path} with a page {problem})"
    ) in logs.text


def test_a_page_that_stays_malformed_fails_the_run_and_keeps_the_bookmark(
    emulator_factory,
):
    emu = emulator_factory(seed=3, size="tiny", now=NOW)
    state = {"bookmarks": {"tasks": {"date_updated": "2024-01-01T00:00:00.000000Z"}}}
    emu.add_fault(
        "/api/v1/task/", kind="status", status=200, body={}, on_request=2, times=None
    )

    result = sync(
        emu,
        state,
        catalog=catalog_of("tasks"),
        page_sizes={"tasks": 5},
        expect_error=True,
    )

    assert str(result.error) == (
        "Close answered GET /task/ with a page that has no 'data' list (keys: none)"
        " (gave up after 6 attempts)"
    )
    assert len(result.ids("tasks")) == 5
    bookmarks = [s["bookmarks"]["tasks"] for s in result.states()]
    assert bookmarks == [state["bookmarks"]["tasks"]] * len(bookmarks)
