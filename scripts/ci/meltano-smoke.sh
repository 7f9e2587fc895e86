#!/usr/bin/env bash
# The README's Meltano example, run as written: start the emulator, then
# `meltano run tap-closeio target-jsonl` twice, Meltano carrying the state,
# and check that the second run started from the first run's bookmark.
#
# Needs `make install` and scripts/ci/install-tools.sh first. Plugin venvs go
# to build/meltano; state, run files and output to a temp dir, so the work
# tree stays clean and two runs at once do not clash.
set -euo pipefail
source "$(dirname "$0")/_lib.sh"

meltano="$TOOLS_DIR/meltano/bin/meltano"
python="$REPO_ROOT/.venv/bin/python"
port="${TAP_CLOSEIO_SMOKE_PORT:-18765}"
emulator="http://127.0.0.1:$port"
work="$(mktemp -d)"

"$REPO_ROOT/.venv/bin/close-emulator" --port "$port" --size small \
    >"$work/emulator.log" 2>&1 &
emulator_pid=$!
stop() {
    kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
    rm -rf "$work"
}
trap 'stop || true' EXIT
for _ in $(seq 50); do
    grep -q "listening on" "$work/emulator.log" && break
    sleep 0.2
done
grep -q "listening on" "$work/emulator.log" || { cat "$work/emulator.log"; exit 1; }

mkdir -p "$work/sys" "$REPO_ROOT/build/meltano/extractors" "$REPO_ROOT/build/meltano/loaders"
ln -s "$REPO_ROOT/build/meltano/extractors" "$REPO_ROOT/build/meltano/loaders" "$work/sys/"
export MELTANO_SYS_DIR_ROOT="$work/sys"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export TAP_CLOSEIO_API_KEY=test-key
export TAP_CLOSEIO_BASE_URL="$emulator/api/v1/"
export TAP_CLOSEIO_START_DATE=2023-01-01T00:00:00Z
export TARGET_JSONL_DESTINATION_PATH="$work/output"
cd "$REPO_ROOT"

# The emulator's control API (no auth): GET with one argument, POST with two.
control() {
    "$python" -c 'import sys, urllib.request as rq
body = sys.argv[2].encode() if len(sys.argv) > 2 else None
print(rq.urlopen(rq.Request(sys.argv[1], data=body)).read().decode())' "$@"
}

run_meltano() {
    "$meltano" "$@" >>"$work/meltano.log" 2>&1 || { tail -n 40 "$work/meltano.log"; exit 1; }
}

run_meltano install
run_meltano run tap-closeio target-jsonl
"$meltano" state get dev:tap-closeio-to-target-jsonl >"$work/state-1.json" 2>/dev/null
log "run 1: $(cat "$work"/output/*.jsonl | wc -l) records; state $(cat "$work/state-1.json")"

control "$emulator/_emulator/mutate" '{"seed": 3}' >/dev/null
control "$emulator/_emulator/clear-requests" '{}' >/dev/null
run_meltano run tap-closeio target-jsonl
"$meltano" state get dev:tap-closeio-to-target-jsonl >"$work/state-2.json" 2>/dev/null
control "$emulator/_emulator/requests" >"$work/requests.json"
log "run 2: $(cat "$work"/output/*.jsonl | wc -l) records; state $(cat "$work/state-2.json")"

# The second run's first /task/ and /event/ requests must ask from the first
# run's bookmarks (compared as datetimes, not strings).
"$python" - "$work/state-1.json" "$work/requests.json" <<'PY'
import json, sys
from tap_closeio.timeutil import parse_datetime

bookmarks = json.load(open(sys.argv[1]))["singer_state"]["bookmarks"]
requests = json.load(open(sys.argv[2]))
for path, stream in [("/api/v1/task/", "tasks"), ("/api/v1/event/", "event_log")]:
    asked = next(
        r["query"]["date_updated__gte"]
        for r in requests
        if r["path"] == path and "date_updated__gte" in r["query"]
    )
    expected = bookmarks[stream]["date_updated"]
    if parse_datetime(asked) != parse_datetime(expected):
        sys.exit(f"{stream}: run 2 asked from {asked}, state had {expected}")
PY
log "ok: the second run started from the first run's bookmarks"
