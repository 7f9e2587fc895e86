#!/usr/bin/env bash
# Stops the throwaway PostgreSQL server and removes its data directory.
set -euo pipefail
source "$(dirname "$0")/_lib.sh"

bindir="$(pg_bindir)"
if [[ -n "$bindir" && -f "$PG_DATA/postmaster.pid" ]]; then
    log "stopping PostgreSQL on port $PG_PORT"
    as_pg_owner "$bindir/pg_ctl" --pgdata="$PG_DATA" --wait -m fast stop >/dev/null
fi

if [[ "${1:-}" != "--keep-data" ]]; then
    rm -rf "$PG_DATA"
fi
