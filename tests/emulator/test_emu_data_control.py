"""The clock, add/update/delete, mutations, and the generated data's shape."""

from emu_helpers import get, ids, lead

from close_emulator import Emulator
from close_emulator.timefmt import to_utc


def test_clock_is_fixed_settable_and_advances(emulator_factory):
    emu = emulator_factory(size="empty", now="2024-05-01T12:00:00Z")

    assert emu.now.isoformat() == "2024-05-01T12:00:00+00:00"
    emu.advance(90)
    assert emu.now.isoformat() == "2024-05-01T12:01:30+00:00"
    emu.set_now("2024-06-01T00:00:00.5+02:00")
    assert emu.now.isoformat() == "2024-05-31T22:00:00.500000+00:00"


def test_add_keeps_the_record_as_given(emulator_factory):
    emu = emulator_factory(size="empty")
    crafted = lead("lead_x", "2024-04-02T00:00:00+00:00")

    served = emu.add("lead", crafted)

    assert served == {
        **crafted,
        "organization_id": served["organization_id"],
        "contacts": [],
        "opportunities": [],
        "tasks": [],
    }
    assert get(emu, "lead/lead_x/").json() == served


def test_update_moves_date_updated_and_logs_an_event(emulator_factory):
    emu = emulator_factory(size="empty", now="2024-05-01T12:00:00+00:00")
    emu.add("lead", lead("lead_x", "2024-04-02T00:00:00+00:00"))
    emu.set_now("2024-05-01T13:00:00.250+00:00")

    updated = emu.update("lead", "lead_x", name="Renamed")

    assert updated["date_updated"] == "2024-05-01T13:00:00.250000+00:00"
    assert updated["name"] == "Renamed"
    newest = get(emu, "event/", _limit=1).json()["data"][0]
    assert (newest["object_id"], newest["action"]) == ("lead_x", "updated")
    assert newest["changed_fields"] == ["date_updated", "name"]
    assert newest["previous_data"] == {
        "name": "lead_x",
        "date_updated": "2024-04-02T00:00:00+00:00",
    }
    assert newest["date_updated"] == "2024-05-01T13:00:00.250000"


def test_child_update_moves_the_lead_and_embeds_the_change(emulator_factory):
    emu = emulator_factory(size="empty", now="2024-05-01T12:00:00+00:00")
    emu.add("lead", lead("lead_x", "2024-04-02T00:00:00+00:00"))
    emu.add("contact", {"id": "cont_1", "lead_id": "lead_x", "name": "A"})
    emu.add("task", {"id": "task_1", "lead_id": "lead_x", "is_complete": False})
    emu.set_now("2024-05-02T00:00:00+00:00")

    emu.update("contact", "cont_1", name="B")
    emu.update("task", "task_1", is_complete=True)

    served = get(emu, "lead/lead_x/").json()
    assert served["date_updated"] == "2024-05-02T00:00:00+00:00"
    assert [c["name"] for c in served["contacts"]] == ["B"]
    assert served["tasks"] == []
    lead_events = [e for e in emu.objects("event") if e["object_type"] == "lead"]
    assert [e["action"] for e in lead_events] == ["created"]


def test_delete_removes_a_lead_with_its_children(emulator_factory):
    emu = emulator_factory(size="empty")
    emu.add("lead", lead("lead_x", "2024-04-02T00:00:00+00:00"))
    emu.add("contact", {"id": "cont_1", "lead_id": "lead_x"})

    emu.delete("lead", "lead_x")

    assert (emu.objects("lead"), emu.objects("contact")) == ([], [])
    assert get(emu, "lead/lead_x/").status_code == 404
    deleted = [e["object_id"] for e in emu.objects("event") if e["action"] == "deleted"]
    assert deleted == ["cont_1", "lead_x"]


def test_mutate_is_deterministic_and_visible_incrementally(emulator_factory):
    one = emulator_factory(size="tiny", seed=3)
    two = emulator_factory(size="tiny", seed=3)
    before = one.now

    summary = one.mutate()

    assert summary == two.mutate()
    assert one.objects("lead") == two.objects("lead")
    assert (one.now - before).total_seconds() == 86400
    assert summary["lead"] and summary["activity"] and summary["event"]
    query = f'date_updated >= "{before.isoformat()}" sort:date_updated'
    changed = ids(get(one, "lead/", query=query))
    assert set(summary["lead"]) <= set(changed)
    new = ids(get(one, "activity/", date_created__gte=before.isoformat(), _limit=100))
    assert set(summary["activity"]) <= set(new)


def test_generation_is_deterministic_per_seed():
    first = Emulator(seed=5, size="tiny")
    again = Emulator(seed=5, size="tiny")
    other = Emulator(seed=6, size="tiny")

    assert first.objects("activity") == again.objects("activity")
    assert first.objects("lead") != other.objects("lead")


def test_timestamps_take_closes_forms(emulator_factory):
    emu = Emulator(size="small")
    stamps = [a["date_created"] for a in emu.objects("activity")]
    stamps += [lead["date_updated"] for lead in emu.objects("lead")]

    for stamp in stamps:
        assert stamp.endswith("+00:00")
        fraction = stamp[19:-6]
        assert fraction == "" or (len(fraction) == 7 and fraction != ".000000")
    assert any(stamp[10:] == "T00:00:00+00:00" for stamp in stamps)
    assert any(
        stamp[16:] == ":00+00:00" and stamp[11:16] != "00:00" for stamp in stamps
    )
    assert sum(to_utc(stamp) > emu.now for stamp in stamps) >= 2


def test_generated_shapes_cover_types_and_awkward_values():
    emu = Emulator(size="small")
    leads = emu.objects("lead")
    custom_values = [
        v for lead in leads for k, v in lead.items() if k.startswith("custom.cf_")
    ]

    types = {type(value).__name__ for value in custom_values}
    assert types >= {"str", "int", "float", "list", "NoneType", "bool", "dict"}
    assert all(isinstance(lead["custom"], dict) for lead in leads)
    assert any(lead["description"] == "" for lead in leads)
    assert any(lead["contacts"] == [] for lead in leads)
    assert any(lead["tasks"] for lead in leads)
    assert all(not task["is_complete"] for lead in leads for task in lead["tasks"])
    assert {a["_type"] for a in emu.objects("activity")} == {
        "Note",
        "Call",
        "Email",
        "EmailThread",
        "SMS",
        "Meeting",
        "WhatsAppMessage",
        "CustomActivity",
        "Created",
        "FormSubmission",
        "LeadStatusChange",
        "OpportunityStatusChange",
        "LeadMerge",
        "TaskCompleted",
    }
    assert len({t["_type"] for t in emu.objects("task")}) == 9
    fields = emu.objects("custom_field_lead")
    assert {f["type"] for f in fields} == {
        "text",
        "number",
        "date",
        "datetime",
        "choices",
        "user",
        "contact",
        "custom_object",
        "textarea",
        "hidden",
    }
    won = [o["date_won"] for o in emu.objects("opportunity") if o["date_won"]]
    assert won and all(len(day) == 10 for day in won)
    event = emu.objects("event")[0]
    assert set(event) >= {"data", "previous_data", "changed_fields", "meta"}


def test_size_dict_sets_counts():
    emu = Emulator(size={"leads": 7, "activities": 9, "tasks": 0})

    assert (len(emu.objects("lead")), len(emu.objects("activity"))) == (7, 9)
    assert emu.objects("task") == []


def test_leads_embed_exactly_their_children_and_incomplete_tasks():
    emu = Emulator(size="small")
    contacts, opps = emu.objects("contact"), emu.objects("opportunity")
    tasks = emu.objects("task")

    for served in emu.objects("lead"):
        rid = served["id"]
        assert served["contacts"] == [c for c in contacts if c["lead_id"] == rid]
        assert served["opportunities"] == [o for o in opps if o["lead_id"] == rid]
        assert served["tasks"] == [
            t for t in tasks if t["lead_id"] == rid and not t["is_complete"]
        ]


def test_event_consolidation_folds_quick_updates(emulator_factory):
    emu = emulator_factory(
        size="empty", now="2024-05-01T12:00:00+00:00", event_consolidation=60
    )
    emu.add("lead", lead("lead_x", "2024-04-02T00:00:00+00:00"))
    emu.advance(100)
    emu.update("lead", "lead_x", name="B")
    emu.advance(30)
    emu.update("lead", "lead_x", description="d")
    emu.advance(61)
    emu.update("lead", "lead_x", name="C")

    updates = [e for e in emu.objects("event") if e["action"] == "updated"]
    folded, later = updates
    assert (folded["date_created"], folded["date_updated"]) == (
        "2024-05-01T12:01:40",
        "2024-05-01T12:02:10",
    )
    assert folded["changed_fields"] == ["date_updated", "description", "name"]
    assert folded["previous_data"] == {
        "name": "lead_x",
        "date_updated": "2024-04-02T00:00:00+00:00",
        "description": None,
    }
    assert folded["data"]["description"] == "d"
    assert later["previous_data"]["name"] == "B"


def test_a_lead_is_updated_no_earlier_than_its_embedded_children():
    emu = Emulator(size="small")
    emu.mutate()

    for served in emu.objects("lead"):
        lead_moment = to_utc(served["date_updated"])
        children = served["contacts"] + served["opportunities"] + served["tasks"]
        for child in children:
            assert to_utc(child["date_updated"]) <= lead_moment, served["id"]
