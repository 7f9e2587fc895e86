"""Where the new tap's CPU goes: one full sync on the emulator under a
profiler, the top functions printed. `.venv/bin/python bench/profile.py`.

NB: cProfile sees only the main thread; the activity windows are read in
worker threads. `--py-spy PATH` samples every thread (py-spy is not a project
dependency: `pip install py-spy` into any venv and give its path).
"""

import argparse
import pstats
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import measure
from run import (
    ALL_STREAMS,
    API_KEY,
    NEW_TAP,
    SEED,
    WORK,
    Setup,
    discover_new_tap,
    hold_bench_lock,
    write_json,
)

from close_emulator import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=5_000)
    parser.add_argument("--activities", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--stream", action="append", help="profile only these")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--py-spy", help="path of a py-spy binary")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)

    size = {"users": 20, "leads": args.leads, "activities": args.activities}
    size.update(tasks=args.leads, events=args.events)
    streams = set(args.stream or ALL_STREAMS)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with hold_bench_lock(), Emulator(SEED, size, now, API_KEY) as emulator:
        setup = Setup(emulator, now, "profile")
        config = write_json(
            "profile-config.json",
            # NB: one process, so the profile sees the transform and the
            # writing too (a profiler follows only the process it started).
            setup.config(base_url=emulator.base_url, output_process=False),
        )
        catalog = discover_new_tap(config, "profile", streams)
        stats = WORK / ("profile.collapsed" if args.py_spy else "profile.pstats")
        argv = [sys.executable, "-m", "cProfile", "-o", str(stats), NEW_TAP]
        if args.py_spy:
            argv = [args.py_spy, "record", "--gil", "-r", "250", "-f", "raw"]
            argv += ["-o", str(stats), "--", sys.executable, NEW_TAP]
        argv += ["--config", str(config), "--catalog", str(catalog)]
        usage = measure.run(
            argv,
            stdout_path="/dev/null",
            stderr_path=WORK / "profile.log",
            env=measure.clean_environment(),
            timeout=600,
        )

    print(f"size {size}, streams {sorted(streams)}: {usage}")
    if args.py_spy:
        print_collapsed(stats, args.top)
        return 0
    report = pstats.Stats(str(stats))
    report.sort_stats("tottime").print_stats(args.top)
    report.sort_stats("cumulative").print_stats(args.top)
    return 0


def print_collapsed(path: Path, top: int) -> None:
    """Self and inclusive sample shares per function from py-spy's raw
    (collapsed stack) output."""
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        # NB: py-spy starts a stack with "process N:..." when there is one.
        frames = [_short(f) for f in stack.split(";") if not f.startswith("process ")]
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title} share of {total} samples holding the GIL, all threads:")
        for frame, samples in counter.most_common(top):
            print(f"{100 * samples / total:6.1f}%  {frame}")


def _short(frame: str) -> str:
    # "encode (json/encoder.py:183)" -> keep the function and file name only
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':')[0]})" if where else name


if __name__ == "__main__":
    sys.exit(main())
