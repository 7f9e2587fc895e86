"""Each filter and ordering, against records crafted on an empty set."""

from emu_helpers import get, ids, lead

BASE = "2024-04-10T10:"


def leads_emulator(emulator_factory):
    emu = emulator_factory(size="empty")
    for rid, updated in [
        ("lead_a", BASE + "14:59.999000+00:00"),
        ("lead_b", BASE + "15:42.500000+00:00"),
        ("lead_c", BASE + "16:00+00:00"),
    ]:
        emu.add("lead", lead(rid, updated))
    return emu


def lead_query(emu, text: str) -> list[str]:
    return ids(get(emu, "lead/", query=text + " sort:date_updated"))


def test_lead_query_compares_at_minute_precision(emulator_factory):
    emu = leads_emulator(emulator_factory)

    assert lead_query(emu, f'date_updated>="{BASE}15:59"') == ["lead_b", "lead_c"]
    assert lead_query(emu, f'date_updated > "{BASE}15:30"') == ["lead_c"]
    assert lead_query(emu, f'date_updated<"{BASE}15:30"') == ["lead_a"]
    assert lead_query(emu, f'date_updated <= "{BASE}15:30"') == ["lead_a", "lead_b"]
    assert lead_query(emu, "date_updated >= 2024-04-10") == [
        "lead_a",
        "lead_b",
        "lead_c",
    ]


def test_lead_query_sorts(emulator_factory):
    emu = leads_emulator(emulator_factory)
    emu.add("lead", lead("lead_d", BASE + "00:00+00:00", created="2024-04-12"))

    assert ids(get(emu, "lead/", query="sort:-date_updated")) == [
        "lead_c",
        "lead_b",
        "lead_a",
        "lead_d",
    ]
    assert ids(get(emu, "lead/", query="sort:-created"))[0] == "lead_d"
    assert ids(get(emu, "lead/", query="sort:updated"))[0] == "lead_d"


def test_lead_query_total_results_counts_matches(emulator_factory):
    emu = leads_emulator(emulator_factory)

    body = get(emu, "lead/", query=f'date_updated >= "{BASE}15"', _limit=1).json()

    assert (body["total_results"], body["has_more"]) == (2, True)


def test_unsupported_lead_query_is_400(emulator_factory):
    emu = leads_emulator(emulator_factory)

    response = get(emu, "lead/", query="name:foo")

    assert response.status_code == 400
    assert "Unsupported lead query term" in response.json()["error"]


def activities_emulator(emulator_factory, **options):
    emu = emulator_factory(size="empty", **options)
    for rid, kind, created in [
        ("acti_1", "Call", "2024-04-01T00:00:00+00:00"),
        ("acti_2", "Note", "2024-04-01T00:00:00.000500+00:00"),
        ("acti_3", "Call", "2024-04-02T12:30:00.250000+00:00"),
        ("acti_4", "LeadStatusChange", "2024-04-03T00:00:00+00:00"),
    ]:
        emu.add(
            "activity",
            {"id": rid, "_type": kind, "lead_id": "lead_x", "date_created": created},
        )
    return emu


def test_activity_date_filters_read_any_iso_form(emulator_factory):
    emu = activities_emulator(emulator_factory)

    def query(**params):
        return sorted(ids(get(emu, "activity/", **params)))

    assert query(date_created__gt="2024-04-01T00:00:00") == [
        "acti_2",
        "acti_3",
        "acti_4",
    ]
    assert query(date_created__gte="2024-04-01T00:00:00Z") == [
        "acti_1",
        "acti_2",
        "acti_3",
        "acti_4",
    ]
    assert query(date_created__lt="2024-04-02T14:30:00.250+02:00") == [
        "acti_1",
        "acti_2",
    ]
    assert query(date_created__lte="2024-04-02T12:30:00.250000+0000") == [
        "acti_1",
        "acti_2",
        "acti_3",
    ]
    assert query(date_created__gte="2024-04-02", date_created__lt="2024-04-03") == [
        "acti_3"
    ]


def test_bad_date_value_is_a_field_error(emulator_factory):
    emu = activities_emulator(emulator_factory)

    response = get(emu, "activity/", date_created__gt="yesterday")

    assert response.status_code == 400
    assert response.json()["field-errors"] == {
        "date_created__gt": "Not a valid datetime."
    }


def test_activity_order_default_desc_switchable_and_by_param(emulator_factory):
    desc = activities_emulator(emulator_factory)
    asc = activities_emulator(emulator_factory, activity_order="asc")

    assert ids(get(desc, "activity/")) == ["acti_4", "acti_3", "acti_2", "acti_1"]
    assert ids(get(asc, "activity/")) == ["acti_1", "acti_2", "acti_3", "acti_4"]
    assert ids(get(desc, "activity/", _order_by="date_created"))[0] == "acti_1"
    assert get(desc, "activity/", _order_by="date_updated").status_code == 400


def test_activity_type_filters_and_typed_paths(emulator_factory):
    emu = activities_emulator(emulator_factory)

    assert ids(get(emu, "activity/", _type="Call")) == ["acti_3", "acti_1"]
    assert ids(get(emu, "activity/", _type__in="Note,LeadStatusChange")) == [
        "acti_4",
        "acti_2",
    ]
    assert ids(get(emu, "activity/call/")) == ["acti_3", "acti_1"]
    assert ids(get(emu, "activity/status_change/lead/")) == ["acti_4"]
    assert get(emu, "activity/nonsense/").status_code == 404
    assert get(emu, "activity/acti_2/").json()["_type"] == "Note"


def test_activity_lead_id_filter(emulator_factory):
    emu = activities_emulator(emulator_factory)
    emu.add("activity", {"id": "acti_9", "_type": "Note", "lead_id": "lead_y"})

    assert ids(get(emu, "activity/", lead_id="lead_y")) == ["acti_9"]


def tasks_emulator(emulator_factory):
    emu = emulator_factory(size="empty")
    for rid, kind, created, updated in [
        ("task_1", "lead", "2024-04-01T00:00:00+00:00", "2024-04-05T00:00:00+00:00"),
        (
            "task_2",
            "email_followup",
            "2024-04-02T00:00:00+00:00",
            "2024-04-02T00:00:00+00:00",
        ),
        (
            "task_3",
            "missed_call",
            "2024-04-03T00:00:00+00:00",
            "2024-04-06T00:00:00+00:00",
        ),
    ]:
        emu.add(
            "task",
            {
                "id": rid,
                "_type": kind,
                "lead_id": "lead_x",
                "date": created[:10],
                "date_created": created,
                "date_updated": updated,
            },
        )
    return emu


def test_tasks_without_type_are_lead_tasks_only(emulator_factory):
    emu = tasks_emulator(emulator_factory)

    assert ids(get(emu, "task/")) == ["task_1"]
    assert ids(get(emu, "task/", _type="all")) == ["task_1", "task_2", "task_3"]
    assert ids(get(emu, "task/", _type="missed_call")) == ["task_3"]
    assert ids(get(emu, "task/", _type__in="lead,email_followup")) == [
        "task_1",
        "task_2",
    ]


def test_task_date_filters_and_order(emulator_factory):
    emu = tasks_emulator(emulator_factory)

    assert ids(get(emu, "task/", _type="all", date_updated__gte="2024-04-05")) == [
        "task_1",
        "task_3",
    ]
    assert ids(get(emu, "task/", _type="all", date_created__lt="2024-04-02")) == [
        "task_1"
    ]
    assert ids(get(emu, "task/", _type="all", _order_by="-date")) == [
        "task_3",
        "task_2",
        "task_1",
    ]
    assert get(emu, "task/", _order_by="date_updated").status_code == 400


def test_opportunity_filters_order_and_totals(emulator_factory):
    emu = emulator_factory(size="empty")
    for rid, updated, value in [
        ("oppo_1", "2024-04-03T00:00:00+00:00", 500),
        ("oppo_2", "2024-04-01T00:00:00+00:00", 700),
    ]:
        emu.add(
            "opportunity",
            {
                "id": rid,
                "lead_id": "lead_x",
                "value": value,
                "value_period": "one_time",
                "date_created": "2024-03-01T00:00:00+00:00",
                "date_updated": updated,
            },
        )

    body = get(
        emu, "opportunity/", date_updated__gte="2024-04-01", _order_by="date_updated"
    ).json()
    later = get(emu, "opportunity/", date_updated__gt="2024-04-01").json()

    assert [o["id"] for o in body["data"]] == ["oppo_2", "oppo_1"]
    assert (body["total_results"], body["total_value_one_time"]) == (2, 1200)
    assert [o["id"] for o in later["data"]] == ["oppo_1"]


def test_contacts_filter_by_lead(emulator_factory):
    emu = emulator_factory(size="tiny")
    contact = emu.objects("contact")[0]
    expected = [
        c["id"] for c in emu.objects("contact") if c["lead_id"] == contact["lead_id"]
    ]

    assert ids(get(emu, "contact/", lead_id=contact["lead_id"])) == expected


def test_single_activity_under_its_typed_path(emulator_factory):
    emu = activities_emulator(emulator_factory)

    assert get(emu, "activity/call/acti_3/").json()["id"] == "acti_3"
    assert get(emu, "activity/acti_1/").json()["id"] == "acti_1"
    assert get(emu, "activity/acti_missing/").status_code == 404


def test_activity_secondary_filters(emulator_factory):
    emu = emulator_factory(size="empty")
    for rid, user, at in [
        ("acti_a", "user_1", "2024-04-05T00:00:00+00:00"),
        ("acti_b", "user_2", "2024-04-01T00:00:00+00:00"),
        ("acti_c", "user_1", "2024-04-03T00:00:00+00:00"),
    ]:
        emu.add(
            "activity",
            {
                "id": rid,
                "_type": "Note",
                "lead_id": "lead_x",
                "user_id": user,
                "activity_at": at,
                "date_created": "2024-04-10T00:00:00+00:00",
            },
        )

    def query(**params):
        return ids(get(emu, "activity/", **params))

    assert query(user_id="user_1", _order_by="date_created") == ["acti_a", "acti_c"]
    assert query(id__in="acti_b,acti_c", _order_by="date_created") == [
        "acti_b",
        "acti_c",
    ]
    assert query(activity_at__gte="2024-04-03", _order_by="-activity_at") == [
        "acti_a",
        "acti_c",
    ]
    assert query(_order_by="activity_at") == ["acti_b", "acti_c", "acti_a"]


def test_task_secondary_filters(emulator_factory):
    emu = emulator_factory(size="empty")
    for rid, done, who in [
        ("task_1", False, "user_1"),
        ("task_2", True, "user_1"),
        ("task_3", False, "user_2"),
    ]:
        emu.add(
            "task",
            {"id": rid, "_type": "lead", "is_complete": done, "assigned_to": who},
        )

    assert ids(get(emu, "task/", is_complete="false")) == ["task_1", "task_3"]
    assert ids(get(emu, "task/", is_complete="true")) == ["task_2"]
    assert ids(get(emu, "task/", assigned_to="user_1")) == ["task_1", "task_2"]


def test_opportunity_order_by_value_and_user_filter(emulator_factory):
    emu = emulator_factory(size="empty")
    for rid, value, user in [("oppo_1", 300, "u1"), ("oppo_2", 100, "u2")]:
        emu.add(
            "opportunity",
            {"id": rid, "lead_id": "lead_x", "value": value, "user_id": user},
        )

    assert ids(get(emu, "opportunity/", _order_by="value")) == ["oppo_2", "oppo_1"]
    assert ids(get(emu, "opportunity/", _order_by="-value")) == ["oppo_1", "oppo_2"]
    assert ids(get(emu, "opportunity/", user_id="u2")) == ["oppo_2"]
    assert get(emu, "opportunity/", _order_by="name").status_code == 400
