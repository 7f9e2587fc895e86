"""Offset paging, its caps and their messages, ties across pages."""

from emu_helpers import get, ids

from close_emulator.timefmt import to_utc


def test_pages_walk_every_activity_once_newest_first(emulator_factory):
    emu = emulator_factory(size="tiny")
    expected = [
        a["id"]
        for a in sorted(
            emu.objects("activity"),
            key=lambda a: (to_utc(a["date_created"]), a["id"]),
            reverse=True,
        )
    ]

    seen, skip, more = [], 0, True
    while more:
        body = get(emu, "activity/", _skip=skip, _limit=7).json()
        seen += [record["id"] for record in body["data"]]
        more, skip = body["has_more"], skip + 7

    assert seen == expected
    assert len(expected) == 40


def test_has_more_is_false_on_the_exact_last_page(emulator_factory):
    emu = emulator_factory(size={"leads": 10})

    last = get(emu, "lead/", _skip=5, _limit=5).json()
    beyond = get(emu, "lead/", _skip=10, _limit=5).json()

    assert (last["has_more"], len(last["data"]), last["total_results"]) == (
        False,
        5,
        10,
    )
    assert (beyond["has_more"], beyond["data"]) == (False, [])


def test_limit_zero_counts_leads(emulator_factory):
    emu = emulator_factory(size={"leads": 10})

    body = get(emu, "lead/", _limit=0).json()

    assert (body["total_results"], body["data"]) == (10, [])


def test_limit_above_max_is_400_with_closes_message(emulator_factory):
    emu = emulator_factory(size="tiny", max_limit=5)

    response = get(emu, "activity/", _limit=6)

    assert response.status_code == 400
    assert response.json() == {
        "error": "The limit you set is larger than the maximum limit for this "
        "resource (max_limit = 5)."
    }
    assert get(emu, "activity/", _limit=5).status_code == 200


def test_default_limit_follows_a_smaller_max(emulator_factory):
    emu = emulator_factory(size="tiny", max_limit=5)

    assert len(get(emu, "activity/").json()["data"]) == 5


def test_skip_above_max_is_400_with_closes_message(emulator_factory):
    emu = emulator_factory(size="tiny", max_skip=10)

    response = get(emu, "activity/email/", _skip=11)

    assert response.status_code == 400
    assert response.json() == {
        "error": "The skip you set is larger than the maximum skip for this "
        "resource (max_skip = 10). Please refine your search query."
    }
    assert get(emu, "activity/email/", _skip=10).status_code == 200


def test_bad_skip_is_a_field_error(emulator_factory):
    emu = emulator_factory(size="tiny")

    response = get(emu, "lead/", _skip="x")

    assert response.status_code == 400
    assert response.json() == {
        "errors": [],
        "field-errors": {"_skip": "Not a valid integer."},
    }


def test_small_set_has_more_than_a_page_of_activities_on_one_timestamp(
    emulator_factory,
):
    emu = emulator_factory(size="small")
    counts: dict = {}
    for activity in emu.objects("activity"):
        counts[activity["date_created"]] = counts.get(activity["date_created"], 0) + 1

    assert max(counts.values()) > 100


def test_more_than_a_page_of_tied_leads_pages_without_loss(emulator_factory):
    emu = emulator_factory(size="small")
    leads = emu.objects("lead")
    stamps = [lead["date_updated"] for lead in leads]
    tied = max(set(stamps), key=stamps.count)
    # The query compares whole minutes: it starts at the tie's minute.
    since = to_utc(tied).replace(second=0, microsecond=0)
    ordered = sorted(leads, key=lambda item: (to_utc(item["date_updated"]), item["id"]))
    expected = [lead["id"] for lead in ordered if to_utc(lead["date_updated"]) >= since]
    query = f'date_updated >= "{since.isoformat()}" sort:date_updated'

    first = ids(get(emu, "lead/", query=query, _limit=100))
    second = ids(get(emu, "lead/", query=query, _skip=100, _limit=100))
    rest = ids(get(emu, "lead/", query=query, _skip=200, _limit=100))

    assert stamps.count(tied) > 100
    assert first + second + rest == expected


def test_dimension_lists_have_no_paging_keys(emulator_factory):
    emu = emulator_factory(size="tiny")

    for path, kind in [
        ("status/lead/", "lead_status"),
        ("status/opportunity/", "opportunity_status"),
        ("pipeline/", "pipeline"),
    ]:
        body = get(emu, path).json()
        assert list(body) == ["data"]
        assert body["data"] == emu.objects(kind)
