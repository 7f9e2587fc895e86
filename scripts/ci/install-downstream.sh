#!/usr/bin/env bash
# Installs everything tests/downstream needs: PostgreSQL and the tool venvs.
#
# Idempotent; CI runs it before `make test`, developers may too.
set -euo pipefail
here="$(dirname "$0")"

bash "$here/install-postgres.sh"
bash "$here/install-tools.sh"
