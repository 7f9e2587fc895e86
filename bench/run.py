"""`make bench`: the new tap against tap-closeio 1.6.6 and the floor.

Runs on the Close emulator, CPU-bound and latency-bound, and prints figures.
CPU-bound: a full sync of every stream from a large data set, output to
/dev/null; records/s, CPU seconds per 10,000 records, peak RSS (the new tap's
two processes together) and requests for
the new tap, the original and the floor (bench/floor.py), then the ratios, and
the new tap's peak RSS at a tenth of the data set (memory must stay flat).
Latency-bound: 300 ms per request and 20 requests/s per endpoint group; wall
time of the historical activities sync of both taps and the 429s each drew.
"""

import argparse
import dataclasses
import fcntl
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import measure
import original

from close_emulator import Emulator
from close_emulator.requestlog import RequestRecord
from tap_closeio.config import DEFAULT_CONCURRENCY

LOGGER = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
VENVS = BENCH_DIR / "work"
WORK = VENVS / "last-run"  # this run's configs, logs and request logs
BIN = Path(sys.executable).parent
NEW_TAP = str(BIN / "tap-closeio")
API_KEY = "bench-api-key"
SEED = 1
ALL_STREAMS = {"custom_fields", "leads", "activities", "tasks", "users", "event_log"}

LATENCY_SECONDS = 0.3
RATE_LIMIT = (20, 1.0)  # Close's per-key example: 20 requests/s per group
RUN_TIMEOUT_SECONDS = 420
OUTPUT_PROCESS_LINE = re.compile(
    r"Output process: [0-9.]+ CPU seconds, peak RSS ([0-9]+) MiB"
)


@dataclass
class Figures:
    """One measured run of one program."""

    name: str
    records: int
    requests: int
    usage: measure.Usage
    throttled: int = 0

    @classmethod
    def of(cls, name: str, records: int, usage: measure.Usage, log: list) -> "Figures":
        throttled = sum(1 for request in log if request.status == 429)
        return cls(name, records, len(log), usage, throttled)

    @property
    def records_per_second(self) -> float:
        return self.records / self.usage.wall_seconds

    @property
    def cpu_per_10k(self) -> float:
        return self.usage.cpu_seconds / max(self.records, 1) * 10_000


@dataclass
class Setup:
    """Where a run happens: the emulator, its data set, the config files."""

    emulator: Emulator
    now: datetime
    label: str

    def config(self, **extra: object) -> dict:
        # NB: the emulator's data spans 60 days before now; 90 days of history
        # takes all of it, in seven 15-day activity windows.
        start = self.now - timedelta(days=90)
        return {
            "api_key": API_KEY,
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **extra,
        }


# the runs


def run_new_tap(
    setup: Setup, streams: set[str], capture: Path | None, **config: object
) -> tuple[measure.Usage, list]:
    """One sync of the new tap; stdout to `capture`, else /dev/null. Returns
    its usage and the emulator's log of the requests it made."""
    tag = "new-" + setup.label
    base_url = setup.emulator.base_url
    config_path = write_json(
        tag + "-config.json", setup.config(base_url=base_url, **config)
    )
    catalog = discover_new_tap(config_path, tag, streams)
    argv = [NEW_TAP, "--config", str(config_path), "--catalog", str(catalog)]
    env = measure.clean_environment()
    usage, log = _run(setup, "new tap", argv, tag, capture, env)
    return with_output_process(usage, WORK / (tag + ".log")), log


def with_output_process(usage: measure.Usage, stderr_path: Path) -> measure.Usage:
    """The new tap's usage with its output process's memory added.

    CPU needs nothing: the tap waits for the child, so the child's CPU is in
    the tap's own figures. Peak RSS is the larger of the two processes; the
    child logs its own peak (`Output process: ...`), which is added, so the
    figure is the two together at most (each at its own peak)."""
    match = OUTPUT_PROCESS_LINE.search(stderr_path.read_text(errors="replace"))
    if match is None:
        return usage
    child_mib = float(match.group(1))
    return dataclasses.replace(usage, peak_rss_mib=usage.peak_rss_mib + child_mib)


def discover_new_tap(config: Path, tag: str, streams: set[str]) -> Path:
    catalog_path = WORK / (tag + "-discovered.json")
    measure.run(
        [NEW_TAP, "--config", str(config), "--discover"],
        stdout_path=catalog_path,
        stderr_path=WORK / (tag + "-discover.log"),
        env=measure.clean_environment(),
        timeout=60,
    )
    return write_json(tag + "-catalog.json", select(read_json(catalog_path), streams))


def run_original(
    setup: Setup, python: Path, streams: set[str]
) -> tuple[measure.Usage, list, int]:
    """One sync of tap-closeio 1.6.6 pointed at the emulator, stdout to
    /dev/null. Returns its usage, the request log and its record count."""
    tag = "original-" + setup.label
    config = write_json(tag + "-config.json", setup.config())
    base_url = setup.emulator.base_url
    catalog = original.selected_catalog(python, config, base_url, streams)
    catalog_path = write_json(tag + "-catalog.json", catalog)
    argv = original.command(python, config, "--catalog", str(catalog_path))
    env = original.environment(base_url)
    usage, log = _run(setup, "original 1.6.6", argv, tag, None, env)
    return usage, log, logged_record_count(WORK / (tag + ".log"))


def _run(
    setup: Setup,
    name: str,
    argv: list[str],
    tag: str,
    capture: Path | None,
    env: dict[str, str],
) -> tuple[measure.Usage, list]:
    setup.emulator.clear_requests()
    LOGGER.info("running %s (%s)", name, setup.label)
    usage = measure.run(
        argv,
        stdout_path=capture or "/dev/null",
        stderr_path=WORK / (tag + ".log"),
        env=env,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    log = setup.emulator.requests
    with open(WORK / (tag + "-requests.jsonl"), "w") as handle:
        for request in log:
            handle.write(json.dumps(replayable(request) | {"status": request.status}))
            handle.write("\n")
    return usage, log


def run_floor(
    setup: Setup,
    capture: Path,
    log: list,
    concurrency: int,
    *,
    encode: bool,
    transform: bool = False,
) -> tuple[measure.Usage, list]:
    """Replay the new tap's requests and write its bytes: the least work.
    With `encode`, serialise each object as a RECORD line instead; with
    `transform` too, after the tap's own transform (its exact output)."""
    plan = {
        "base_url": setup.emulator.base_url,
        "api_key": API_KEY,
        "concurrency": concurrency,
        "output": str(capture),
        "encode": encode,
        "transform": transform,
        "requests": [replayable(request) for request in log if request.status == 200],
    }
    tag = "floor-transform" if transform else "floor-encode" if encode else "floor"
    plan_path = write_json(tag + "-plan.json", plan)
    argv = [sys.executable, str(BENCH_DIR / "floor.py"), str(plan_path)]
    env = measure.clean_environment()
    return _run(setup, tag, argv, tag, None, env)


def replayable(request: RequestRecord) -> dict:
    target = request.path + ("?" + request.query_string if request.query_string else "")
    body = json.loads(request.body) if request.body else None
    return {"method": request.method, "target": target, "body": body}


# counting


def count_records(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in line[:20]:
                count += 1
    return count


def records_by_stream(path: Path) -> Counter:
    counts: Counter = Counter()
    with open(path, "rb") as handle:
        for line in handle:
            if b'"RECORD"' in line[:30]:
                counts[json.loads(line)["stream"]] += 1
    return counts


def logged_record_count(log_path: Path) -> int:
    """Sum of singer-python's record_count metric lines in a tap's log.

    NB: the original's stdout goes to /dev/null, so its own counters are the
    only place its record count is written.
    """
    total = 0
    for line in log_path.read_text(errors="replace").splitlines():
        _, found, payload = line.partition("METRIC: ")
        if found:
            metric = json.loads(payload)
            if metric.get("metric") == "record_count":
                total += int(metric["value"])
    return total


# helpers


def select(catalog: dict, streams: set[str]) -> dict:
    """Keep `streams`, each marked selected at the stream level."""
    catalog["streams"] = [
        s for s in catalog["streams"] if s["tap_stream_id"] in streams
    ]
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return catalog


def write_json(name: str, value: object) -> Path:
    path = WORK / name
    path.write_text(json.dumps(value))
    return path


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# the scenarios


def cpu_bound(args: argparse.Namespace, python: Path | None) -> dict:
    """Full sync of every stream: new tap, floor, original; then memory."""
    size = {"users": 20, "leads": args.leads, "activities": args.activities}
    size.update(tasks=args.leads, events=args.events)
    results = {"size": size, "kept": args.keep_query_results}
    results["concurrency"] = args.concurrency
    capture = WORK / "new-output.jsonl"
    with started(size, "cpu") as setup:
        if args.keep_query_results:
            keep_query_results(setup.emulator)
        # A first run keeps the output: the record count and the floor's bytes.
        _, log = run_new_tap(setup, ALL_STREAMS, capture, **args.tap_config)
        records = count_records(capture)
        results["new_streams"] = dict(records_by_stream(capture))

        usage, log = run_new_tap(setup, ALL_STREAMS, None, **args.tap_config)
        new = Figures.of("new tap", records, usage, log)
        usage, floor_log = run_floor(
            setup, capture, log, args.concurrency, encode=False
        )
        floor = Figures.of("floor", records, usage, floor_log)
        capture.unlink()  # hundreds of MB, only the floor needs it
        usage, floor_log = run_floor(setup, capture, log, args.concurrency, encode=True)
        encoding = Figures.of("floor + encode", records, usage, floor_log)
        usage, floor_log = run_floor(
            setup, capture, log, args.concurrency, encode=True, transform=True
        )
        computed = Figures.of("floor + transform + encode", records, usage, floor_log)
        rows = [new, floor, encoding, computed]
        if python is not None:
            usage, log, old_records = run_original(setup, python, ALL_STREAMS)
            rows.insert(0, Figures.of("original 1.6.6", old_records, usage, log))
    results["rows"] = rows

    small = {key: max(1, value // 10) for key, value in size.items()}
    small["users"] = size["users"]
    with started(small, "tenth") as setup:
        usage, log = run_new_tap(setup, ALL_STREAMS, capture, **args.tap_config)
        results["tenth"] = Figures.of("new tap", count_records(capture), usage, log)
    return results


def latency_bound(args: argparse.Namespace, python: Path | None) -> dict:
    """Historical activities sync with Close-like latency and rate limits."""
    size = {
        "users": 20,
        "leads": args.latency_leads,
        "activities": args.latency_activities,
    }
    results = {"size": size}
    streams = {"activities"}
    capture = WORK / "new-latency-output.jsonl"
    options = {"latency": LATENCY_SECONDS, "rate_limit": RATE_LIMIT}
    with started(size, "latency", **options) as setup:
        usage, log = run_new_tap(setup, streams, capture, **args.tap_config)
        rows = [Figures.of("new tap", count_records(capture), usage, log)]
        if python is not None:
            usage, log, old_records = run_original(setup, python, streams)
            rows.insert(0, Figures.of("original 1.6.6", old_records, usage, log))
    results["rows"] = rows
    return results


def keep_query_results(emulator: Emulator) -> None:
    """Let the emulator keep every query result it computes (it keeps 256).

    NB: the emulator filters and sorts a whole collection for each new query,
    where Close answers from an index. The new tap's keyset paging asks a new
    query for every lead and task page, so each of those pages would cost the
    emulator about 200 ms at 20,000 leads, a cost Close does not have, and the
    CPU-bound run would time the emulator. Kept, a query seen in the captured
    run is a slice in the measured one (the floor replays the same queries).
    """
    store = emulator.store
    results = getattr(store, "_results", None)
    if results is None:
        LOGGER.warning("emulator has no query cache to keep; timing as it is")
        return

    def result(key: tuple, compute: Callable[[], list[str]]) -> list[str]:
        with store.lock:
            cached = results.get(key)
            if cached is None:
                cached = results[key] = compute()
            return cached

    store.result = result


class started:
    """An emulator with `size`, dated now, for one `with` block."""

    def __init__(self, size: dict, label: str, **options: object) -> None:
        self.size, self.label, self.options = size, label, options

    def __enter__(self) -> Setup:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        began = time.perf_counter()
        emulator = Emulator(SEED, self.size, now, API_KEY, **self.options)
        LOGGER.info(
            "emulator data set %s ready in %.1fs",
            self.size,
            time.perf_counter() - began,
        )
        self.emulator = emulator.start()
        return Setup(emulator, now, self.label)

    def __exit__(self, *exc: object) -> None:
        self.emulator.stop()


# the report


def print_cpu(results: dict) -> None:
    size = results["size"]
    print(
        f"\nCPU-bound: full sync of every stream, output to /dev/null "
        f"({size['leads']:,} leads, {size['activities']:,} activities, "
        f"{size['tasks']:,} tasks, {size['events']:,} events)"
    )
    kept = "kept (an index, as Close has)" if results["kept"] else "recomputed"
    print(f"emulator query results: {kept}; tap concurrency: {results['concurrency']}")
    print(f"new tap records by stream: {results['new_streams']}")
    header = ("program", "records", "wall s", "records/s", "CPU s/10k")
    header += ("peak RSS MiB", "requests")
    rows = [
        (
            row.name,
            f"{row.records:,}",
            f"{row.usage.wall_seconds:.1f}",
            f"{row.records_per_second:,.0f}",
            f"{row.cpu_per_10k:.3f}",
            f"{row.usage.peak_rss_mib:.0f}",
            f"{row.requests:,}",
        )
        for row in results["rows"]
    ]
    print_table(header, rows)
    by_name = {row.name: row for row in results["rows"]}
    new, floor = by_name["new tap"], by_name["floor"]

    old = by_name.get("original 1.6.6")
    if old is not None:
        speed = new.records_per_second / old.records_per_second
        cpu = old.cpu_per_10k / new.cpu_per_10k
        print(
            f"new vs original: {speed:.2f}x the records/s (target >= 5x); "
            f"{cpu:.2f}x less CPU per record"
        )
    distance = floor.records_per_second / new.records_per_second
    cpu_distance = new.cpu_per_10k / floor.cpu_per_10k
    print(
        f"new vs floor: the floor does {distance:.2f}x the new tap's records/s "
        f"(target <= 1.5x); the new tap spends {cpu_distance:.2f}x the floor's "
        f"CPU per record"
    )

    for name in ("floor + encode", "floor + transform + encode"):
        other = by_name.get(name)
        if other is not None:
            print(
                f"new vs {name}: it does "
                f"{other.records_per_second / new.records_per_second:.2f}x the new "
                f"tap's records/s; the new tap spends "
                f"{new.cpu_per_10k / other.cpu_per_10k:.2f}x its CPU per record"
            )

    tenth = results["tenth"]
    growth = new.usage.peak_rss_mib / tenth.usage.peak_rss_mib
    print(
        f"memory: new tap peak RSS {tenth.usage.peak_rss_mib:.0f} MiB for "
        f"{tenth.records:,} records, {new.usage.peak_rss_mib:.0f} MiB for "
        f"{new.records:,} records: {growth:.2f}x for "
        f"{new.records / tenth.records:.1f}x the data (target: flat)"
    )


def print_latency(results: dict) -> None:
    size = results["size"]
    print(
        f"\nLatency-bound: historical activities sync, "
        f"{LATENCY_SECONDS * 1000:.0f} ms per request, {RATE_LIMIT[0]} requests "
        f"per {RATE_LIMIT[1]:g}s per endpoint group "
        f"({size['leads']:,} leads, {size['activities']:,} activities)"
    )
    header = ("program", "records", "wall s", "requests", "429s", "CPU s")
    header += ("peak RSS MiB",)
    rows = [
        (
            row.name,
            f"{row.records:,}",
            f"{row.usage.wall_seconds:.1f}",
            f"{row.requests:,}",
            str(row.throttled),
            f"{row.usage.cpu_seconds:.1f}",
            f"{row.usage.peak_rss_mib:.0f}",
        )
        for row in results["rows"]
    ]
    print_table(header, rows)

    by_name = {row.name: row for row in results["rows"]}
    new, old = by_name["new tap"], by_name.get("original 1.6.6")
    if old is not None:
        speed = old.usage.wall_seconds / new.usage.wall_seconds
        print(
            f"new vs original: {speed:.2f}x faster wall time (target >= 4x); "
            f"new tap 429s: {new.throttled} (target 0)"
        )


def print_table(header: tuple, rows: list[tuple]) -> None:
    widths = [
        max(len(str(cell)) for cell in column)
        for column in zip(header, *rows, strict=True)
    ]
    for line in (header, *rows):
        cells = [
            str(cell).rjust(width) for cell, width in zip(line, widths, strict=True)
        ]
        cells[0] = str(line[0]).ljust(widths[0])
        print("  ".join(cells))


def print_machine() -> None:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    print(
        f"machine: {os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"
    )


def code_version() -> str:
    """The commit measured, and whether the work tree differed from it."""
    git = ["git", "-C", str(BENCH_DIR.parent)]
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (head or "unknown") + (" plus uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="bench: %(message)s", stream=sys.stderr
    )
    with hold_bench_lock():
        shutil.rmtree(WORK, ignore_errors=True)
        WORK.mkdir(parents=True)
        version = code_version()
        load_before = os.getloadavg()[0]
        results = measure_all(args)
        load_after = os.getloadavg()[0]

    print_machine()
    print(f"code: {version} (taps installed editable: the work tree is measured)")
    # NB: the machine is shared; other work shows here and in every wall time.
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
    if "cpu" in results:
        print_cpu(results["cpu"])
    if "latency" in results:
        print_latency(results["latency"])
    return 0


def measure_all(args: argparse.Namespace) -> dict:
    python = None if args.skip_original else original.ensure_venv(VENVS)
    results = {}
    if args.mode in ("all", "cpu"):
        results["cpu"] = cpu_bound(args, python)
    if args.mode in ("all", "latency"):
        results["latency"] = latency_bound(args, python)
    return results


def hold_bench_lock() -> IO:
    """One bench at a time on this machine: two would share its two cores
    and its work folder, and both would print wrong figures."""
    VENVS.mkdir(exist_ok=True)
    handle = open(VENVS / "bench.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        LOGGER.warning("another bench run is going on; waiting for it to end")
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode",
        choices=("all", "cpu", "latency"),
        default="all",
        help="cpu: the full sync, the floors and the tenth-size run; latency: "
        "the 300 ms, 20 requests a second activities sync; all: both (default)",
    )
    parser.add_argument(
        "--latency",
        dest="mode",
        action="store_const",
        const="latency",
        help="same as --mode latency",
    )
    parser.add_argument(
        "--leads", type=int, default=20_000, help="CPU-bound run; as many tasks"
    )
    parser.add_argument("--activities", type=int, default=200_000, help="CPU-bound run")
    parser.add_argument(
        "--events", type=int, default=20_000, help="event log size (else ~1.5/record)"
    )
    parser.add_argument(
        "--no-keep-query-results",
        dest="keep_query_results",
        action="store_false",
        help="let the emulator recompute each new query (see keep_query_results)",
    )
    parser.add_argument(
        "--latency-leads", type=int, default=2_000, help="latency-bound run"
    )
    parser.add_argument(
        "--latency-activities", type=int, default=20_000, help="latency-bound run"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="the new tap's concurrency (default: its own)",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run the new tap with output_process false (all its work in one process)",
    )
    parser.add_argument(
        "--skip-original",
        action="store_true",
        help="measure the new tap and the floor only",
    )
    args = parser.parse_args(argv)
    args.tap_config = (
        {} if args.concurrency is None else {"concurrency": args.concurrency}
    )
    if args.one_process:
        args.tap_config["output_process"] = False
    if args.concurrency is None:
        args.concurrency = DEFAULT_CONCURRENCY
    return args


if __name__ == "__main__":
    sys.exit(main())
