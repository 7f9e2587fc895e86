"""The tap piped into the real meltanolabs-target-postgres, loading a real
PostgreSQL server: a full sync, then an incremental one after Close changed."""

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from downstream_support import (
    STREAM_KINDS,
    SUBPROCESS_TIMEOUT,
    emulator_ids,
    pipe,
    run_tap,
    tap_config,
    tool,
)

pytestmark = pytest.mark.tools("target-postgres")


def target_config(postgres: dict[str, str], schema: str) -> dict:
    return {
        "host": postgres["HOST"],
        "port": int(postgres["PORT"]),
        "user": postgres["USER"],
        "password": "unused-with-trust-auth",
        "database": postgres["DATABASE"],
        "default_target_schema": schema,
        # NB: upsert on the key makes a re-sent row replace the old one, so the
        # tables hold Close's current objects once each.
        "load_method": "upsert",
    }


def query(postgres: dict[str, str], sql: str) -> object:
    """Run one query with psql; the query must return one JSON value."""
    done = subprocess.run(
        [
            "psql",
            "-h",
            postgres["HOST"],
            "-p",
            postgres["PORT"],
            "-U",
            postgres["USER"],
            "-d",
            postgres["DATABASE"],
            "-Atq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def loaded_ids(postgres: dict[str, str], schema: str) -> dict[str, list[str]]:
    """Stream -> every id in its table, sorted, duplicates kept."""
    return {
        stream: query(
            postgres,
            f"SELECT coalesce(json_agg(id ORDER BY id), '[]') FROM {schema}.{stream}",
        )
        for stream in STREAM_KINDS
    }


def summarise(opportunities: list[dict] | None) -> list[tuple]:
    return sorted((o["id"], o["status_id"], o["value"]) for o in opportunities or [])


def loaded_opportunities(postgres: dict[str, str], schema: str) -> dict[str, list]:
    """Lead id -> (id, status, value) of each opportunity nested in its row."""
    rows = query(
        postgres,
        "SELECT coalesce(json_object_agg(id, opportunities), '{}') "
        f"FROM {schema}.leads",
    )
    return {lead: summarise(opps) for lead, opps in rows.items()}


def column_type(postgres: dict[str, str], schema: str, table: str, column: str) -> str:
    return query(
        postgres,
        "SELECT to_json(udt_name) FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}' "
        f"AND column_name = '{column}'",
    )


def close_opportunities(emulator) -> dict[str, list]:
    return {
        lead["id"]: summarise(lead.get("opportunities"))
        for lead in emulator.objects("lead")
    }


def load(target: Path, workdir: Path, config: dict, output: str) -> None:
    config_path = workdir / "target-postgres.json"
    config_path.write_text(json.dumps(config))
    pipe([str(target), "--config", str(config_path)], output)


@pytest.mark.timeout(600)
def test_full_then_incremental_sync_loads_every_record(emulator, postgres, tmp_path):
    target = tool("target-postgres", "target-postgres")
    schema = f"closeio_{uuid.uuid4().hex[:12]}"
    config = target_config(postgres, schema)

    first = run_tap(tmp_path, tap_config(emulator))
    load(target, tmp_path, config, first.stdout)

    expected = {s: sorted(ids) for s, ids in emulator_ids(emulator).items()}
    assert loaded_ids(postgres, schema) == expected
    # NB: target-postgres 0.8.1 keeps nested arrays in place, as jsonb[]
    # (udt "_jsonb"): one jsonb value per opportunity, not a child table.
    assert column_type(postgres, schema, "leads", "opportunities") == "_jsonb"
    opportunities = close_opportunities(emulator)
    assert sum(map(len, opportunities.values())) > 0
    assert loaded_opportunities(postgres, schema) == opportunities

    emulator.mutate(seed=3)
    second = run_tap(tmp_path, tap_config(emulator), state=first.final_state())
    load(target, tmp_path, config, second.stdout)

    expected = {s: sorted(ids) for s, ids in emulator_ids(emulator).items()}
    assert loaded_ids(postgres, schema) == expected
    assert loaded_opportunities(postgres, schema) == close_opportunities(emulator)
