"""The endpoints under /api/v1/: routing, filters, ordering and paging, with
page bodies spliced from each record's cached JSON text."""

import base64
import bisect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from close_emulator import query
from close_emulator.query import BadRequest, DateFilter, error
from close_emulator.store import Store
from close_emulator.timefmt import parse_value, record_moment

TYPED_ACTIVITY_PATHS = {
    "note": "Note",
    "call": "Call",
    "email": "Email",
    "emailthread": "EmailThread",
    "sms": "SMS",
    "meeting": "Meeting",
    "whatsapp_message": "WhatsAppMessage",
    "custom": "CustomActivity",
    "created": "Created",
    "form_submission": "FormSubmission",
    "status_change/lead": "LeadStatusChange",
    "status_change/opportunity": "OpportunityStatusChange",
    "lead_merge": "LeadMerge",
    "task_completed": "TaskCompleted",
}
# NB: `_type=Custom` is how a client filters custom activities (Close docs);
# the instances themselves say CustomActivity.
TYPE_ALIASES = {"Custom": "CustomActivity"}
CUSTOM_FIELD_OBJECTS = ("lead", "contact", "opportunity", "activity")
EVENT_MAX_LIMIT = 50
SEARCH_MAX_LIMIT = 200
SEARCH_WALK_CAP = 10_000
DATE_FIELDS = {"date_created", "date_updated", "date", "date_won", "activity_at"}
NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL "
    "manually please check your spelling and try again."
)


@dataclass
class Response:
    status: int
    body: str
    headers: dict = field(default_factory=dict)


def json_response(status: int, payload: object) -> Response:
    return Response(status, json.dumps(payload))


@dataclass
class Settings:
    max_limit: int = 100
    max_skip: int = 250_000
    activity_order: str = "desc"
    event_keep_days: int | None = 30
    event_data_hours: float | None = None


class Api:
    """Answers one API request from the store; knows nothing of HTTP."""

    def __init__(self, emulator: object) -> None:
        self.emu = emulator
        self.routes: list[tuple[str, re.Pattern, Callable]] = []
        self._route("GET", r"me/", self.me)
        self._route("GET", r"lead/", self.leads)
        self._route("GET", r"contact/", self.contacts)
        self._route("GET", r"opportunity/", self.opportunities)
        self._route("GET", r"activity/", self.activities)
        self._route(
            "GET", r"activity/(?P<sub>[a-z_]+(?:/lead|/opportunity)?)/", self.activities
        )
        self._route("GET", r"task/", self.tasks)
        self._route("GET", r"user/", self.users)
        self._route("GET", r"custom_field/(?P<obj>[a-z_]+)/", self.custom_fields)
        self._route("GET", r"custom_fields/(?P<obj>lead)/", self.custom_fields)
        self._route("GET", r"status/lead/", self.whole("lead_status"))
        self._route("GET", r"status/opportunity/", self.whole("opportunity_status"))
        self._route("GET", r"pipeline/", self.whole("pipeline"))
        self._route("GET", r"event/", self.events)
        self._route("POST", r"data/search/", self.search)
        for kind in ("lead", "contact", "opportunity", "task", "user", "event"):
            self._route("GET", kind + r"/(?P<rid>[A-Za-z0-9_]+)/", self.single(kind))
        self._route(
            "GET", r"activity/(?:[a-z_/]+/)?(?P<rid>acti_\w+)/", self.single("activity")
        )

    def _route(self, method: str, pattern: str, handler: Callable) -> None:
        self.routes.append((method, re.compile("^" + pattern + "$"), handler))

    @property
    def store(self) -> "Store":
        return self.emu.store

    @property
    def settings(self) -> Settings:
        return self.emu.settings

    def handle(self, method: str, path: str, params: dict, body: bytes) -> Response:
        """`path` is relative to /api/v1/ and ends with a slash."""
        allowed = False
        for route_method, pattern, handler in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            if route_method != method:
                allowed = True
                continue
            try:
                return handler(params, body, **match.groupdict())
            except BadRequest as exc:
                return json_response(400, exc.body)
        if allowed:
            return json_response(
                405, {"error": "The method is not allowed for the requested URL."}
            )
        return json_response(404, {"error": NOT_FOUND})

    # pages

    def page(
        self, ids: list[str], kind: str, params: dict, **extra: object
    ) -> Response:
        """An offset page: has_more, optional extras (total_results), data."""
        skip, limit = query.page_bounds(
            params, self.settings.max_limit, self.settings.max_skip
        )
        chosen = ids[skip : skip + limit]
        head = {"has_more": skip + limit < len(ids), **extra}
        return self.splice(head, kind, chosen)

    def splice(self, head: dict, kind: str, ids: list[str]) -> Response:
        """The body from the head's keys and the records' cached texts."""
        prefix = json.dumps(head)[:-1] + (", " if head else "")
        with self.store.lock:
            texts, text = self.store.texts.setdefault(kind, {}), self.store.text
            parts = [texts.get(rid) or text(kind, rid) for rid in ids]
            data = ", ".join(part for part in parts if part is not None)
        return Response(200, prefix + '"data": [' + data + "]}")

    def matching(
        self,
        kind: str,
        key: tuple,
        accept: Callable[[dict], bool],
        order_field: str | None,
        descending: bool,
        filters: list | None = None,
    ) -> list[str]:
        """Ids of `kind` passing `accept`, ordered; cached per data version.
        Date ranges on the order field are cut by bisection of a sorted view
        shared by all queries, so date windows over big sets stay cheap."""

        def compute() -> list[str]:
            if order_field in DATE_FIELDS and filters is not None:
                return self._by_date(kind, order_field, descending, filters)
            records = [
                r for r in self.store.records.get(kind, {}).values() if accept(r)
            ]
            if order_field:
                records.sort(key=query.order_key(order_field), reverse=descending)
            return [record["id"] for record in records]

        return self.store.result((kind, self.store.version) + key, compute)

    def _by_date(
        self, kind: str, name: str, descending: bool, filters: list
    ) -> list[str]:
        ids, moments, missing = self._sorted_view(kind, name)
        ranges = [f for f in filters if isinstance(f, DateFilter) and f.field == name]
        others = [f for f in filters if f not in ranges]
        low, high = (missing if ranges else 0), len(ids)
        for condition in ranges:
            low, high = _narrow(condition, moments, low, high)
        chosen = ids[low:high]
        if others:
            records = self.store.records[kind]
            chosen = [
                rid for rid in chosen if all(f.accepts(records[rid]) for f in others)
            ]
        return chosen[::-1] if descending else chosen

    def _sorted_view(self, kind: str, name: str) -> tuple[list, list, int]:
        """(ids, moments, how many lack the field) ascending by (moment, id)."""

        def compute() -> tuple[list, list, int]:
            key = query.order_key(name)
            rows = sorted(
                key(r) + (r["id"],) for r in self.store.records.get(kind, {}).values()
            )
            missing = sum(
                1
                for r in self.store.records.get(kind, {}).values()
                if record_moment(r.get(name)) is None
            )
            return [row[-1] for row in rows], [row[0] for row in rows], missing

        return self.store.view(("sorted", kind, name), compute)

    # endpoints

    def me(self, params: dict, body: bytes) -> Response:
        return json_response(200, self.emu.me())

    def single(self, kind: str) -> Callable:
        def handler(params: dict, body: bytes, rid: str) -> Response:
            text = self.store.text(kind, rid)
            if text is None:
                message = "Empty query: object matching query does not exist."
                return json_response(404, {"error": message})
            return Response(200, text)

        return handler

    def whole(self, kind: str) -> Callable:
        """Small dimension lists: everything at once, no has_more (Close spec)."""

        def handler(params: dict, body: bytes) -> Response:
            return self.splice({}, kind, list(self.store.records.get(kind, {})))

        return handler

    def leads(self, params: dict, body: bytes) -> Response:
        parsed = query.parse_lead_query(params.get("query", ""))
        # UNCERTAIN: Close's default lead order is undocumented; newest first.
        sort = parsed.sort or "date_created"
        descending = parsed.descending if parsed.sort else True
        if sort not in ("date_updated", "date_created"):
            raise error(f"Unsupported sort field in lead query: {sort}")
        ids = self.matching(
            "lead",
            ("q", tuple(parsed.filters), sort, descending),
            _all_of(parsed.filters),
            sort,
            descending,
            parsed.filters,
        )
        return self.page(ids, "lead", params, total_results=len(ids))

    def contacts(self, params: dict, body: bytes) -> Response:
        filters = _equals(params, ("lead_id",))
        ids = self.matching("contact", tuple(filters), _all_of(filters), None, False)
        return self.page(ids, "contact", params)

    def opportunities(self, params: dict, body: bytes) -> Response:
        filters = query.date_filters(
            params, ("date_created", "date_updated", "date_won")
        )
        filters += _equals(params, ("lead_id", "user_id", "status_id", "status_type"))
        allowed = {
            "date_won",
            "date_updated",
            "date_created",
            "confidence",
            "user_name",
            "value",
        }
        allowed |= {"annualized_value", "annualized_expected_value"}
        order, descending = query.parse_order(
            params.get("_order_by"), allowed, "date_created"
        )
        ids = self.matching(
            "opportunity",
            (tuple(filters), order, descending),
            _all_of(filters),
            order,
            descending,
            filters,
        )
        return self.page(
            ids, "opportunity", params, total_results=len(ids), **self._opp_totals(ids)
        )

    def _opp_totals(self, ids: list[str]) -> dict:
        """Close's aggregates over the whole result (not the page)."""
        records = self.store.records["opportunity"]
        totals = {"one_time": 0, "monthly": 0, "annual": 0}
        with self.store.lock:
            chosen = [records[rid] for rid in ids if rid in records]
        for record in chosen:
            period = record.get("value_period")
            if period in totals:
                totals[period] += record.get("value") or 0
        return {f"total_value_{name}": value for name, value in totals.items()}

    def activities(self, params: dict, body: bytes, sub: str | None = None) -> Response:
        if sub is not None and sub.startswith("acti_"):
            return self.single("activity")(params, body, rid=sub)
        if sub is not None and sub not in TYPED_ACTIVITY_PATHS:
            return json_response(404, {"error": NOT_FOUND})
        types = self._activity_types(params, sub)
        filters = query.date_filters(params, ("date_created", "activity_at"))
        filters += _equals(params, ("lead_id", "user_id", "contact_id"))
        filters += _one_of(params, "id__in", "id")
        if types is not None:
            filters.append(_InSet("_type", types))
        default = (
            "-date_created"
            if self.settings.activity_order == "desc"
            else "date_created"
        )
        allowed = {"date_created", "activity_at"}
        order, descending = query.parse_order(params.get("_order_by"), allowed, default)
        ids = self.matching(
            "activity",
            (tuple(filters), order, descending),
            _all_of(filters),
            order,
            descending,
            filters,
        )
        return self.page(ids, "activity", params)

    def _activity_types(self, params: dict, sub: str | None) -> frozenset | None:
        if sub is not None:
            return frozenset([TYPED_ACTIVITY_PATHS[sub]])
        if params.get("_type"):
            return frozenset([TYPE_ALIASES.get(params["_type"], params["_type"])])
        if params.get("_type__in"):
            return frozenset(
                TYPE_ALIASES.get(t, t) for t in params["_type__in"].split(",")
            )
        return None

    def tasks(self, params: dict, body: bytes) -> Response:
        filters = query.date_filters(
            params, ("date_created", "date_updated", "date", "due_date")
        )
        filters += _equals(params, ("lead_id", "assigned_to", "view"))
        if params.get("is_complete") in ("true", "false", "True", "False", "1", "0"):
            filters.append(
                _Equals("is_complete", params["is_complete"] in ("true", "True", "1"))
            )
        types = _task_types(params)
        if types is not None:
            filters.append(_InSet("_type", types))
        # NB: Close orders tasks by date or date_created only (tasks.md).
        order, descending = query.parse_order(
            params.get("_order_by"), {"date", "date_created"}, "date_created"
        )
        ids = self.matching(
            "task",
            (tuple(filters), order, descending),
            _all_of(filters),
            order,
            descending,
            filters,
        )
        return self.page(ids, "task", params)

    def users(self, params: dict, body: bytes) -> Response:
        return self.page(list(self.store.records.get("user", {})), "user", params)

    def custom_fields(self, params: dict, body: bytes, obj: str) -> Response:
        if obj not in CUSTOM_FIELD_OBJECTS:
            return json_response(404, {"error": NOT_FOUND})
        kind = "custom_field_" + obj
        return self.page(list(self.store.records.get(kind, {})), kind, params)

    # the event log: cursor paging, newest first

    def events(self, params: dict, body: bytes) -> Response:
        if "_skip" in params:
            raise error("_skip is not supported by this endpoint; use _cursor.")
        limit = query.parse_int(params, "_limit", EVENT_MAX_LIMIT)
        if limit > EVENT_MAX_LIMIT:
            raise error(query.MAX_LIMIT_MESSAGE.format(EVENT_MAX_LIMIT))
        cursor = _decode_cursor(params.get("_cursor"))

        # NB: Close docs: with _cursor, resend every filter except date_updated*,
        # which the cursor carries.
        date_params = (
            cursor.get("dates")
            if cursor
            else {k: v for k, v in params.items() if k.startswith("date_updated__")}
        )
        filters = query.date_filters(date_params, ("date_updated",))
        filters += _equals(
            params,
            ("object_type", "object_id", "action", "lead_id", "user_id", "request_id"),
        )
        filters += self._retention()
        ids = self.matching(
            "event", (tuple(filters),), _all_of(filters), "date_updated", True, filters
        )

        start = self._event_start(ids, cursor, tuple(filters))
        chosen = ids[start : start + limit]
        head = {"cursor_next": None, "cursor_previous": None}
        if start + limit < len(ids) and chosen:
            head["cursor_next"] = self._event_cursor("before", chosen[-1], date_params)
        if start:
            first = ids[max(0, start - limit)]
            head["cursor_previous"] = self._event_cursor("from", first, date_params)
        if self.settings.event_data_hours is not None:
            return self._events_without_old_data(head, chosen)
        return self.splice(head, "event", chosen)

    def _events_without_old_data(self, head: dict, chosen: list[str]) -> Response:
        """A non-admin key's view (Close changelog 2019-01-25): events older
        than the window come without data and previous_data."""
        hours = self.settings.event_data_hours
        cutoff = self.emu.now - timedelta(hours=hours)
        items = []
        for rid in chosen:
            item = json.loads(self.store.text("event", rid))
            moment = record_moment(item.get("date_updated"))
            if moment is None or moment < cutoff:
                item.pop("data", None)
                item.pop("previous_data", None)
            items.append(item)
        return json_response(200, {**head, "data": items})

    def _event_key(self, rid: str) -> tuple:
        record = self.store.records["event"][rid]
        return (query.order_key("date_updated")(record)[0], rid)

    def _event_cursor(self, where: str, rid: str, dates: dict) -> str:
        """A keyset cursor: the (date_updated, id) of an edge event, so that a
        walk stays in place while newer events arrive."""
        moment, _ = self._event_key(rid)
        return _encode_cursor({where: [moment.isoformat(), rid], "dates": dates})

    def _event_start(self, ids: list[str], cursor: dict | None, key: tuple) -> int:
        """Where a page starts in `ids` (newest first) for a cursor."""
        if not cursor:
            return 0
        keys = self.store.result(
            ("event-keys", self.store.version, key),
            lambda: [self._event_key(r) for r in reversed(ids)],
        )
        for where, cut in (
            ("before", bisect.bisect_left),
            ("from", bisect.bisect_right),
        ):
            if where in cursor:
                moment, rid = cursor[where]
                return len(ids) - cut(keys, (parse_value(moment), rid))
        raise error("Invalid cursor.")

    def _retention(self) -> list[DateFilter]:
        keep = self.settings.event_keep_days
        if keep is None:
            return []
        return [DateFilter("date_created", "gte", self.emu.now - timedelta(days=keep))]

    # advanced filtering (basic support)

    def search(self, params: dict, body: bytes) -> Response:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise error("Request body is not valid JSON.") from None
        if not isinstance(request, dict) or "query" not in request:
            raise query.field_error("query", "This field is required.")
        object_type, filters = _search_conditions(request["query"])
        kind = {"lead": "lead", "contact": "contact"}.get(object_type)
        if kind is None:
            raise error(f"Unsupported object_type in emulator search: {object_type!r}")
        order, descending = _search_sort(request.get("sort"))
        limit = int(request.get("_limit", 100))
        if limit > SEARCH_MAX_LIMIT:
            raise error(query.MAX_LIMIT_MESSAGE.format(SEARCH_MAX_LIMIT))
        ids = self.matching(
            kind,
            ("search", tuple(filters), order, descending),
            _all_of(filters),
            order,
            descending,
            filters,
        )
        cap = min(int(request.get("results_limit") or SEARCH_WALK_CAP), SEARCH_WALK_CAP)
        start = (_decode_cursor(request.get("cursor")) or {}).get("skip", 0)
        end = min(start + limit, cap, len(ids))
        rows = [
            self._search_row(kind, rid, request.get("_fields"))
            for rid in ids[start:end]
        ]
        cursor = _encode_cursor({"skip": end}) if end < min(cap, len(ids)) else None
        return json_response(200, {"data": rows, "cursor": cursor})

    def _search_row(self, kind: str, rid: str, fields: dict | None) -> dict:
        wanted = (fields or {}).get(kind)
        if not wanted:
            # UNCERTAIN: Close's doc example returns only these two keys.
            return {"__object_type": kind, "id": rid}
        record = json.loads(self.store.text(kind, rid))
        return {name: record.get(name) for name in wanted}


def _narrow(
    condition: DateFilter, moments: list, low: int, high: int
) -> tuple[int, int]:
    """Apply one date condition to a sorted slice [low, high) by bisection.
    A minute-precision condition compares whole minutes on both sides."""
    value, op = condition.value, condition.op
    if condition.minute and op in ("gt", "lte"):
        value, op = value + timedelta(minutes=1), "gte" if op == "gt" else "lt"
    if op == "gt":
        return max(low, bisect.bisect_right(moments, value)), high
    if op == "gte":
        return max(low, bisect.bisect_left(moments, value)), high
    if op == "lt":
        return low, min(high, bisect.bisect_left(moments, value))
    return low, min(high, bisect.bisect_right(moments, value))


class _Equals:
    def __init__(self, name: str, value: object) -> None:
        self.name, self.value = name, value

    def accepts(self, record: dict) -> bool:
        return record.get(self.name) == self.value

    def __hash__(self) -> int:
        return hash(("eq", self.name, str(self.value)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Equals) and (self.name, self.value) == (
            other.name,
            other.value,
        )


class _InSet(_Equals):
    def accepts(self, record: dict) -> bool:
        return record.get(self.name) in self.value


def _equals(params: dict, names: tuple[str, ...]) -> list:
    return [_Equals(name, params[name]) for name in names if params.get(name)]


def _one_of(params: dict, param: str, name: str) -> list:
    raw = params.get(param)
    return [_InSet(name, frozenset(raw.split(",")))] if raw else []


def _all_of(filters: list) -> Callable[[dict], bool]:
    def accept(record: dict) -> bool:
        return all(condition.accepts(record) for condition in filters)

    return accept


def _task_types(params: dict) -> frozenset | None:
    """Close's rule: without _type only `lead` tasks; `_type=all` for all."""
    if params.get("_type__in"):
        return frozenset(params["_type__in"].split(","))
    kind = params.get("_type") or "lead"
    return None if kind == "all" else frozenset([kind])


def _encode_cursor(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_cursor(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError:
        raise error("Invalid cursor.") from None
    if not isinstance(payload, dict):
        raise error("Invalid cursor.")
    return payload


def _search_conditions(node: object) -> tuple[str | None, list]:
    """Walk an Advanced Filtering query for its object_type and the
    moment_range conditions on date_updated / date_created."""
    object_type, filters = None, []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        if not isinstance(item, dict):
            continue
        if item.get("type") == "object_type":
            object_type = item.get("object_type")
        if item.get("type") == "field_condition":
            filters += _moment_range(item)
        stack.extend(item.get("queries", []))
    return object_type, filters


def _moment_range(item: dict) -> list[DateFilter]:
    name = (item.get("field") or {}).get("field_name")
    condition = item.get("condition") or {}
    if (
        name not in ("date_updated", "date_created")
        or condition.get("type") != "moment_range"
    ):
        raise error(f"Unsupported condition in emulator search: {item!r}")
    filters = []
    for key, op in (
        ("on_or_after", "gte"),
        ("before", "lt"),
        ("after", "gt"),
        ("on_or_before", "lte"),
    ):
        bound = condition.get(key)
        if bound:
            filters.append(DateFilter(name, op, parse_value(str(bound.get("value")))))
    return filters


def _search_sort(sort: object) -> tuple[str, bool]:
    if not sort:
        return "date_created", False
    first = sort[0]
    name = (first.get("field") or {}).get("field_name", "date_created")
    if name not in ("date_updated", "date_created"):
        raise error(f"Unsupported sort field in emulator search: {name}")
    return name, first.get("direction") == "desc"
