"""The original singer-io tap-closeio 1.6.6: a throwaway virtualenv under
bench/work/ and the command lines that run it against a local base URL."""

import json
import logging
import subprocess
import sys
from pathlib import Path

from measure import clean_environment

LOGGER = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
CONSTRAINTS = BENCH_DIR / "original-constraints.txt"
LAUNCHER = BENCH_DIR / "original_launcher.py"
INSTALL_TIMEOUT_SECONDS = 600
DISCOVER_TIMEOUT_SECONDS = 60


def ensure_venv(work_dir: Path) -> Path:
    """Create the virtualenv once (keyed by the constraints file); return its
    python."""
    venv = work_dir / "original-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = CONSTRAINTS.read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return python

    LOGGER.info("installing tap-closeio 1.6.6 into %s", venv)
    subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        check=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    pip = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run(
        [*pip, "-c", str(CONSTRAINTS), "tap-closeio==1.6.6"],
        check=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    stamp.write_text(wanted)
    return python


def command(python: Path, config_path: Path, *extra: str) -> list[str]:
    """The original's CLI, started through the launcher that swaps its base
    URL."""
    return [str(python), str(LAUNCHER), "--config", str(config_path), *extra]


def environment(base_url: str) -> dict[str, str]:
    """The bench's environment plus the variable the launcher reads."""
    return {**clean_environment(), "BENCH_ORIGINAL_BASE_URL": base_url}


def selected_catalog(
    python: Path, config_path: Path, base_url: str, streams: set[str]
) -> dict:
    """Discover with the original and mark `streams` selected.

    NB: 1.6.6 syncs only streams whose catalog entry says selected, so a sync
    without a catalog writes nothing.
    """
    result = subprocess.run(
        command(python, config_path, "--discover"),
        env=environment(base_url),
        capture_output=True,
        check=True,
        timeout=DISCOVER_TIMEOUT_SECONDS,
    )
    catalog = json.loads(result.stdout)
    catalog["streams"] = [
        s for s in catalog["streams"] if s["tap_stream_id"] in streams
    ]
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return catalog
