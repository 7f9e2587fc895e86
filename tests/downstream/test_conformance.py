"""The tap's output against the Singer spec: singer-check-tap and every RECORD
validated against its SCHEMA (Draft 4, date-time formats checked)."""

import json
import subprocess
from pathlib import Path

import pytest
from downstream_support import (
    SUBPROCESS_TIMEOUT,
    emulator_ids,
    run_tap,
    start_emulator,
    tap_config,
    tool,
)

VALIDATOR = Path(__file__).with_name("validate_records.py")

# Hand-made outputs that must be refused: they prove the checks can fail.
SCHEMA = {
    "type": "SCHEMA",
    "stream": "users",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "date_updated": {"type": ["null", "string"], "format": "date-time"},
        },
    },
}
NAIVE_DATE_TIME = {
    "type": "RECORD",
    "stream": "users",
    "record": {"id": "user_1", "date_updated": "2024-04-30 10:00:05"},
}
WRONG_TYPE = {"type": "RECORD", "stream": "users", "record": {"id": 7}}


def lines(*messages: dict) -> str:
    return "".join(json.dumps(message) + "\n" for message in messages)


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """A full sync of the demo data set: the tap's stdout and the truth."""
    with start_emulator("demo", seed=11) as emu:
        run = run_tap(tmp_path_factory.mktemp("demo"), tap_config(emu))
        return run.stdout, emulator_ids(emu)


def check_tap(stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(tool("singer-tools", "singer-check-tap"))],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


def validate(stdin: str) -> tuple[int, dict]:
    done = subprocess.run(
        [str(tool("jsonschema", "python")), str(VALIDATOR)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.mark.tools("singer-tools")
@pytest.mark.timeout(600)
def test_full_sync_of_demo_data_passes_singer_check_tap(demo_output):
    stdout, _ = demo_output

    done = check_tap(stdout)

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.tools("singer-tools")
@pytest.mark.parametrize(
    "bad_output",
    [
        lines(SCHEMA, NAIVE_DATE_TIME),
        lines(SCHEMA, WRONG_TYPE),
        lines(NAIVE_DATE_TIME | {"record": {"id": "user_1"}}, SCHEMA),
    ],
    ids=["naive-date-time", "wrong-type", "record-before-schema"],
)
def test_singer_check_tap_refuses_broken_output(bad_output):
    assert check_tap(bad_output).returncode != 0


@pytest.mark.tools("jsonschema")
@pytest.mark.timeout(600)
def test_every_demo_record_matches_its_schema(demo_output):
    stdout, truth = demo_output

    returncode, summary = validate(stdout)

    assert summary["errors"] == []
    assert returncode == 0
    assert summary["records"] == {stream: len(ids) for stream, ids in truth.items()}


@pytest.mark.tools("jsonschema")
def test_validator_reports_bad_date_time_and_wrong_type():
    returncode, summary = validate(lines(SCHEMA, NAIVE_DATE_TIME, WRONG_TYPE))

    assert returncode == 1
    assert summary == {
        "records": {"users": 2},
        "error_count": 2,
        "errors": [
            "line 2: users date_updated: '2024-04-30 10:00:05' is not a 'date-time'",
            "line 3: users id: 7 is not of type 'string'",
        ],
    }
