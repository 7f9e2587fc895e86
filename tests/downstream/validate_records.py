"""Validate every RECORD of a Singer stream against its stream's latest SCHEMA.

Runs in the `jsonschema` tool venv (scripts/ci/install-tools.sh), not in the
tap's: singer-python pins jsonschema 2, which checks no date-time format
without extra packages. Usage: `python validate_records.py < tap-output`.
Prints a JSON summary on stdout; exits 1 when any RECORD is invalid.
"""

import json
import sys

from jsonschema import Draft4Validator

MAX_ERRORS_SHOWN = 20


def _format_checker():
    # NB: jsonschema only checks "date-time" when rfc3339-validator imports;
    # without it every string would pass, so refuse to run at all.
    checker = Draft4Validator.FORMAT_CHECKER
    if "date-time" not in checker.checkers:
        sys.exit("date-time format checking unavailable: install rfc3339-validator")
    return checker


def validate(lines) -> dict:
    """Check each line; return counts per stream and the errors found."""
    checker = _format_checker()
    validators = {}
    counts = {}
    errors = []

    for number, line in enumerate(lines, start=1):
        message = json.loads(line)
        kind = message["type"]
        if kind == "SCHEMA":
            Draft4Validator.check_schema(message["schema"])
            validators[message["stream"]] = Draft4Validator(
                message["schema"], format_checker=checker
            )
        elif kind == "RECORD":
            stream = message["stream"]
            counts[stream] = counts.get(stream, 0) + 1
            validator = validators.get(stream)
            if validator is None:
                errors.append(f"line {number}: RECORD for {stream} before its SCHEMA")
                continue
            for error in validator.iter_errors(message["record"]):
                path = "/".join(str(part) for part in error.absolute_path)
                errors.append(f"line {number}: {stream} {path}: {error.message}")

    return {"records": counts, "error_count": len(errors), "errors": errors}


def main() -> int:
    summary = validate(sys.stdin)
    summary["errors"] = summary["errors"][:MAX_ERRORS_SHOWN]
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 1 if summary["error_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
