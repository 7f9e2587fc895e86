"""The real thing: the tap-closeio command killed with SIGKILL while it
writes, then run again from the last STATE its output held."""

import json
import os
import signal
import subprocess
import sys

import pytest

from tap_closeio.timeutil import parse_datetime

NOW = "2024-05-01T12:00:00+00:00"
START = "2024-03-01T00:00:00Z"
SIZE = {"users": 3, "leads": 150, "activities": 400, "tasks": 60}
KINDS = {
    "custom_fields": "custom_field_lead",
    "leads": "lead",
    "activities": "activity",
    "tasks": "task",
    "users": "user",
}


def run_tap(config: str, state: dict | None, tmp_path, kill_after: int | None):
    """Run the command; with `kill_after`, SIGKILL it once that many lines
    have been read. Returns the complete lines it wrote."""
    args = [sys.executable, "-m", "tap_closeio.cli", "--config", config]
    if state is not None:
        path = tmp_path / "state.json"
        path.write_text(json.dumps(state))
        args += ["--state", str(path)]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    lines = []
    if kill_after is not None:
        while len(lines) < kill_after:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        os.kill(proc.pid, signal.SIGKILL)
    # NB: read through the same buffered pipe readline used; communicate()
    # with a timeout reads the raw descriptor and skips what is buffered.
    lines.append(proc.stdout.read())
    proc.wait(timeout=120)
    text = "".join(lines)
    complete = text.splitlines(keepends=True)
    if complete and not complete[-1].endswith("\n"):
        complete.pop()  # cut mid-line by the kill
    return [json.loads(line) for line in complete], proc.returncode


def covered(messages: list[dict], stream: str) -> set[tuple]:
    """Versions of records written before the last STATE."""
    states = [i for i, m in enumerate(messages) if m["type"] == "STATE"]
    cut = states[-1] if states else 0
    return {
        (m["record"]["id"], parse_datetime(m["record"]["date_updated"]))
        for m in messages[:cut]
        if m["type"] == "RECORD" and m["stream"] == stream
    }


@pytest.mark.parametrize("kill_after", [3, 40, 200, 450, 700])
def test_sigkilled_tap_resumed_from_its_last_state_loses_nothing(
    emulator_factory, tmp_path, kill_after
):
    emu = emulator_factory(seed=5, size=SIZE, now=NOW)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_key": emu.api_key,
                "start_date": START,
                "base_url": emu.base_url,
                "date_window": "2",
                "concurrency": 3,
            }
        )
    )

    first, code = run_tap(str(config), None, tmp_path, kill_after)
    assert code == -signal.SIGKILL
    states = [m["value"] for m in first if m["type"] == "STATE"]
    second, code = run_tap(str(config), states[-1] if states else None, tmp_path, None)
    assert code == 0

    start = parse_datetime(START)
    for stream, kind in KINDS.items():
        emitted = covered(first, stream) | covered(second, stream)
        key = "date_created" if stream == "activities" else "date_updated"
        for obj in emu.objects(kind):
            if stream != "users" and parse_datetime(obj[key]) < start:
                continue
            version = (obj["id"], parse_datetime(obj["date_updated"]))
            assert version in emitted, (stream, version)
