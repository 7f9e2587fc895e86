#!/usr/bin/env bash
# Creates one virtualenv per downstream tool under build/tools/<name>; with
# tool names as arguments, only for those.
#
# Each tool gets its own because their pins clash with singer-python's
# (jsonschema 2 against 4). Every dependency is pinned by
# scripts/ci/constraints/<name>.txt (a `pip freeze` of a working venv), so CI
# installs what was tested. Re-running is cheap: a venv whose stamp matches its
# requirement and constraints is left alone.
set -euo pipefail
source "$(dirname "$0")/_lib.sh"

CONSTRAINTS_DIR="$REPO_ROOT/scripts/ci/constraints"

# name|pip requirement(s)|command that proves it runs
TOOLS=(
    "singer-tools|singer-tools==0.4.1|singer-check-tap --help"
    "target-jsonl|target-jsonl==0.1.4|python -c 'import target_jsonl'"
    "target-postgres|meltanolabs-target-postgres==0.8.1|target-postgres --about"
    "meltano|meltano==4.4.1|meltano --version"
    "jsonschema|jsonschema==4.26.0 rfc3339-validator==0.1.4|python -c 'import jsonschema, rfc3339_validator'"
)

install_tool() {
    local name="$1" requirements="$2" check="$3"
    local venv="$TOOLS_DIR/$name"
    local stamp="$venv/.installed"
    local constraints="$CONSTRAINTS_DIR/$name.txt"
    local want
    want="$requirements $(sha256sum "$constraints" | cut -d' ' -f1)"

    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log "$name: up to date"
        return
    fi

    log "$name: installing $requirements"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    # NB: $requirements is split on purpose: one or more pip requirements.
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --constraint "$constraints" $requirements
    (PATH="$venv/bin:$PATH" && eval "$check") >/dev/null
    echo "$want" >"$stamp"
}

# With names (`install-tools.sh target-jsonl`), only those tools; else all.
for wanted in "$@"; do
    if ! printf '%s\n' "${TOOLS[@]}" | grep -q "^$wanted|"; then
        echo "install-tools.sh: no tool named '$wanted'; known:" \
            "$(printf '%s\n' "${TOOLS[@]}" | cut -d'|' -f1 | tr '\n' ' ')" >&2
        exit 2
    fi
done
mkdir -p "$TOOLS_DIR"
for entry in "${TOOLS[@]}"; do
    IFS='|' read -r name requirements check <<<"$entry"
    if [[ $# -gt 0 && " $* " != *" $name "* ]]; then
        continue
    fi
    install_tool "$name" "$requirements" "$check"
done
log "tools ready in $TOOLS_DIR"
