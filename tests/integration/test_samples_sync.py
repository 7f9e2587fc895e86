"""The whole tap over the real Close samples: the emulator serves every body
in ../shared/close_samples, a full sync emits each one of the six kinds, and
every RECORD is valid against the SCHEMA message before it."""

import re

import jsonschema
import pytest
from sync_harness import ALL_STREAMS, KINDS, make_config, sync

from close_emulator.samples import samples_dir

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)
FORMATS = jsonschema.FormatChecker(())

pytestmark = pytest.mark.skipif(
    not samples_dir().is_dir(),
    reason=f"no Close samples at {samples_dir()} (set CLOSE_SAMPLES_DIR)",
)


@FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or RFC3339.match(value) is not None


@pytest.fixture(scope="module")
def result():
    from close_emulator import Emulator

    # The samples span 2013 to 2025: a later "now" puts them all in the past.
    with Emulator(samples=True, now="2026-01-01T00:00:00+00:00") as emu:
        run = sync(emu, config=make_config(emu, start_date="2010-01-01T00:00:00Z"))
        truth = {stream: emu.objects(KINDS[stream]) for stream in ALL_STREAMS}
    return run, truth


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_every_sample_object_is_emitted(result, stream):
    run, truth = result

    assert sorted(run.ids(stream)) == sorted(obj["id"] for obj in truth[stream])
    assert truth[stream], f"no samples of {stream}"


def test_every_record_is_valid_against_its_schema_message(result):
    run, _ = result
    validators = {}
    errors = []

    for message in run.messages:
        if message["type"] == "SCHEMA":
            validators[message["stream"]] = jsonschema.Draft4Validator(
                message["schema"], format_checker=FORMATS
            )
        elif message["type"] == "RECORD":
            validator = validators[message["stream"]]
            record = message["record"]
            errors += [
                f"{message['stream']} {record.get('id')} {list(e.path)}: {e.message}"
                for e in validator.iter_errors(record)
            ]

    assert errors == []
    assert sum(m["type"] == "RECORD" for m in run.messages) > 50
