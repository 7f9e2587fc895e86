"""Faults on demand: which request gets which failure, deterministically."""

import threading
from dataclasses import dataclass, field

KINDS = ("status", "delay", "truncate", "drop", "empty_has_more", "not_found_deleted")


@dataclass
class Fault:
    """Fires on the `on_request`-th matching request (1-based) and the
    following ones, or on every `every`-th; at most `times` times (None =
    forever)."""

    path_prefix: str = "/api/v1/"
    kind: str = "status"
    status: int = 503
    on_request: int | None = None
    every: int | None = None
    times: int | None = 1
    body: object = None
    headers: dict | None = None
    seconds: float = 5.0
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}: one of {KINDS}")
        if self.on_request is None and self.every is None:
            self.on_request = 1

    def matches(self, path: str) -> bool:
        return path.startswith(self.path_prefix)

    def should_fire(self) -> bool:
        """Count one matching request and say whether this one fails."""
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.every is not None:
            start = self.on_request or self.every
            due = self.seen >= start and (self.seen - start) % self.every == 0
        else:
            due = self.seen >= self.on_request
        if due:
            self.fired += 1
        return due

    def describe(self) -> dict:
        return {
            "path_prefix": self.path_prefix,
            "kind": self.kind,
            "status": self.status,
            "on_request": self.on_request,
            "every": self.every,
            "times": self.times,
            "seconds": self.seconds,
            "seen": self.seen,
            "fired": self.fired,
        }


class Faults:
    """The armed faults; every matching fault counts each request, the
    first one due fires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pick(self, path: str) -> Fault | None:
        chosen = None
        with self._lock:
            for fault in self._faults:
                if fault.matches(path) and fault.should_fire() and chosen is None:
                    chosen = fault
        return chosen

    def describe(self) -> list[dict]:
        with self._lock:
            return [fault.describe() for fault in self._faults]
