"""Deterministic Close data: users, custom fields, leads and their children,
activities, tasks and events, with the awkward cases placed on purpose."""

import base64
import random
from datetime import datetime, timedelta

from close_emulator.timefmt import format_date, format_ts

SIZES: dict[str, dict[str, int]] = {
    "empty": {"users": 1, "leads": 0, "activities": 0, "tasks": 0},
    "tiny": {"users": 3, "leads": 12, "activities": 40, "tasks": 16},
    "small": {"users": 5, "leads": 250, "activities": 800, "tasks": 200},
    "demo": {"users": 8, "leads": 2000, "activities": 8000, "tasks": 1500},
    "large": {
        "users": 20,
        "leads": 20000,
        "activities": 200000,
        "tasks": 20000,
        "events": 50000,
    },
}
SPAN_DAYS = 60
EVENT_KEEP_DAYS = 30

ACTIVITY_TYPES = [
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
]
TASK_TYPES = [
    "lead",
    "incoming_email",
    "email_followup",
    "missed_call",
    "answered_detached_call",
    "voicemail",
    "opportunity_due",
    "incoming_sms",
    "outgoing_call",
]
FIELD_TYPES = [
    ("text", False),
    ("number", False),
    ("date", False),
    ("datetime", False),
    ("choices", False),
    ("choices", True),
    ("user", False),
    ("contact", False),
    ("custom_object", False),
    ("textarea", False),
    ("hidden", False),
]
FIRST = ["Ada", "Bea", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jon"]
LAST = ["Moe", "Roe", "Poe", "Doe", "Koe", "Foe", "Zoe", "Loe", "Noe", "Toe"]
COMPANY = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Wonka"]
SUFFIX = ["Inc.", "LLC", "GmbH", "Ltd", "S.A.", "Söhne & Co", "株式会社", ""]
_NO_SYMBOLS = bytes.maketrans(b"+/", b"Xk")


def resolve_size(size: str | dict) -> dict[str, int]:
    """Counts for a size name or a dict of counts (missing ones from tiny)."""
    if isinstance(size, dict):
        counts = {"users": 3, "leads": 0, "activities": 0, "tasks": 0}
        counts.update({key: int(value) for key, value in size.items()})
        return counts
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: one of {sorted(SIZES)}")
    return dict(SIZES[size])


class Generator:
    """Builds one data set; every choice comes from one seeded Random."""

    def __init__(self, seed: int, now: datetime, org_id: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.org_id = org_id or self.new_id("orga")
        self.users: list[dict] = []
        self.fields: dict[str, list[dict]] = {}
        self.lead_statuses: list[dict] = []
        self.pipelines: list[dict] = []
        self.opp_statuses: list[dict] = []

    # ids and moments

    def new_id(self, prefix: str) -> str:
        """`<prefix>_` and 43 letters and digits, like Close's ids."""
        raw = base64.b64encode(self.rng.getrandbits(256).to_bytes(32, "big"))
        return prefix + "_" + raw[:43].translate(_NO_SYMBOLS).decode()

    def moment_between(self, start: datetime, end: datetime) -> datetime:
        """A random moment in [start, end] at millisecond precision; about one
        in twelve sits exactly on a whole day, minute or second."""
        span = max((end - start).total_seconds(), 0.0)
        moment = start + timedelta(milliseconds=int(self.rng.random() * span * 1000))
        roll = self.rng.random()
        if roll < 0.02:
            moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        elif roll < 0.05:
            moment = moment.replace(second=0, microsecond=0)
        elif roll < 0.08:
            moment = moment.replace(microsecond=0)
        return max(moment, start) if moment < start else moment

    def user(self) -> dict:
        return self.rng.choice(self.users)

    def by(self, record: dict, user: dict | None, moment: datetime) -> dict:
        """Fill the audit fields every Close object carries."""
        stamp = format_ts(moment)
        record.update(
            organization_id=self.org_id,
            date_created=stamp,
            date_updated=stamp,
            created_by=user["id"] if user else None,
            created_by_name=_full_name(user) if user else None,
            updated_by=user["id"] if user else None,
            updated_by_name=_full_name(user) if user else None,
        )
        return record

    # the organisation

    def build_org(self, n_users: int) -> dict[str, list[dict]]:
        start = self.now - timedelta(days=400)
        for index in range(max(n_users, 1)):
            self.users.append(self.make_user(index, start))
        self.build_statuses(start)
        data = {
            "user": self.users,
            "lead_status": self.lead_statuses,
            "opportunity_status": self.opp_statuses,
            "pipeline": self.pipelines,
        }
        for obj in ("lead", "contact", "opportunity", "activity"):
            self.fields[obj] = self.make_fields(obj, start)
            data["custom_field_" + obj] = self.fields[obj]
        return data

    def make_user(self, index: int, start: datetime) -> dict:
        first, last = FIRST[index % 10], LAST[(index * 3) % 10]
        created = self.moment_between(start, start + timedelta(days=30))
        user = {
            "id": self.new_id("user"),
            "first_name": first,
            "last_name": last if index % 4 != 3 else "",
            "email": f"{first.lower()}.{index}@example.com",
            "email_verified_at": format_ts(created) if index % 5 != 4 else None,
            "image": f"https://example.com/avatar/{index}.png",
            "last_used_timezone": "America/New_York" if index % 2 else None,
            "organizations": [self.org_id],
            "date_created": format_ts(created),
            "date_updated": format_ts(created + timedelta(days=index)),
        }
        return user

    def build_statuses(self, start: datetime) -> None:
        for label in ("Potential", "Bad Fit", "Qualified", "Customer"):
            self.lead_statuses.append(
                {
                    "id": self.new_id("stat"),
                    "label": label,
                    "organization_id": self.org_id,
                }
            )
        for name in ("Sales", "Renewals"):
            pipe = {"id": self.new_id("pipe"), "name": name, "statuses": []}
            pipe["organization_id"] = self.org_id
            self.by(pipe, self.users[0], start)
            for label, kind in (("Active", "active"), ("Won", "won"), ("Lost", "lost")):
                status = {
                    "id": self.new_id("stat"),
                    "label": f"{label}" if name == "Sales" else f"{name} {label}",
                    "type": kind,
                    "status_type": kind,
                    "pipeline_id": pipe["id"],
                    "organization_id": self.org_id,
                }
                pipe["statuses"].append(dict(status))
                self.opp_statuses.append(status)
            self.pipelines.append(pipe)

    def make_fields(self, obj: str, start: datetime) -> list[dict]:
        fields = []
        for index, (kind, multiple) in enumerate(FIELD_TYPES):
            field = {
                "id": self.new_id("cf"),
                "name": f"{obj.title()} {kind}{' multi' if multiple else ''}",
                "description": "" if index % 3 else None,
                "type": kind,
                "choices": ["Red", "Green", "Blüe"] if kind == "choices" else None,
                "accepts_multiple_values": multiple,
                "editable_with_roles": [],
                "is_shared": False,
            }
            if obj == "activity":
                field["custom_activity_type_id"] = "actitype_emulator0001"
                field["required"] = index == 0
            fields.append(self.by(field, self.users[0], start + timedelta(days=index)))
        return fields

    def custom_values(self, obj: str, record: dict, contact_ids: list[str]) -> None:
        """Top-level custom.cf_* keys plus the legacy custom dict by name."""
        legacy = {}
        for field in self.fields[obj]:
            value = self.custom_value(field, contact_ids)
            if value is _UNSET:
                continue
            record["custom." + field["id"]] = value
            if value is not None:
                legacy[field["name"]] = value
        record["custom"] = legacy

    def custom_value(self, field: dict, contact_ids: list[str]) -> object:
        roll = self.rng.random()
        if roll < 0.15:
            return _UNSET
        if roll < 0.22:
            return None
        kind = field["type"]
        if kind == "number":
            return self.rng.choice([self.rng.randint(-5, 10**6), 12.5, 0, 3.14159])
        if kind == "date":
            return format_date(self.now - timedelta(days=self.rng.randint(0, 900)))
        if kind == "datetime":
            return format_ts(
                self.moment_between(self.now - timedelta(days=90), self.now)
            )
        if kind == "choices" and field["accepts_multiple_values"]:
            return self.rng.sample(field["choices"], self.rng.randint(0, 3))
        if kind == "choices":
            return self.rng.choice(field["choices"])
        if kind == "user":
            return self.user()["id"]
        if kind == "contact":
            return self.rng.choice(contact_ids) if contact_ids else None
        if kind == "custom_object":
            return "custobj_" + self.new_id("x")[2:24]
        if kind == "textarea":
            return "line one\nline two — ünïcode ✓"
        if kind == "hidden":
            # NB: hidden fields hold whatever an integration wrote; this is
            # where booleans and objects show up among the custom values.
            return self.rng.choice([True, False, {"source": "import", "n": 3}, ""])
        return self.rng.choice(["", "plain text", "with \"quotes\" and 'ticks'"])


_UNSET = object()


def _full_name(user: dict) -> str:
    return f"{user['first_name']} {user['last_name']}".strip()
