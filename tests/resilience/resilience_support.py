"""Running the installed `tap-closeio` command against an emulator started in
the test process: config files, reading its output line by line, killing it
at a chosen message, and what Close holds that a sync must deliver."""

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tap_closeio.client import CloseClient
from tap_closeio.sync import run_sync
from tap_closeio.timeutil import parse_datetime

UTC = timezone.utc
TAP = str(Path(sys.executable).parent / "tap-closeio")
STREAMS = ("custom_fields", "leads", "activities", "tasks", "users", "event_log")
KINDS = {
    "custom_fields": "custom_field_lead",
    "leads": "lead",
    "activities": "activity",
    "tasks": "task",
    "users": "user",
    "event_log": "event",
}
EVENT_KEEP = timedelta(days=30)

# (index of the message just read, the message) -> kill the tap now?
KillWhen = Callable[[int, dict], bool]


def recent_now() -> datetime:
    """The emulator's clock: an hour before the wall clock, whole seconds.
    The tap's CLI takes the wall clock as its sync start, so the emulator's
    data must end before it, as Close's does."""
    moment = datetime.now(UTC) - timedelta(hours=1)
    return moment.replace(microsecond=0)


def write_json(path: Path, value: object) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def clean_env(**extra: str) -> dict:
    """The environment without any TAP_CLOSEIO_* variable of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_CLOSEIO_")}
    env.update(extra)
    return env


@dataclass
class Run:
    """What one run of the command wrote: complete stdout lines parsed,
    stderr text, exit code (negative: killed by that signal)."""

    messages: list[dict]
    stderr: str
    returncode: int
    killed_at: int | None = None
    stdout: str = field(default="", repr=False)

    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def last_state(self) -> dict | None:
        states = self.states()
        return states[-1] if states else None

    def records(self, stream: str, committed_only: bool = False) -> list[dict]:
        """RECORDs of `stream`; with `committed_only`, just those written
        before the last STATE (what a target has committed for sure)."""
        messages = self.messages
        if committed_only:
            cuts = [i for i, m in enumerate(messages) if m["type"] == "STATE"]
            messages = messages[: cuts[-1]] if cuts else []
        return [
            m["record"]
            for m in messages
            if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def ids(self, stream: str) -> set[str]:
        return {record["id"] for record in self.records(stream)}

    def stderr_lines(self, prefix: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(prefix)]


def run_tap(
    args: list[str],
    tmp_path: Path,
    *,
    env: dict | None = None,
    kill_when: KillWhen | None = None,
    timeout: float = 120,
) -> Run:
    """Run `tap-closeio args`. With `kill_when`, SIGKILL it as soon as the
    message read from its stdout satisfies it (the tap may be up to a pipe's
    buffer ahead of the reader: that is what a real target sees too)."""
    err_path = tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [TAP, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env if env is not None else clean_env(),
        )
        chunks, killed_at = [], None
        try:
            while kill_when is not None:
                line = proc.stdout.readline()
                if not line:
                    break
                chunks.append(line)
                if line.endswith("\n") and kill_when(len(chunks) - 1, json.loads(line)):
                    killed_at = len(chunks) - 1
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            # NB: through the same buffered reader; the rest of the pipe is
            # what the tap wrote before it died.
            chunks.append(proc.stdout.read())
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = "".join(chunks)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()  # cut mid-line by the kill
    return Run(
        [json.loads(line) for line in lines],
        err_path.read_text(),
        proc.returncode,
        killed_at,
        text,
    )


def sync_args(tmp_path: Path, config: dict, state: dict | None = None) -> list[str]:
    args = ["--config", write_json(tmp_path / "config.json", config)]
    if state is not None:
        args += ["--state", write_json(tmp_path / "state.json", state)]
    return args


def expected_versions(emu, stream: str, start: datetime) -> set[tuple]:
    """(id, date_updated) of every record a sync from `start` must deliver:
    users all; events as far back as Close keeps them; the others from
    `start` on by their replication key."""
    oldest = start
    key = "date_created" if stream == "activities" else "date_updated"
    if stream == "event_log":
        oldest = max(start, emu.now - EVENT_KEEP)
    wanted = set()
    for obj in emu.objects(KINDS[stream]):
        if stream == "event_log" and parse_datetime(obj["date_created"]) < oldest:
            continue
        if stream != "users" and parse_datetime(obj[key]) < start:
            continue
        wanted.add((obj["id"], parse_datetime(obj["date_updated"])))
    return wanted


def versions(records: list[dict]) -> set[tuple]:
    return {(r["id"], parse_datetime(r["date_updated"])) for r in records}


class FakeClock:
    """A clock shared by the tap's client (sleep, monotonic) and the
    emulator's rate limiter: a wait moves time on at once, for every thread."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def monotonic(self) -> float:
        with self._lock:
            return self.now


@dataclass
class InProcessRun:
    """A run of `run_sync` in this process: its messages, final state, and
    the exception that ended it (None on success)."""

    messages: list[dict]
    state: dict | None
    error: BaseException | None

    def records(self, stream: str) -> list[dict]:
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]


def sync_in_process(
    config,
    state: dict | None = None,
    *,
    started: datetime,
    clock: "FakeClock | None" = None,
    page_sizes: dict | None = None,
) -> InProcessRun:
    """One run of the tap's sync loop with a CloseClient whose waits go to
    `clock` (none at all without one). Errors end the run and are returned."""
    clock = clock or FakeClock()
    out = io.StringIO()
    final, error = None, None
    with CloseClient(config, sleep=clock.sleep, monotonic=clock.monotonic) as client:
        try:
            final = run_sync(
                client,
                config,
                None,
                state or {},
                sync_started_at=started,
                out=out,
                page_sizes=page_sizes,
            )
        except Exception as exc:
            error = exc
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    return InProcessRun(messages, final, error)


def after_answer(
    emu,
    path: str,
    action: Callable[[list[dict]], None],
    nth: int = 1,
    with_more: bool = False,
) -> list:
    """Run `action(page data)` once, inside the emulator, right after it has
    computed its answer to the `nth` GET of `path` (relative to /api/v1/,
    e.g. "lead/"); with `with_more`, only answers saying has_more count. The
    page is served as it was; later ones see the change. Returns a list that
    holds the page's ids once the action ran."""
    original = emu.api.handle
    fired: list[list[str]] = []
    seen = [0]

    def handle(method: str, relpath: str, params: dict, body: bytes):
        response = original(method, relpath, params, body)
        if method != "GET" or relpath != path or fired or response.status != 200:
            return response
        page = json.loads(response.body)
        if with_more and not page.get("has_more"):
            return response
        seen[0] += 1
        if seen[0] == nth:
            fired.append([record["id"] for record in page["data"]])
            action(page["data"])
        return response

    emu.api.handle = handle
    return fired


def stamp_now(emu) -> None:
    """Move the emulator's clock to the wall clock, as Close stamps an edit
    made while the tap runs (after the tap's own start time)."""
    emu.set_now(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
