"""The repo's meltano.yml under real Meltano: `meltano run tap-closeio
target-jsonl` twice against the emulator, Meltano carrying the state."""

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from downstream_support import (
    REPO_ROOT,
    SUBPROCESS_TIMEOUT,
    emulator_ids,
    latest_bookmarks,
    tap_config,
    tool,
)

from tap_closeio.timeutil import parse_datetime

STATE_ID = "dev:tap-closeio-to-target-jsonl"

# Meltano installs its plugins' venvs here, outside git and reused between
# runs. Each test gets a system dir of its own linking to them, so its state
# starts empty and its run files cannot clash with another Meltano's.
SHARED_SYS_DIR = REPO_ROOT / "build" / "meltano"
PLUGIN_DIRS = ("extractors", "loaders")

pytestmark = pytest.mark.tools("meltano")


def sys_dir(workdir: Path) -> Path:
    own = workdir / "meltano"
    own.mkdir()
    for name in PLUGIN_DIRS:
        (SHARED_SYS_DIR / name).mkdir(parents=True, exist_ok=True)
        (own / name).symlink_to(SHARED_SYS_DIR / name)
    return own


def meltano_env(emulator, workdir: Path) -> dict[str, str]:
    config = tap_config(emulator)
    env = dict(os.environ)
    env.update(
        MELTANO_SYS_DIR_ROOT=str(sys_dir(workdir)),
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        TAP_CLOSEIO_API_KEY=config["api_key"],
        TAP_CLOSEIO_BASE_URL=config["base_url"],
        TAP_CLOSEIO_START_DATE=config["start_date"],
        TARGET_JSONL_DESTINATION_PATH=str(workdir / "out"),
    )
    return env


def meltano(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(tool("meltano", "meltano")), "--cwd", str(REPO_ROOT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert done.returncode == 0, f"meltano {args}:\n{done.stderr[-4000:]}"
    return done.stdout


def state(env: dict[str, str]) -> dict:
    return json.loads(meltano(env, "state", "get", STATE_ID))


def loaded_ids(directory: Path) -> dict[str, set[str]]:
    return {
        path.stem: {json.loads(line)["id"] for line in path.read_text().splitlines()}
        for path in directory.glob("*.jsonl")
    }


def first_lower_bound(emulator, path: str, param: str) -> datetime:
    """The `param` filter of the first request to `path` that carried one."""
    # NB: discovery's probe of /event/ (Meltano runs --discover first) has none.
    values = [
        r.query[param] for r in emulator.requests if r.path == path and param in r.query
    ]
    assert values, f"no request to {path} with {param}"
    return parse_datetime(values[0])


@pytest.mark.timeout(900)
def test_meltano_declares_the_tap_and_checks_the_connection(emulator, tmp_path):
    env = meltano_env(emulator, tmp_path)
    meltano(env, "install")

    listed = meltano(env, "config", "list", "tap-closeio")
    tested = meltano(env, "config", "test", "tap-closeio")
    invoked = meltano(env, "invoke", "tap-closeio", "--test")

    assert listed.splitlines()[0] == "Required settings: api_key, start_date"
    assert "api_key [env: TAP_CLOSEIO_API_KEY] current value: (redacted)" in listed
    assert emulator.api_key not in listed
    assert tested.strip() == "Plugin configuration is valid"
    assert invoked.startswith(f"OK: Close at {emulator.base_url} accepted")


@pytest.mark.timeout(900)
def test_meltano_run_twice_carries_state(emulator, tmp_path):
    env = meltano_env(emulator, tmp_path)
    meltano(env, "install")

    meltano(env, "run", "tap-closeio", "target-jsonl")
    first_state = state(env)["singer_state"]

    assert loaded_ids(tmp_path / "out") == emulator_ids(emulator)
    assert first_state == {
        "currently_syncing": None,
        "bookmarks": latest_bookmarks(emulator),
    }

    emulator.mutate(seed=3)
    emulator.clear_requests()
    meltano(env, "run", "tap-closeio", "target-jsonl")
    second_state = state(env)["singer_state"]

    assert loaded_ids(tmp_path / "out") == emulator_ids(emulator)
    assert second_state == {
        "currently_syncing": None,
        "bookmarks": latest_bookmarks(emulator),
    }
    assert second_state != first_state
    bookmarks = {
        stream: parse_datetime(value)
        for stream, bookmark in first_state["bookmarks"].items()
        for value in bookmark.values()
    }
    assert (
        first_lower_bound(emulator, "/api/v1/task/", "date_updated__gte")
        == bookmarks["tasks"]
    )
    assert (
        first_lower_bound(emulator, "/api/v1/event/", "date_updated__gte")
        == bookmarks["event_log"]
    )
