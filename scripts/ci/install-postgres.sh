#!/usr/bin/env bash
# Installs the PostgreSQL server from Debian's packages unless one is there.
set -euo pipefail
source "$(dirname "$0")/_lib.sh"

if [[ -n "$(pg_bindir)" ]]; then
    log "PostgreSQL already installed: $(pg_bindir)"
    exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
    log "PostgreSQL is missing; run as root or: sudo apt-get install -y postgresql"
    exit 1
fi

log "installing PostgreSQL from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
log "installed: $(pg_bindir)"
