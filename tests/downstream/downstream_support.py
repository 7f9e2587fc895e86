"""Helpers for the downstream tests: tool venvs, the tap as a subprocess and
the emulator's ground truth (fixtures live in conftest.py)."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from close_emulator import Emulator
from tap_closeio.timeutil import format_bookmark, parse_datetime

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_SCRIPTS = REPO_ROOT / "scripts" / "ci"
TOOLS_DIR = Path(os.environ.get("TAP_CLOSEIO_TOOLS_DIR", REPO_ROOT / "build" / "tools"))
INSTALL_HINT = "run scripts/ci/install-downstream.sh"

# CI sets this so that a missing tool fails the run instead of skipping.
REQUIRE_TOOLS = os.environ.get("TAP_CLOSEIO_REQUIRE_DOWNSTREAM") == "1"

# The console script installed beside the interpreter running the tests.
TAP = Path(sys.executable).parent / "tap-closeio"

# NB: the tap caps bookmarks at its own start, read from the machine's clock,
# and Close's clock is that same clock. So the emulator's clock follows the
# machine's (never a fixed date), and the data is dated before both: some
# generated rows lie up to days ahead of the emulator's "now", and the first
# sync runs after them, as it would on Close. After one `mutate()` ("a day
# passes") every change is still dated before the next sync starts.
EMULATOR_LAG = timedelta(days=4, hours=1)
MUTATE_STEP = timedelta(days=1)


def wall_clock() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# Before every object the emulator generates (its users and custom fields are
# about a year older than its leads), so a full sync holds all of them.
START_DATE_LEAD = timedelta(days=500)

# Stream name -> the emulator's kind holding that stream's objects.
STREAM_KINDS = {
    "custom_fields": "custom_field_lead",
    "leads": "lead",
    "activities": "activity",
    "tasks": "task",
    "users": "user",
    "event_log": "event",
}
REPLICATION_KEYS = {
    "custom_fields": "date_updated",
    "leads": "date_updated",
    "activities": "date_created",
    "tasks": "date_updated",
    "users": "date_updated",
    "event_log": "date_updated",
}
SUBPROCESS_TIMEOUT = 300


def missing(reason: str) -> None:
    """Skip the test, or fail it when CI requires every downstream tool."""
    if REQUIRE_TOOLS:
        pytest.fail(reason)
    pytest.skip(reason)


TOOL_EXECUTABLES = {
    "singer-tools": "singer-check-tap",
    "jsonschema": "python",
    "target-jsonl": "target-jsonl",
    "target-postgres": "target-postgres",
    "meltano": "meltano",
}


def tool(venv: str, executable: str) -> Path:
    """Path of an executable in one of build/tools' venvs, or skip."""
    path = TOOLS_DIR / venv / "bin" / executable
    if not path.exists():
        missing(f"{venv} not installed: {INSTALL_HINT}")
    return path


@dataclass
class TapRun:
    """One run of the tap: its Singer messages and its log."""

    messages: list[dict]
    stdout: str
    stderr: str
    records: dict[str, list[dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for message in self.messages:
            if message["type"] == "RECORD":
                self.records.setdefault(message["stream"], []).append(message["record"])

    def ids(self) -> dict[str, set[str]]:
        return {
            stream: {r["id"] for r in recs} for stream, recs in self.records.items()
        }

    def final_state(self) -> dict:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        assert states, "the tap wrote no STATE message"
        return states[-1]


def write_json(path: Path, value: dict) -> Path:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def tap_config(emu: Emulator, **extra: object) -> dict:
    """A config pointing the tap at the emulator, starting before its data."""
    config = {
        "api_key": emu.api_key,
        "base_url": emu.base_url,
        "start_date": (emu.now - START_DATE_LEAD).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    config.update(extra)
    return config


def run_tap(workdir: Path, config: dict, state: dict | None = None) -> TapRun:
    """Run the real console script once and parse what it printed."""
    command = [str(TAP), "--config", str(write_json(workdir / "config.json", config))]
    if state is not None:
        command += ["--state", str(write_json(workdir / "state.json", state))]

    done = subprocess.run(
        command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-3000:]

    messages = [json.loads(line) for line in done.stdout.splitlines()]
    return TapRun(messages, done.stdout, done.stderr)


def pipe(command: list[str], stdin: str, **kwargs: object) -> str:
    """Run a downstream tool with `stdin` as its input; return its stdout."""
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        **kwargs,
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def emulator_ids(emu: Emulator) -> dict[str, set[str]]:
    """The ids Close would serve now, per stream: the ground truth."""
    return {
        stream: {obj["id"] for obj in emu.objects(kind)}
        for stream, kind in STREAM_KINDS.items()
    }


def start_emulator(size: str, seed: int) -> Emulator:
    """A seeded emulator whose data all predates the machine's clock.

    NB: Close serves only 30 days of events; the emulator does too unless told
    otherwise, but `objects("event")` lists all it generated. Keeping them all
    makes that list the exact truth, before and after `mutate()`.
    """
    emu = Emulator(
        seed=seed, size=size, now=wall_clock() - EMULATOR_LAG, event_keep_days=None
    )

    latest = max(
        parse_datetime(obj[key])
        for stream, key in REPLICATION_KEYS.items()
        for obj in emu.objects(STREAM_KINDS[stream])
    )
    emu.set_now(max(latest, emu.now))

    assert emu.now + MUTATE_STEP < wall_clock(), "data dated too late for mutate()"
    return emu


def latest_bookmarks(emu: Emulator) -> dict[str, dict[str, str]]:
    """The bookmarks a complete sync of the emulator's data ends with: each
    stream's newest replication key value (all predate the sync's start)."""
    return {
        stream: {
            key: format_bookmark(
                max(parse_datetime(obj[key]) for obj in emu.objects(kind))
            )
        }
        for stream, kind in STREAM_KINDS.items()
        for key in [REPLICATION_KEYS[stream]]
    }
