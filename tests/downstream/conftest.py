"""Fixtures for the downstream tests: a seeded emulator and a throwaway
PostgreSQL server started with scripts/ci."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from downstream_support import (
    CI_SCRIPTS,
    INSTALL_HINT,
    TOOL_EXECUTABLES,
    missing,
    start_emulator,
    tool,
)

from close_emulator import Emulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "tools(*names): the build/tools venvs a test needs"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    # NB: runs before the test's fixtures, so a missing tool skips the test
    # before a module-wide fixture spends half a minute on a sync.
    for mark in item.iter_markers("tools"):
        for name in mark.args:
            tool(name, TOOL_EXECUTABLES[name])


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The "small" data set, fixed seed and clock: the same run every time."""
    with start_emulator("small", seed=5) as emu:
        yield emu


# PostgreSQL


def _pg_settings(output: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {key.removeprefix("TAP_CLOSEIO_PG_"): value for key, value in pairs}


@pytest.fixture(scope="session")
def postgres() -> Iterator[dict[str, str]]:
    """A running PostgreSQL on loopback; started (and later stopped) here
    unless one already answers on the port."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        missing(f"PostgreSQL not installed: {INSTALL_HINT}")

    probe = subprocess.run(
        ["bash", str(CI_SCRIPTS / "pg-start.sh")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    started_here = "starting PostgreSQL" in probe.stderr

    yield _pg_settings(probe.stdout)

    if started_here:
        subprocess.run(
            ["bash", str(CI_SCRIPTS / "pg-stop.sh")], check=True, timeout=120
        )
