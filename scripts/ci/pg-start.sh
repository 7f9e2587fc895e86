#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1:$TAP_CLOSEIO_PG_PORT.
#
# Trust auth, a data directory of its own under $TMPDIR, no system service.
# Idempotent: a server already answering on that port is left running. Prints
# the connection settings as shell assignments on stdout.
set -euo pipefail
source "$(dirname "$0")/_lib.sh"

bindir="$(pg_bindir)"
if [[ -z "$bindir" ]]; then
    log "PostgreSQL is not installed: run scripts/ci/install-postgres.sh"
    exit 1
fi

if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
        log "initialising $PG_DATA"
        rm -rf "$PG_DATA"
        mkdir -p "$PG_DATA"
        [[ "$(id -u)" == 0 ]] && chown "$PG_USER" "$PG_DATA"
        as_pg_owner "$bindir/initdb" --pgdata="$PG_DATA" --username="$PG_USER" \
            --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    fi

    # NB: the socket goes into the data directory, since /run/postgresql may
    # not exist (or belong to someone else) outside a system service.
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg_owner "$bindir/pg_ctl" --pgdata="$PG_DATA" --wait --timeout=60 \
        --log="$PG_DATA/server.log" \
        -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1" start >/dev/null
fi

psql_cmd=("$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -Atq)
if [[ -z "$("${psql_cmd[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" ]]; then
    "${psql_cmd[@]}" -c "CREATE DATABASE $PG_DATABASE"
fi

cat <<OUT
TAP_CLOSEIO_PG_HOST=127.0.0.1
TAP_CLOSEIO_PG_PORT=$PG_PORT
TAP_CLOSEIO_PG_USER=$PG_USER
TAP_CLOSEIO_PG_DATABASE=$PG_DATABASE
TAP_CLOSEIO_PG_DATA=$PG_DATA
OUT
