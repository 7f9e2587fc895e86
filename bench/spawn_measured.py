"""Starts one command and writes what it cost (wall, CPU, peak RSS) as JSON.
Run as `python spawn_measured.py RESULT.json COMMAND...` by measure.py.

NB: Linux carries the parent's peak RSS into a child at exec (fork and vfork
alike), so a child started by the bench, whose emulator holds the whole data
set, would report the bench's RSS. Started from this small process instead,
the command's peak RSS is its own."""

import json
import os
import sys
import time


def main(result_path: str, argv: list[str]) -> int:
    started = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, rusage = os.wait4(pid, 0)
    wall = time.perf_counter() - started

    code = os.waitstatus_to_exitcode(status)
    result = {
        "exit": code,
        "wall_seconds": wall,
        "cpu_seconds": rusage.ru_utime + rusage.ru_stime,
        "peak_rss_kib": rusage.ru_maxrss,
    }
    with open(result_path, "w") as handle:
        json.dump(result, handle)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
