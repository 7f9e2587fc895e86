"""The tap piped into the real target-jsonl: a full sync, then an incremental
one from the first run's state after Close's data changed."""

import json
from pathlib import Path

import pytest
from downstream_support import (
    STREAM_KINDS,
    emulator_ids,
    latest_bookmarks,
    pipe,
    run_tap,
    tap_config,
    tool,
)

pytestmark = pytest.mark.tools("target-jsonl")


def load_jsonl(directory: Path) -> dict[str, list[dict]]:
    """Every file target-jsonl wrote, stream -> records in file order."""
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(directory.glob("*.jsonl"))
    }


def ids_of(files: dict[str, list[dict]]) -> dict[str, set[str]]:
    return {stream: {r["id"] for r in records} for stream, records in files.items()}


def load(target: Path, workdir: Path, output: str) -> dict:
    """Pipe the tap's output into target-jsonl; return the state it emitted."""
    config = {"destination_path": str(workdir / "out"), "do_timestamp_file": False}
    config_path = workdir / "target.json"
    config_path.write_text(json.dumps(config))

    emitted = pipe([str(target), "--config", str(config_path)], output)

    return json.loads(emitted.splitlines()[-1])


@pytest.mark.timeout(600)
def test_full_then_incremental_sync_lands_every_record(emulator, tmp_path):
    target = tool("target-jsonl", "target-jsonl")
    out = tmp_path / "out"

    first = run_tap(tmp_path, tap_config(emulator))
    first_state = load(target, tmp_path, first.stdout)

    files = load_jsonl(out)
    assert ids_of(files) == emulator_ids(emulator)
    assert {s: len(r) for s, r in files.items()} == {
        s: len(ids) for s, ids in emulator_ids(emulator).items()
    }
    assert first_state == first.final_state()
    assert first_state["bookmarks"] == latest_bookmarks(emulator)

    changed = emulator.mutate(seed=3)
    second = run_tap(tmp_path, tap_config(emulator), state=first_state)
    second_state = load(target, tmp_path, second.stdout)

    files = load_jsonl(out)
    assert ids_of(files) == emulator_ids(emulator)
    assert {s: len(r) for s, r in files.items()} == {
        s: len(first.records[s]) + len(second.records.get(s, [])) for s in files
    }
    for stream, kind in STREAM_KINDS.items():
        assert set(changed.get(kind, [])) <= second.ids().get(stream, set()), stream
    assert second_state == second.final_state()
    assert second_state["bookmarks"] == latest_bookmarks(emulator)

    newest = {lead["id"]: lead for lead in files["leads"]}
    for lead_id in changed["lead"]:
        expected = next(o for o in emulator.objects("lead") if o["id"] == lead_id)
        assert newest[lead_id]["description"] == expected["description"]
        assert newest[lead_id]["description"].startswith("Updated on ")
