"""The emulator's ground truth: records per kind, each record's JSON text
cached once, and filtered-and-sorted result lists cached per query."""

import json
import threading
from collections.abc import Callable

LEAD_CHILDREN = ("contact", "opportunity", "task")


class Store:
    """Records by kind in creation order. Lead texts embed their contacts,
    opportunities and incomplete tasks, as Close's lead objects do."""

    def __init__(self, data: dict[str, list[dict]], texts: dict | None = None) -> None:
        self.lock = threading.RLock()
        self.version = 0
        self.records: dict[str, dict[str, dict]] = {}
        self.texts: dict[str, dict[str, str]] = {}
        self.children: dict[str, dict[str, list[str]]] = {}
        self.embed_children = texts is None
        self._results: dict[tuple, list[str]] = {}
        self._views: dict[tuple, object] = {}
        for kind, records in data.items():
            self.records[kind] = {record["id"]: record for record in records}
        self._index_children()

        # Texts are rendered on first read (then kept until the record
        # changes): a large set starts fast and pays per record once.
        self.texts = texts if texts is not None else {}
        for kind in self.records:
            self.texts.setdefault(kind, {})

    def _index_children(self) -> None:
        for kind in LEAD_CHILDREN:
            by_lead: dict[str, list[str]] = {}
            for rid, record in self.records.get(kind, {}).items():
                by_lead.setdefault(record.get("lead_id"), []).append(rid)
            self.children[kind] = by_lead

    def render(self, kind: str, rid: str) -> str:
        record = self.records[kind][rid]
        if kind == "lead" and self.embed_children:
            record = self.lead_view(record)
        return json.dumps(record, check_circular=False)

    def lead_view(self, lead: dict) -> dict:
        """A lead as Close serves it: children embedded, only incomplete
        tasks (Close changelog 2024-06-07)."""
        view = dict(lead)
        rid = lead["id"]
        view["contacts"] = self._kids("contact", rid)
        view["opportunities"] = self._kids("opportunity", rid)
        tasks = self._kids("task", rid)
        view["tasks"] = [task for task in tasks if not task.get("is_complete")]
        return view

    def _kids(self, kind: str, lead_id: str) -> list[dict]:
        records = self.records.get(kind, {})
        return [
            records[rid]
            for rid in self.children[kind].get(lead_id, [])
            if rid in records
        ]

    # reads

    def text(self, kind: str, rid: str) -> str | None:
        """The record's JSON text, rendered once; None when there is none."""
        with self.lock:
            cached = self.texts.get(kind, {}).get(rid)
            if cached is None and rid in self.records.get(kind, {}):
                cached = self.texts[kind][rid] = self.render(kind, rid)
            return cached

    def get(self, kind: str, rid: str) -> dict | None:
        return self.records.get(kind, {}).get(rid)

    def all(self, kind: str) -> list[dict]:
        return list(self.records.get(kind, {}).values())

    def result(self, key: tuple, compute: Callable[[], list[str]]) -> list[str]:
        """Ids matching one query (filters and order, not the page), computed
        once per data version: paging a result then costs a slice."""
        with self.lock:
            cached = self._results.get(key)
            if cached is None:
                cached = compute()
                if len(self._results) > 256:
                    # Drop the oldest query; the sorted views stay (see view).
                    self._results.pop(next(iter(self._results)))
                self._results[key] = cached
            return cached

    def view(self, key: tuple, compute: Callable[[], object]) -> object:
        """A sorted view every query of one kind shares: kept until the data
        changes, whatever the number of queries."""
        with self.lock:
            if key not in self._views:
                self._views[key] = compute()
            return self._views[key]

    # writes

    def put(self, kind: str, record: dict) -> None:
        with self.lock:
            rid = record["id"]
            old = self.records.setdefault(kind, {}).get(rid)
            self.records[kind][rid] = record
            if kind in LEAD_CHILDREN:
                self._link_child(kind, record, old)
            self._rerender(kind, record)

    def remove(self, kind: str, rid: str) -> dict | None:
        with self.lock:
            record = self.records.get(kind, {}).pop(rid, None)
            if record is None:
                return None
            self.texts[kind].pop(rid, None)
            if kind in LEAD_CHILDREN:
                ids = self.children[kind].get(record.get("lead_id"), [])
                if rid in ids:
                    ids.remove(rid)
                self._rerender_lead(record.get("lead_id"))
            self._changed()
            return record

    def _link_child(self, kind: str, record: dict, old: dict | None) -> None:
        if old is not None and old.get("lead_id") != record.get("lead_id"):
            ids = self.children[kind].get(old.get("lead_id"), [])
            if record["id"] in ids:
                ids.remove(record["id"])
            self._rerender_lead(old.get("lead_id"))
        ids = self.children.setdefault(kind, {}).setdefault(record.get("lead_id"), [])
        if record["id"] not in ids:
            ids.append(record["id"])

    def _rerender(self, kind: str, record: dict) -> None:
        self.texts.setdefault(kind, {}).pop(record["id"], None)
        if kind in LEAD_CHILDREN:
            self._rerender_lead(record.get("lead_id"))
        self._changed()

    def _rerender_lead(self, lead_id: str | None) -> None:
        if self.embed_children and lead_id is not None:
            self.texts.get("lead", {}).pop(lead_id, None)

    def _changed(self) -> None:
        self.version += 1
        self._results.clear()
        self._views.clear()
