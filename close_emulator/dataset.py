"""Leads with their contacts, opportunities and tasks, then activities and
events: the bulk of a generated data set, built from one Generator."""

from datetime import datetime, timedelta

from close_emulator.generator import (
    ACTIVITY_TYPES,
    COMPANY,
    EVENT_KEEP_DAYS,
    SPAN_DAYS,
    SUFFIX,
    TASK_TYPES,
    Generator,
    _full_name,
    resolve_size,
)
from close_emulator.timefmt import format_date, format_naive, format_ts, record_moment

KINDS = [
    "user",
    "custom_field_lead",
    "custom_field_contact",
    "custom_field_opportunity",
    "custom_field_activity",
    "lead_status",
    "opportunity_status",
    "pipeline",
    "lead",
    "contact",
    "opportunity",
    "task",
    "activity",
    "event",
]
ACTIVITY_OBJECT_TYPES = {
    "Note": "activity.note",
    "Call": "activity.call",
    "Email": "activity.email",
    "EmailThread": "activity.email_thread",
    "SMS": "activity.sms",
    "Meeting": "activity.meeting",
    "WhatsAppMessage": "activity.whatsapp_message",
    "CustomActivity": "activity.custom_activity",
    "Created": "activity.created",
    "FormSubmission": "activity.form_submission",
    "LeadStatusChange": "activity.lead_status_change",
    "OpportunityStatusChange": "activity.opportunity_status_change",
    "LeadMerge": "activity.lead_merge",
    "TaskCompleted": "activity.task_completed",
}


def generate(seed: int, size: str | dict, now: datetime) -> dict[str, list[dict]]:
    """The whole data set, kind -> records in creation order."""
    counts = resolve_size(size)
    gen = Generator(seed, now)
    data = gen.build_org(counts["users"])
    leads, contacts, opps = build_leads(gen, counts["leads"])
    data.update(lead=leads, contact=contacts, opportunity=opps)
    data["task"] = build_tasks(gen, leads, counts["tasks"])
    data["activity"] = build_activities(gen, leads, counts["activities"])
    data["event"] = build_events(gen, data, counts.get("events"))
    for kind in KINDS:
        data.setdefault(kind, [])
    return data


def tie_size(count: int) -> int:
    """How many records share one timestamp: more than a 100-record page
    when the set is big enough, a handful otherwise."""
    if count >= 250:
        return min(130, count // 2)
    return count // 4


def build_leads(gen: Generator, n: int) -> tuple[list, list, list]:
    start = gen.now - timedelta(days=SPAN_DAYS)
    created = sorted(
        gen.moment_between(start, gen.now - timedelta(hours=1)) for _ in range(n)
    )
    tie = tie_size(n)
    tie_moment = gen.now - timedelta(days=7, hours=3, microseconds=-250000)
    leads, contacts, opps = [], [], []
    for index, moment in enumerate(created):
        lead = make_lead(gen, index, moment)
        updated = gen.moment_between(moment, gen.now)
        if index < tie:
            updated = max(tie_moment, moment)
        elif index in (n - 1, n - 2):
            # NB: Close shows future timestamps now and then (tap-closeio 1.6.4).
            updated = gen.now + timedelta(hours=2 + 70 * (n - 1 - index))
        lead["date_updated"] = format_ts(updated)
        lead_contacts = [
            make_contact(gen, lead, moment)
            for _ in range(gen.rng.choice([0, 1, 1, 2, 3]))
        ]
        contact_ids = [contact["id"] for contact in lead_contacts]
        gen.custom_values("lead", lead, contact_ids)
        contacts.extend(lead_contacts)
        opps.extend(
            make_opp(gen, lead, lead_contacts, moment)
            for _ in range(gen.rng.choice([0, 0, 1, 2]))
        )
        leads.append(lead)
    return leads, contacts, opps


def make_lead(gen: Generator, index: int, moment: datetime) -> dict:
    name = f"{gen.rng.choice(COMPANY)} {gen.rng.choice(SUFFIX)}".strip()
    status = gen.rng.choice(gen.lead_statuses)
    lead_id = gen.new_id("lead")
    lead = {
        "id": lead_id,
        "name": name if index % 17 else "",
        "display_name": name or "Untitled",
        "description": gen.rng.choice(["", None, "Met at the fair.\nFollow up."]),
        "url": gen.rng.choice([None, "https://example.com", ""]),
        "html_url": f"https://app.close.com/lead/{lead_id}/",
        "status_id": status["id"],
        "status_label": status["label"],
        "addresses": [],
        "integration_links": [],
        "source": None,
    }
    if index % 3 == 0:
        lead["addresses"] = [
            {
                "label": "business",
                "address_1": f"{index} Main St",
                "address_2": "",
                "city": "Springfield",
                "state": "IL",
                "zipcode": "62701",
                "country": "US",
            }
        ]
    if index % 5 == 0:
        lead["integration_links"] = [
            {
                "name": "Search on Example",
                "url": f"https://example.com/q?lead={lead_id}",
            }
        ]
    return gen.by(lead, gen.user(), moment)


def make_contact(gen: Generator, lead: dict, moment: datetime) -> dict:
    first, last = (
        gen.rng.choice(["Ada", "Bo", "Cy", "Di"]),
        gen.rng.choice(["Roe", "Poe"]),
    )
    n = gen.rng.randint(0, 2)
    contact = {
        "id": gen.new_id("cont"),
        "lead_id": lead["id"],
        "name": f"{first} {last}" if n else "",
        "display_name": f"{first} {last}" if n else "",
        "title": gen.rng.choice(["", None, "CEO", "Head of Ops"]),
        "emails": [
            {
                "type": "office",
                "email": f"{first.lower()}{i}@example.com",
                "is_unsubscribed": i == 1,
            }
            for i in range(n)
        ],
        "phones": [
            {
                "type": "mobile",
                "phone": f"+1555555{i:04d}",
                "phone_formatted": f"+1 555-555-{i:04d}",
                "country": "US",
            }
            for i in range(gen.rng.randint(0, 1))
        ],
        "urls": [{"type": "url", "url": "https://example.org"}] if n == 2 else [],
        "integration_links": [],
        "timezone": None,
    }
    gen.by(contact, gen.user(), moment)
    contact["date_updated"] = format_ts(
        gen.moment_between(moment, lead_until(gen, lead))
    )
    gen.custom_values("contact", contact, [])
    return contact


def make_opp(
    gen: Generator, lead: dict, contacts: list[dict], moment: datetime
) -> dict:
    status = gen.rng.choice(gen.opp_statuses)
    pipe = next(p for p in gen.pipelines if p["id"] == status["pipeline_id"])
    user = gen.user()
    contact = gen.rng.choice(contacts) if contacts else None
    value = gen.rng.choice([0, 50000, 123456, 99, None])
    until = lead_until(gen, lead)
    won = gen.moment_between(moment, until) if status["type"] == "won" else None
    opp = {
        "id": gen.new_id("oppo"),
        "lead_id": lead["id"],
        "lead_name": lead["display_name"],
        "contact_id": contact["id"] if contact else None,
        "contact_name": contact["name"] if contact else None,
        "user_id": user["id"],
        "user_name": _full_name(user),
        "status_id": status["id"],
        "status_label": status["label"],
        "status_type": status["type"],
        "status_display_name": status["label"],
        "pipeline_id": pipe["id"],
        "pipeline_name": pipe["name"],
        "value": value,
        "value_period": gen.rng.choice(["one_time", "monthly", "annual"]),
        "value_currency": "USD",
        "value_formatted": f"${(value or 0) / 100:,.2f}",
        "expected_value": (value or 0) // 2,
        "annualized_value": value,
        "annualized_expected_value": (value or 0) // 2,
        "confidence": gen.rng.choice([0, 50, 100]),
        "note": gen.rng.choice(["", "Budget approved."]),
        "date_won": format_date(won) if won else None,
        "date_lost": None,
        "is_stalled": False,
        "attachments": [],
    }
    gen.by(opp, user, moment)
    opp["date_updated"] = format_ts(gen.moment_between(moment, lead_until(gen, lead)))
    gen.custom_values("opportunity", opp, [contact["id"]] if contact else [])
    return opp


def build_tasks(gen: Generator, leads: list[dict], n: int) -> list[dict]:
    if not leads:
        return []
    tasks = []
    tie = tie_size(n)
    tie_moment = gen.now - timedelta(days=3, minutes=-17)
    for index in range(n):
        lead = leads[gen.rng.randrange(len(leads))]
        kind = TASK_TYPES[index % len(TASK_TYPES)] if index % 2 else "lead"
        until = lead_until(gen, lead)
        moment = gen.moment_between(record_moment(lead["date_created"]), until)
        task = make_task(gen, lead, kind, moment, until)
        if index < tie:
            # Done tasks are not embedded in their lead, so their date_updated
            # may pass the lead's.
            task["is_complete"] = True
            task["date_updated"] = format_ts(max(tie_moment, moment))
        tasks.append(task)
    tasks.sort(key=lambda task: record_moment(task["date_created"]))
    return tasks


def lead_until(gen: Generator, lead: dict) -> datetime:
    """The latest a child of `lead` may have changed: Close moves a lead's
    date_updated when its contacts, opportunities or tasks change."""
    return min(record_moment(lead["date_updated"]), gen.now)


def make_task(
    gen: Generator,
    lead: dict,
    kind: str,
    moment: datetime,
    until: datetime | None = None,
) -> dict:
    """A task created at `moment`; an open one last changed by `until`."""
    user = gen.user()
    due = gen.moment_between(moment, gen.now + timedelta(days=20))
    dateless = gen.rng.random() < 0.1
    task = {
        "id": gen.new_id("task"),
        "_type": kind,
        "lead_id": lead["id"],
        "lead_name": lead["display_name"],
        "contact_id": None,
        "contact_name": None,
        "assigned_to": user["id"],
        "assigned_to_name": _full_name(user),
        "text": gen.rng.choice(["Call back", "", "Send the quote ✉"]),
        "date": None
        if dateless
        else gen.rng.choice([format_date(due), format_ts(due)]),
        "due_date": None if dateless else format_date(due),
        "is_complete": gen.rng.random() < 0.3,
        "is_dateless": dateless,
        "view": gen.rng.choice(["inbox", "future", "archive"]),
        "object_type": None,
        "object_id": None,
    }
    if kind in ("incoming_email", "email_followup"):
        task.update(emails=[], subject="Re: quote", body_preview="Thanks!")
    if kind in ("missed_call", "answered_detached_call", "voicemail", "outgoing_call"):
        task.update(phone="+15555550100", local_phone="+15555550199")
    if kind == "voicemail":
        task.update(voicemail_url="https://example.com/vm.mp3", voicemail_duration=12)
    if kind == "opportunity_due":
        task.update(opportunity_id=None, opportunity_value=None)
    if kind == "incoming_sms":
        task.update(sms_id=None, text="Are you there?")
    gen.by(task, user, moment)
    last = gen.now if task["is_complete"] or until is None else max(until, moment)
    task["date_updated"] = format_ts(gen.moment_between(moment, last))
    return task


def build_activities(gen: Generator, leads: list[dict], n: int) -> list[dict]:
    if not leads:
        return []
    acts = []
    tie = tie_size(n)
    tie_moment = gen.now - timedelta(days=2, hours=5)
    for index in range(n):
        lead = leads[gen.rng.randrange(len(leads))]
        kind = ACTIVITY_TYPES[index % len(ACTIVITY_TYPES)]
        lead_created = record_moment(lead["date_created"])
        moment = gen.moment_between(lead_created, gen.now)
        if index < tie:
            moment = max(tie_moment, lead_created)
        elif index in (n - 1, n - 2):
            moment = gen.now + timedelta(minutes=30 + index % 7)
        acts.append(make_activity(gen, lead, kind, moment))
    acts.sort(key=lambda act: record_moment(act["date_created"]))
    return acts


def make_activity(gen: Generator, lead: dict, kind: str, moment: datetime) -> dict:
    user = gen.user()
    act = {
        "id": gen.new_id("acti"),
        "_type": kind,
        "lead_id": lead["id"],
        "contact_id": None,
        "user_id": user["id"],
        "user_name": _full_name(user),
        "users": [],
        "activity_at": format_ts(moment),
    }
    act.update(activity_fields(gen, kind, moment))
    gen.by(act, user, moment)
    if gen.rng.random() < 0.2:
        act["date_updated"] = format_ts(gen.moment_between(moment, gen.now))
    if kind == "CustomActivity":
        gen.custom_values("activity", act, [])
        del act["custom"]
    return act


def activity_fields(gen: Generator, kind: str, moment: datetime) -> dict:
    """The type-specific part of an activity."""
    return _ACTIVITY_BUILDERS[kind](gen, moment)


def _note(gen: Generator, moment: datetime) -> dict:
    note = gen.rng.choice(["", "Spoke briefly."])
    return {"note": note, "note_html": "<p></p>", "attachments": []}


def _call(gen: Generator, moment: datetime) -> dict:
    rng = gen.rng
    return {
        "direction": rng.choice(["inbound", "outbound"]),
        "status": rng.choice(["completed", "no-answer", "busy"]),
        "duration": rng.choice([0, 37, 600]),
        "phone": "+15555550101",
        "local_phone": "+15555550199",
        "remote_phone": "+15555550101",
        "recording_url": None,
        "voicemail_url": None,
        "disposition": rng.choice([None, "answered", "vm-left"]),
        "note": "",
        # NB: a real call's cost came back as the string "2" (samples).
        "cost": rng.choice([None, "2", 0]),
        "source": "Close.io",
    }


def _email(gen: Generator, moment: datetime) -> dict:
    rng = gen.rng
    direction = rng.choice(["inbound", "outbound"])
    return {
        "subject": rng.choice(["Quote", "", "Ré: 見積もり"]),
        "direction": direction,
        "status": rng.choice(["sent", "draft", "inbox", "scheduled"]),
        "sender": rng.choice([None, "Ada <ada@example.com>"]),
        "to": ["bo@example.com"],
        "cc": [],
        "bcc": [],
        "body_text": "Hello,\nsee attached.",
        "body_html": "<p>Hello,</p>",
        "attachments": [],
        "opens": [],
        "template_id": None,
        "thread_id": None,
        "date_sent": format_ts(moment) if direction == "outbound" else None,
    }


def _email_thread(gen: Generator, moment: datetime) -> dict:
    return {
        "latest_normalized_subject": gen.rng.choice(["Quote", ""]),
        "n_emails": gen.rng.randint(1, 6),
        "participants": [],
        "emails": [],
    }


def _sms(gen: Generator, moment: datetime) -> dict:
    rng = gen.rng
    return {
        "direction": rng.choice(["inbound", "outbound"]),
        "status": rng.choice(["sent", "inbox", "error"]),
        "text": rng.choice(["", "On my way 👍"]),
        "local_phone": "+15555550199",
        "remote_phone": "+15555550102",
        "date_sent": format_ts(moment),
        "attachments": [],
    }


def _meeting(gen: Generator, moment: datetime) -> dict:
    return {
        "title": "Demo",
        "starts_at": format_ts(moment),
        "ends_at": format_ts(moment + timedelta(minutes=30)),
        "duration": 1800,
        "location": None,
        "attendees": [],
        "is_recurring": False,
        "status": "completed",
    }


def _whatsapp(gen: Generator, moment: datetime) -> dict:
    return {
        "direction": gen.rng.choice(["inbound", "outbound"]),
        "external_whatsapp_message_id": f"wamid.{gen.rng.randrange(10**9)}",
        "message_markdown": "*hi*",
        "attachments": [],
    }


def _custom(gen: Generator, moment: datetime) -> dict:
    status = gen.rng.choice(["draft", "published"])
    return {"custom_activity_type_id": "actitype_emulator0001", "status": status}


def _created(gen: Generator, moment: datetime) -> dict:
    return {"source": gen.rng.choice(["Close.io", "API", ""])}


def _form(gen: Generator, moment: datetime) -> dict:
    return {"form_id": "form_emulator0001", "form_name": "Contact us", "fields": []}


def _lead_status(gen: Generator, moment: datetime) -> dict:
    old, new = gen.rng.sample(gen.lead_statuses, 2)
    return {
        "old_status_id": old["id"],
        "old_status_label": old["label"],
        "new_status_id": new["id"],
        "new_status_label": new["label"],
    }


def _opp_status(gen: Generator, moment: datetime) -> dict:
    old, new = gen.rng.sample(gen.opp_statuses, 2)
    return {
        "opportunity_id": None,
        "old_status_id": old["id"],
        "old_status_label": old["label"],
        "old_status_type": old["type"],
        "new_status_id": new["id"],
        "new_status_label": new["label"],
        "new_status_type": new["type"],
        "opportunity_value": 50000,
        "opportunity_value_currency": "USD",
        "opportunity_value_formatted": "$500",
    }


def _merge(gen: Generator, moment: datetime) -> dict:
    return {"source_lead_id": gen.new_id("lead"), "destination_lead_id": None}


def _task_completed(gen: Generator, moment: datetime) -> dict:
    task_id = gen.new_id("task")
    return {"task_id": task_id, "task_text": "Call back", "task_assigned_to": None}


_ACTIVITY_BUILDERS = {
    "Note": _note,
    "Call": _call,
    "Email": _email,
    "EmailThread": _email_thread,
    "SMS": _sms,
    "Meeting": _meeting,
    "WhatsAppMessage": _whatsapp,
    "CustomActivity": _custom,
    "Created": _created,
    "FormSubmission": _form,
    "LeadStatusChange": _lead_status,
    "OpportunityStatusChange": _opp_status,
    "LeadMerge": _merge,
    "TaskCompleted": _task_completed,
}


def object_type(kind: str, record: dict) -> str:
    """The event log's object_type for a record of a store kind."""
    if kind == "activity":
        return ACTIVITY_OBJECT_TYPES.get(record.get("_type"), "activity")
    if kind == "task":
        return f"task.{record.get('_type', 'lead')}"
    return kind


def make_event(
    gen: Generator,
    kind: str,
    record: dict,
    action: str,
    moment: datetime,
    previous: dict | None = None,
) -> dict:
    """One event log entry; envelope timestamps naive, millisecond precise."""
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    changed = sorted(previous) if previous and action == "updated" else []
    return {
        "id": gen.new_id("ev"),
        "date_created": format_naive(moment),
        "date_updated": format_naive(moment),
        "organization_id": gen.org_id,
        "user_id": record.get("updated_by"),
        "request_id": gen.new_id("req"),
        "api_key_id": None,
        "oauth_client_id": None,
        "oauth_scope": None,
        "object_type": object_type(kind, record),
        "object_id": record.get("id"),
        "lead_id": record["id"] if kind == "lead" else record.get("lead_id"),
        "action": action,
        "changed_fields": changed,
        "data": None if action == "deleted" else dict(record),
        "previous_data": dict(record) if action == "deleted" else (previous or {}),
        "meta": {
            "request_method": "POST" if action == "created" else "PUT",
            "request_path": "/api/v1/",
        },
    }


def build_events(gen: Generator, data: dict, limit: int | None) -> list[dict]:
    """created/updated events for what changed in the last 30 days (and a
    little older, which the endpoint must hide), oldest first; the newest
    `limit` of them when a limit is given."""
    since = gen.now - timedelta(days=EVENT_KEEP_DAYS + 3)
    due = []
    for kind in ("lead", "contact", "opportunity", "task", "activity"):
        for record in data.get(kind, []):
            created = record_moment(record["date_created"])
            updated = record_moment(record["date_updated"])
            if since <= created <= gen.now:
                due.append((created, kind, record, "created"))
            if since <= updated <= gen.now and updated > created:
                due.append((updated, kind, record, "updated"))
    due.sort(key=lambda item: item[0])
    if limit is not None:
        due = due[len(due) - limit :] if limit else []
    events = []
    for moment, kind, record, action in due:
        previous = (
            {"date_updated": record["date_created"]} if action == "updated" else None
        )
        events.append(make_event(gen, kind, record, action, moment, previous))
    return events
