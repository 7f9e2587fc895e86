"""The event log's cursor paging and retention, and POST /data/search/."""

from datetime import timedelta

from emu_helpers import client, get, ids, lead

from close_emulator.timefmt import format_naive, to_utc

NOW = "2024-05-01T12:00:00+00:00"


def event(rid: str, moment) -> dict:
    stamp = format_naive(moment)
    return {
        "id": rid,
        "object_type": "lead",
        "action": "updated",
        "date_created": stamp,
        "date_updated": stamp,
    }


def events_emulator(emulator_factory, count: int):
    emu = emulator_factory(size="empty", now=NOW)
    start = to_utc(NOW) - timedelta(days=40)
    for index in range(count):
        emu.add("event", event(f"ev_{index:03d}", start + timedelta(days=index % 40)))
    return emu


def test_event_cursor_walks_newest_first_in_pages_of_50(emulator_factory):
    emu = events_emulator(emulator_factory, 120)
    kept = [
        e["id"]
        for e in sorted(
            emu.objects("event"),
            key=lambda e: (to_utc(e["date_updated"]), e["id"]),
            reverse=True,
        )
        if to_utc(e["date_created"]) >= to_utc(NOW) - timedelta(days=30)
    ]

    seen, cursor, pages = [], None, 0
    while True:
        body = (
            get(emu, "event/", _cursor=cursor).json()
            if cursor
            else get(emu, "event/").json()
        )
        assert "has_more" not in body
        seen += [e["id"] for e in body["data"]]
        pages += 1
        cursor = body["cursor_next"]
        if cursor is None:
            break

    assert seen == kept
    assert len(kept) == 90
    assert pages == 2


def test_event_limit_above_50_is_400_and_skip_is_refused(emulator_factory):
    emu = events_emulator(emulator_factory, 3)

    assert get(emu, "event/", _limit=51).json() == {
        "error": "The limit you set is larger than the maximum limit for this "
        "resource (max_limit = 50)."
    }
    assert get(emu, "event/", _skip=0).status_code == 400


def test_event_date_filters_ride_in_the_cursor(emulator_factory):
    emu = events_emulator(emulator_factory, 40)
    since = format_naive(to_utc(NOW) - timedelta(days=10))

    first = get(emu, "event/", date_updated__gte=since, _limit=4).json()
    second = get(emu, "event/", _cursor=first["cursor_next"], _limit=4).json()
    rest = get(emu, "event/", _cursor=second["cursor_next"], _limit=4).json()

    assert [e["id"] for e in first["data"]] == ["ev_039", "ev_038", "ev_037", "ev_036"]
    assert [e["id"] for e in second["data"]] == ["ev_035", "ev_034", "ev_033", "ev_032"]
    assert [e["id"] for e in rest["data"]] == ["ev_031", "ev_030"]
    assert rest["cursor_next"] is None
    assert second["cursor_previous"] is not None


def test_retention_follows_the_clock(emulator_factory):
    emu = events_emulator(emulator_factory, 40)

    before = ids(get(emu, "event/"))
    emu.advance(5 * 86400)
    after = ids(get(emu, "event/"))

    assert (len(before), before[-1]) == (30, "ev_010")
    assert (len(after), after[-1]) == (25, "ev_015")


def test_event_timestamps_are_naive(emulator_factory):
    emu = emulator_factory(size="tiny")

    body = get(emu, "event/").json()

    assert body["data"]
    for item in body["data"]:
        assert "+" not in item["date_updated"]
        assert to_utc(item["date_updated"]) <= emu.now


def search_body(**extra) -> dict:
    query = {
        "type": "and",
        "queries": [
            {"type": "object_type", "object_type": "lead"},
            {
                "type": "field_condition",
                "field": {
                    "type": "regular_field",
                    "object_type": "lead",
                    "field_name": "date_updated",
                },
                "condition": {
                    "type": "moment_range",
                    "on_or_after": {
                        "type": "fixed_utc",
                        "value": "2024-04-02T00:00:00Z",
                    },
                },
            },
        ],
    }
    sort = [
        {
            "direction": "asc",
            "field": {
                "type": "regular_field",
                "object_type": "lead",
                "field_name": "date_updated",
            },
        }
    ]
    return {"query": query, "sort": sort, **extra}


def test_search_filters_sorts_and_pages_by_cursor(emulator_factory):
    emu = emulator_factory(size="empty")
    for day in (1, 4, 2, 3):
        emu.add("lead", lead(f"lead_{day}", f"2024-04-0{day}T00:00:00+00:00"))
    post = client(emu).post

    first = post(emu.base_url + "data/search/", json=search_body(_limit=2)).json()
    second = post(
        emu.base_url + "data/search/",
        json=search_body(_limit=2, cursor=first["cursor"]),
    ).json()
    fields = post(
        emu.base_url + "data/search/",
        json=search_body(_fields={"lead": ["id", "date_updated"]}),
    ).json()

    assert first["data"] == [
        {"__object_type": "lead", "id": "lead_2"},
        {"__object_type": "lead", "id": "lead_3"},
    ]
    assert (second["data"], second["cursor"]) == (
        [{"__object_type": "lead", "id": "lead_4"}],
        None,
    )
    assert fields["data"][0] == {
        "id": "lead_2",
        "date_updated": "2024-04-02T00:00:00+00:00",
    }


def test_search_without_query_is_a_field_error(emulator_factory):
    emu = emulator_factory(size="empty")

    response = client(emu).post(emu.base_url + "data/search/", json={})

    assert response.status_code == 400
    assert response.json() == {
        "errors": [],
        "field-errors": {"query": "This field is required."},
    }


def test_event_walk_holds_its_place_while_newer_events_arrive(emulator_factory):
    emu = events_emulator(emulator_factory, 40)
    first = get(emu, "event/", _limit=10).json()

    emu.update("event", "ev_039", date_updated=format_naive(emu.now))
    emu.add("event", event("ev_new", emu.now))
    second = get(emu, "event/", _cursor=first["cursor_next"], _limit=10).json()
    back = get(emu, "event/", _cursor=second["cursor_previous"], _limit=10).json()

    assert ids_of(first) == [f"ev_{n:03d}" for n in range(39, 29, -1)]
    assert ids_of(second) == [f"ev_{n:03d}" for n in range(29, 19, -1)]
    assert ids_of(back) == [f"ev_{n:03d}" for n in range(39, 29, -1)]


def ids_of(body: dict) -> list[str]:
    return [item["id"] for item in body["data"]]


def test_non_admin_view_drops_data_of_events_older_than_an_hour(emulator_factory):
    emu = emulator_factory(size="empty", now=NOW, event_data_hours=1)
    recent = to_utc(NOW) - timedelta(minutes=59)
    old = to_utc(NOW) - timedelta(minutes=61)
    emu.add("event", {**event("ev_new", recent), "data": {"a": 1}, "previous_data": {}})
    emu.add("event", {**event("ev_old", old), "data": {"a": 2}, "previous_data": {}})

    new, aged = get(emu, "event/").json()["data"]

    assert (new["id"], new["data"], new["previous_data"]) == ("ev_new", {"a": 1}, {})
    assert aged["id"] == "ev_old"
    assert "data" not in aged and "previous_data" not in aged
