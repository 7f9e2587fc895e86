"""The Emulator: data, clock, faults, rate limits and the server in one
object that tests start, drive and stop."""

import json
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from close_emulator import dataset, samples
from close_emulator.api import Api, Response, Settings, json_response
from close_emulator.faults import Fault, Faults
from close_emulator.generator import Generator, _full_name
from close_emulator.ratelimit import RateLimiter
from close_emulator.requestlog import RequestRecord
from close_emulator.server import Server
from close_emulator.store import LEAD_CHILDREN, Store
from close_emulator.timefmt import format_naive, format_ts, record_moment, to_utc

ID_PREFIXES = {
    "lead": "lead",
    "contact": "cont",
    "opportunity": "oppo",
    "activity": "acti",
    "task": "task",
    "user": "user",
    "event": "ev",
    "lead_status": "stat",
    "opportunity_status": "stat",
    "pipeline": "pipe",
}
EVENT_KINDS = ("lead", "contact", "opportunity", "task", "activity")
DEFAULT_NOW = "2024-05-01T12:00:00+00:00"


class Emulator:
    """A Close API on 127.0.0.1. See close_emulator/README.md."""

    def __init__(
        self,
        seed: int = 1,
        size: str | dict = "small",
        now: str | datetime = DEFAULT_NOW,
        api_key: str = "test-key",
        max_limit: int = 100,
        max_skip: int = 250_000,
        activity_order: str = "desc",
        rate_limit: tuple[int, float] | None = None,
        rate_limit_style: str = "ratelimit",
        latency: float = 0.0,
        samples: bool = False,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        redirect_status: int = 308,
        event_keep_days: int | None = 30,
        event_consolidation: float | None = None,
        event_data_hours: float | None = None,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        if activity_order not in ("desc", "asc"):
            raise ValueError("activity_order must be 'desc' or 'asc'")
        self.seed, self.size, self.api_key = seed, size, api_key
        self.host, self.port = host, port
        self.latency, self.redirect_status = latency, redirect_status
        self._now = to_utc(now)
        self.settings = Settings(
            max_limit, max_skip, activity_order, event_keep_days, event_data_hours
        )
        self.limiter = None
        if rate_limit is not None:
            extra = {"monotonic": rate_clock} if rate_clock else {}
            self.limiter = RateLimiter(
                int(rate_limit[0]), float(rate_limit[1]), rate_limit_style, **extra
            )
        self.faults = Faults()
        self.stopping = threading.Event()
        self._requests: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._mutations = 0
        self.event_consolidation = event_consolidation
        self._last_event: dict[str, str] = {}
        self.samples = samples
        self._load(seed, size, samples)
        self.api = Api(self)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def _load(self, seed: int, size: str | dict, use_samples: bool) -> None:
        self._gen = Generator(seed, self._now)
        if use_samples:
            data, texts, self._me = samples.load()
            self.store = Store(data, texts)
            if event_keep_is_default(self.settings):
                # NB: the sample events are years old; keep them all.
                self.settings.event_keep_days = None
            return
        data = dataset.generate(seed, size, self._now)
        self._gen = Generator(
            seed + 7919, self._now, data["user"][0]["organizations"][0]
        )
        self._gen.users = data["user"]
        self._gen.lead_statuses = data["lead_status"]
        self._gen.opp_statuses = data["opportunity_status"]
        self._gen.pipelines = data["pipeline"]
        self._gen.fields = {
            obj: data["custom_field_" + obj]
            for obj in ("lead", "contact", "opportunity", "activity")
        }
        self._me = None
        self.store = Store(data)

    # lifecycle

    def start(self) -> "Emulator":
        self.stopping.clear()
        self._server = Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v1/"

    # the clock

    @property
    def now(self) -> datetime:
        return self._now

    def set_now(self, moment: str | datetime) -> None:
        self._now = to_utc(moment)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    # ground truth and data control

    def objects(self, kind: str) -> list[dict]:
        """Every record of `kind` exactly as the API serves it, in creation
        order (leads with their children embedded)."""
        with self.store.lock:
            records = self.store.records.get(kind)
            if records is None:
                raise KeyError(f"unknown kind {kind!r}")
            return [json.loads(self.store.text(kind, rid)) for rid in records]

    def add(self, kind: str, obj: dict) -> dict:
        """Insert `obj` as given; id, organization_id and the dates are filled
        only when missing. Records a `created` event like Close."""
        record = dict(obj)
        record.setdefault("id", self._gen.new_id(ID_PREFIXES.get(kind, "cf")))
        record.setdefault("organization_id", self._gen.org_id)
        if kind in EVENT_KINDS:
            record.setdefault("date_created", format_ts(self.now))
            record.setdefault("date_updated", record["date_created"])
        with self.store.lock:
            self.store.put(kind, record)
            if kind in LEAD_CHILDREN:
                self._touch_lead(record.get("lead_id"))
            if kind in EVENT_KINDS:
                self._event(kind, record, "created")
        return json.loads(self.store.text(kind, record["id"]))

    def update(self, kind: str, rid: str, **fields: object) -> dict:
        """Change fields, move date_updated to now and log an `updated` event.
        A child's change also moves its lead's date_updated, without an
        event (Close: lead.updated does not fire for child changes)."""
        with self.store.lock:
            old = self.store.get(kind, rid)
            if old is None:
                raise KeyError(f"no {kind} {rid!r}")
            record = dict(old)
            record.update(fields)
            if "date_updated" not in fields and "date_updated" in old:
                record["date_updated"] = format_ts(self.now)
            previous = {
                key: old.get(key) for key in record if record.get(key) != old.get(key)
            }
            self.store.put(kind, record)
            if kind in LEAD_CHILDREN:
                self._touch_lead(record.get("lead_id"))
            if kind in EVENT_KINDS:
                self._event(kind, record, "updated", previous)
        return json.loads(self.store.text(kind, rid))

    def delete(self, kind: str, rid: str) -> None:
        """Remove a record (a lead takes its children along), with events."""
        with self.store.lock:
            if kind == "lead":
                for child in LEAD_CHILDREN + ("activity",):
                    for record in [
                        r for r in self.store.all(child) if r.get("lead_id") == rid
                    ]:
                        self.delete(child, record["id"])
            record = self.store.remove(kind, rid)
            if record is None:
                raise KeyError(f"no {kind} {rid!r}")
            if kind in LEAD_CHILDREN:
                self._touch_lead(record.get("lead_id"))
            if kind in EVENT_KINDS:
                self._event(kind, record, "deleted")

    def _touch_lead(self, lead_id: str | None) -> None:
        lead = self.store.get("lead", lead_id) if lead_id else None
        if lead is not None and self._later_than(lead.get("date_updated")):
            self.store.put("lead", dict(lead, date_updated=format_ts(self.now)))

    def _later_than(self, stamp: object) -> bool:
        moment = record_moment(stamp)
        return moment is None or self.now > moment

    def _event(
        self, kind: str, record: dict, action: str, previous: dict | None = None
    ) -> None:
        if action == "updated" and self._consolidate(record, previous or {}):
            return
        event = dataset.make_event(self._gen, kind, record, action, self.now, previous)
        self.store.put("event", event)
        self._last_event[record["id"]] = event["id"]

    def _consolidate(self, record: dict, previous: dict) -> bool:
        """Fold an update into the object's last `updated` event when that
        event is younger than `event_consolidation` seconds: Close's Event
        Consolidation (date_updated moves, date_created stays, previous_data
        keeps the state before all the folded changes)."""
        if self.event_consolidation is None:
            return False
        last = self.store.get("event", self._last_event.get(record["id"], ""))
        if last is None or last["action"] != "updated":
            return False
        age = (self.now - to_utc(last["date_created"])).total_seconds()
        if not 0 <= age <= self.event_consolidation:
            return False
        folded = dict(last, data=dict(record))
        folded["date_updated"] = format_naive(
            self.now.replace(microsecond=self.now.microsecond // 1000 * 1000)
        )
        folded["previous_data"] = {**previous, **last["previous_data"]}
        folded["changed_fields"] = sorted(set(last["changed_fields"]) | set(previous))
        self.store.put("event", folded)
        return True

    def mutate(self, seed: int | None = None) -> dict:
        """A deterministic day passes: the clock moves one day; some leads,
        contacts, opportunities and tasks change; new activities and tasks
        arrive. Returns {kind: [ids changed or added]}, events included."""
        self._mutations += 1
        rng_seed = seed if seed is not None else self.seed * 1_000_003 + self._mutations
        with self.store.lock:
            start = self.now
            self.advance(86_400)
            self._gen.rng = random.Random(rng_seed)
            self._gen.now = self.now
            events_before = set(self.store.records.get("event", {}))
            summary = self._mutate_records(start)
            summary["event"] = [
                rid for rid in self.store.records["event"] if rid not in events_before
            ]
        return summary

    def _mutate_records(self, start: datetime) -> dict:
        kinds = ("lead", "contact", "opportunity", "task", "activity")
        summary: dict[str, list[str]] = {kind: [] for kind in kinds}
        if not self.store.records.get("lead"):
            return summary

        # Changes run in time order across kinds, so no date_updated goes back.
        for moment, kind, rid in self._plan_changes(start):
            self.set_now(moment)
            self.update(kind, rid, **self._change_for(kind))
            summary[kind].append(rid)

        self.set_now(self._gen.now)
        summary["activity"] = self._arrivals("activity", 60, start, min_count=2)
        summary["task"] += self._arrivals("task", 30, start, min_count=1)
        return summary

    def _plan_changes(self, start: datetime) -> list[tuple]:
        """About one lead in 20, one contact, opportunity or task in 40, each
        at a moment of the day that is passing."""
        gen, plan = self._gen, []
        for kind, one_in in (("lead", 20), ("contact", 40), ("opportunity", 40)):
            ids = sorted(self.store.records.get(kind, {}))
            chosen = gen.rng.sample(ids, min(len(ids), max(1, len(ids) // one_in)))
            plan += [(gen.moment_between(start, gen.now), kind, rid) for rid in chosen]
        tasks = sorted(self.store.records.get("task", {}))
        chosen = gen.rng.sample(tasks, min(len(tasks), max(1, len(tasks) // 40)))
        plan += [(gen.moment_between(start, gen.now), "task", rid) for rid in chosen]
        return sorted(plan)

    def _change_for(self, kind: str) -> dict:
        if kind == "lead":
            return {"description": f"Updated on {format_ts(self.now)[:10]}"}
        if kind == "contact":
            return {"title": "Promoted"}
        if kind == "opportunity":
            return {"confidence": 75}
        return {"is_complete": True}

    def _arrivals(
        self, kind: str, one_in: int, start: datetime, min_count: int
    ) -> list:
        """New activities or tasks on random leads, created during the day."""
        gen = self._gen
        leads = sorted(self.store.records["lead"])
        count = max(min_count, len(self.store.records.get(kind, {})) // one_in)
        added = []
        for index in range(count):
            lead = self.store.get("lead", gen.rng.choice(leads))
            moment = gen.moment_between(start, gen.now)
            if kind == "activity":
                activity_type = dataset.ACTIVITY_TYPES[
                    index % len(dataset.ACTIVITY_TYPES)
                ]
                record = dataset.make_activity(gen, lead, activity_type, moment)
            else:
                task_type = dataset.TASK_TYPES[index % len(dataset.TASK_TYPES)]
                record = dataset.make_task(gen, lead, task_type, moment)
            added.append(self.add(kind, record)["id"])
        return added

    def me(self) -> dict:
        if self._me is not None:
            return self._me
        user = self.store.all("user")[0]
        org = {"id": self._gen.org_id, "name": "Emulated Org", "memberships": []}
        return dict(user, organizations=[org], full_name=_full_name(user))

    # requests, faults, rate limits

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._requests)

    def log_request(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._requests.append(record)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()

    def add_fault(
        self,
        path_prefix: str = "/api/v1/",
        kind: str = "status",
        status: int = 503,
        on_request: int | None = None,
        every: int | None = None,
        times: int | None = 1,
        body: object = None,
        headers: dict | None = None,
        seconds: float = 5.0,
    ) -> Fault:
        fault = Fault(
            path_prefix, kind, status, on_request, every, times, body, headers, seconds
        )
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def limit(self, relpath: str) -> tuple[Response | None, dict]:
        """Spend one request of the path's endpoint group; a 429 when spent."""
        if self.limiter is None:
            return None, {}
        group = relpath.split("/", 1)[0]
        allowed, remaining, reset = self.limiter.take(group)
        headers = self.limiter.headers(remaining, reset, not allowed)
        if allowed:
            return None, headers
        return json_response(429, self.limiter.body(reset)), headers

    # the control API (no auth), for tests in another process

    def control(self, method: str, path: str, body: bytes) -> Response:
        from close_emulator.control import handle

        return handle(self, method, path, body)


def event_keep_is_default(settings: Settings) -> bool:
    return settings.event_keep_days == 30
