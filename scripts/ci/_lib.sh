# Shared settings for the scripts in scripts/ci/ (sourced, not run).
# Every value can be overridden from the environment.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_DIR="${TAP_CLOSEIO_TOOLS_DIR:-$REPO_ROOT/build/tools}"
PYTHON="${PYTHON:-python3}"

# A fixed high port keeps the tests' connection settings predictable; override
# it when something else already listens there.
PG_PORT="${TAP_CLOSEIO_PG_PORT:-55432}"
PG_DATA="${TAP_CLOSEIO_PG_DATA:-${TMPDIR:-/tmp}/tap-closeio-pg-$PG_PORT}"
PG_DATABASE="${TAP_CLOSEIO_PG_DATABASE:-tap_closeio}"
PG_USER=postgres

log() {
    printf '%s: %s\n' "$(basename "$0")" "$*" >&2
}

# Prints the newest PostgreSQL server bin directory from Debian's packages,
# or nothing when no server is installed.
pg_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$dir" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
    fi
}

# Runs a command as the postgres user when we are root (initdb and the server
# refuse to run as root), as ourselves otherwise.
as_pg_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}
