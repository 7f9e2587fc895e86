"""The close-emulator command: start the emulator in the foreground."""

import argparse
import json
import signal
import sys
import threading
from datetime import datetime, timezone

from close_emulator.emulator import DEFAULT_NOW, Emulator
from close_emulator.generator import SIZES
from close_emulator.ratelimit import STYLES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="close-emulator",
        description="Serve an emulated Close API (https://api.close.com/api/v1/) "
        "on 127.0.0.1 until interrupted.",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port (default 0: a free one)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.add_argument(
        "--size",
        default="demo",
        help=f"one of {', '.join(SIZES)} or JSON counts such as "
        "'{\"leads\": 50}' (default demo)",
    )
    parser.add_argument(
        "--now",
        default=DEFAULT_NOW,
        help=f"the fixed now, or 'wall' for this moment (default {DEFAULT_NOW})",
    )
    parser.add_argument(
        "--api-key", default="test-key", help="the accepted API key (default test-key)"
    )
    parser.add_argument(
        "--max-limit", type=int, default=100, help="max _limit (default 100)"
    )
    parser.add_argument(
        "--max-skip", type=int, default=250_000, help="max _skip (default 250000)"
    )
    parser.add_argument(
        "--activity-order",
        choices=("desc", "asc"),
        default="desc",
        help="default /activity/ order by date_created (default desc)",
    )
    parser.add_argument(
        "--rate-limit",
        default=None,
        help="N/SECONDS per endpoint group, e.g. 20/1 (default off)",
    )
    parser.add_argument(
        "--rate-limit-style",
        choices=STYLES,
        default="ratelimit",
        help="how limits are announced (default ratelimit)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every API response"
    )
    parser.add_argument(
        "--samples",
        action="store_true",
        help="serve ../shared/close_samples instead of generated data",
    )
    parser.add_argument(
        "--event-keep-days",
        type=int,
        default=30,
        help="days of events /event/ serves; 0 keeps all (default 30)",
    )
    parser.add_argument(
        "--redirect-status",
        type=int,
        default=308,
        help="status for a path without its trailing slash (default 308)",
    )
    parser.add_argument(
        "--event-data-hours",
        type=float,
        default=None,
        help="act as a non-admin key: events older than this many hours come "
        "without data and previous_data (default: all have them)",
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Emulator:
    size = json.loads(args.size) if args.size.startswith("{") else args.size
    rate_limit = None
    if args.rate_limit:
        count, _, seconds = args.rate_limit.partition("/")
        rate_limit = (int(count), float(seconds or 1))
    return Emulator(
        seed=args.seed,
        size=size,
        now=datetime.now(timezone.utc) if args.now == "wall" else args.now,
        api_key=args.api_key,
        max_limit=args.max_limit,
        max_skip=args.max_skip,
        activity_order=args.activity_order,
        rate_limit=rate_limit,
        rate_limit_style=args.rate_limit_style,
        latency=args.latency,
        samples=args.samples,
        port=args.port,
        host=args.host,
        event_keep_days=args.event_keep_days or None,
        redirect_status=args.redirect_status,
        event_data_hours=args.event_data_hours,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        emu = build(args).start()
    except (OSError, ValueError) as exc:
        # A port in use, an unknown --size: one line, not a traceback.
        print(f"close-emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    print(
        f"Close API emulator listening on {emu.base_url} (api key: {emu.api_key})",
        flush=True,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
