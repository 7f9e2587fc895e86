"""Running one child process under a timeout and reading its own resource usage
(wall, CPU, peak RSS), the way the figures in the table are taken."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SPAWNER = Path(__file__).resolve().parent / "spawn_measured.py"


class RunFailed(RuntimeError):
    """The child exited non-zero or ran past its timeout."""


@dataclass(frozen=True)
class Usage:
    """What one child cost: wall seconds, CPU seconds (user + sys), peak RSS."""

    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float


def run(
    argv: list[str],
    *,
    stdout_path: Path | str,
    stderr_path: Path,
    env: Mapping[str, str],
    timeout: float,
) -> Usage:
    """Run argv to completion and return its usage; raise RunFailed otherwise."""
    result_path = Path(str(stderr_path) + ".usage.json")
    result_path.unlink(missing_ok=True)
    command = [sys.executable, str(SPAWNER), str(result_path), *argv]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        # A session of its own, so a timeout ends the command with its spawner.
        child = subprocess.Popen(
            command, stdout=out, stderr=err, env=dict(env), start_new_session=True
        )
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill(child)
            reason = f"timed out after {timeout:.0f}s"
            raise RunFailed(_failure(argv, reason, stderr_path)) from None
        except BaseException:
            _kill(child)  # e.g. Ctrl-C: leave nothing running
            raise

    if child.returncode != 0 or not result_path.exists():
        raise RunFailed(_failure(argv, f"exit {child.returncode}", stderr_path))
    result = json.loads(result_path.read_text())
    return Usage(
        result["wall_seconds"], result["cpu_seconds"], result["peak_rss_kib"] / 1024
    )


def clean_environment() -> dict[str, str]:
    """This process's environment without TAP_CLOSEIO_* settings, so a
    developer's shell cannot change what a tap under test does."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_CLOSEIO_")}


def _kill(child: subprocess.Popen) -> None:
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _failure(argv: list[str], reason: str, stderr_path: Path) -> str:
    tail = stderr_path.read_text(errors="replace").splitlines()[-15:]
    return "{} {}; stderr tail:\n{}".format(argv[0], reason, "\n".join(tail))
