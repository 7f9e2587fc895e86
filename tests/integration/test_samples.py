"""Every real Close body in ../shared/close_samples for the six streams' kinds
of object becomes a RECORD valid against its stream's SCHEMA.

The bodies are read where they lie, never copied into the repo (some carry
licences that forbid it)."""

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from tap_closeio.schemas import load_schema

from tap_closeio.transform import make_transformer

# Sample folder (or prefix) -> the stream its objects belong to.
KINDS = {
    "custom_field_lead": "custom_fields",
    "lead": "leads",
    "activity_": "activities",
    "task_": "tasks",
    "user": "users",
    "event": "event_log",
}

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)
FORMATS = jsonschema.FormatChecker(())


@FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or RFC3339.match(value) is not None


def samples_dir() -> Path:
    env = os.environ.get("CLOSE_SAMPLES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "close_samples"


def stream_of(folder: str) -> str | None:
    for prefix, stream in KINDS.items():
        if folder == prefix or (prefix.endswith("_") and folder.startswith(prefix)):
            return stream
    return None


def sample_files() -> list[tuple[str, Path]]:
    root = samples_dir()
    if not root.is_dir():
        return []
    return [
        (stream, path)
        for folder in sorted(root.iterdir())
        if folder.is_dir() and (stream := stream_of(folder.name)) is not None
        for path in sorted(folder.glob("*.json"))
    ]


SAMPLES = sample_files()
needs_samples = pytest.mark.skipif(
    not SAMPLES, reason=f"no Close samples at {samples_dir()} (set CLOSE_SAMPLES_DIR)"
)


@needs_samples
def test_every_stream_has_samples():
    assert sorted({stream for stream, _ in SAMPLES}) == sorted(KINDS.values())


@needs_samples
@pytest.mark.parametrize(
    "stream, path",
    SAMPLES,
    ids=[f"{path.parent.name}/{path.name}" for _, path in SAMPLES],
)
def test_sample_becomes_a_valid_record(stream, path):
    close_object = json.loads(path.read_text(encoding="utf-8"))
    schema = load_schema(stream)

    record = make_transformer(stream, schema, None)(close_object)

    validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
    assert errors == []
    assert record["id"] == close_object["id"]


@needs_samples
def test_raw_event_sample_is_not_valid_so_the_check_can_fail():
    # Close sends event timestamps naive and data as objects; only the
    # transformed record is valid. Guards the validator used above.
    path = next(path for stream, path in SAMPLES if stream == "event_log")
    raw = json.loads(path.read_text(encoding="utf-8"))

    validator = jsonschema.Draft4Validator(
        load_schema("event_log"), format_checker=FORMATS
    )

    assert not validator.is_valid(raw)
