"""The catalog discovery writes, and the selection read back from catalogs
(ours, Meltano's, and old ones with `selected` in the schema)."""

import copy
import json
import logging

import pytest
from singer import metadata as singer_metadata
from singer.catalog import Catalog
from tap_closeio.schemas import load_schema

from tap_closeio.discovery import discover, selected_streams
from tap_closeio.errors import CatalogError

STREAMS = ["custom_fields", "leads", "activities", "tasks", "users", "event_log"]


def metadata_of(entry: dict) -> dict:
    return singer_metadata.to_map(entry["metadata"])


def set_metadata(entry: dict, breadcrumb: tuple, key: str, value) -> None:
    compiled = singer_metadata.write(metadata_of(entry), breadcrumb, key, value)
    entry["metadata"] = singer_metadata.to_list(compiled)


@pytest.fixture
def catalog() -> dict:
    return discover(None, None)


def entry_of(catalog: dict, name: str) -> dict:
    return next(e for e in catalog["streams"] if e["tap_stream_id"] == name)


def test_one_entry_per_stream_in_sync_order(catalog):
    assert [e["tap_stream_id"] for e in catalog["streams"]] == STREAMS
    assert [e["stream"] for e in catalog["streams"]] == STREAMS


@pytest.mark.parametrize(
    "name, key",
    [
        ("custom_fields", "date_updated"),
        ("leads", "date_updated"),
        ("activities", "date_created"),
        ("tasks", "date_updated"),
        ("users", "date_updated"),
        ("event_log", "date_updated"),
    ],
)
def test_stream_metadata_names_only_the_key_really_used(catalog, name, key):
    entry = entry_of(catalog, name)
    stream_level = metadata_of(entry)[()]

    assert stream_level == {
        "table-key-properties": ["id"],
        "forced-replication-method": "INCREMENTAL",
        "valid-replication-keys": [key],
        "schema-name": name,
        "inclusion": "available",
        "selected-by-default": True,
    }
    assert entry["key_properties"] == ["id"]
    assert entry["schema"] == load_schema(name)


@pytest.mark.parametrize("name", STREAMS)
def test_only_id_and_replication_key_are_automatic(catalog, name):
    entry = entry_of(catalog, name)
    compiled = metadata_of(entry)
    key = compiled[()]["valid-replication-keys"][0]

    fields = {bc[1]: md["inclusion"] for bc, md in compiled.items() if bc}

    assert set(fields) == set(entry["schema"]["properties"])
    assert {f for f, inclusion in fields.items() if inclusion == "automatic"} == {
        "id",
        key,
    }
    assert set(fields.values()) == {"automatic", "available"}


def test_catalog_is_json_and_loads_in_singer(catalog):
    text = json.dumps(catalog)

    assert json.loads(text) == catalog
    parsed = Catalog.from_dict(json.loads(text))

    assert [s.tap_stream_id for s in parsed.streams] == STREAMS


def test_catalog_straight_from_discovery_selects_everything(catalog):
    assert selected_streams(catalog) == {name: None for name in STREAMS}


def test_streams_not_selected_are_left_out(catalog):
    set_metadata(entry_of(catalog, "leads"), (), "selected", False)
    catalog["streams"].remove(entry_of(catalog, "users"))

    assert list(selected_streams(catalog)) == [
        "custom_fields",
        "activities",
        "tasks",
        "event_log",
    ]


def test_deselected_fields_are_dropped_but_automatic_ones_stay(catalog):
    entry = entry_of(catalog, "users")
    set_metadata(entry, ("properties", "email"), "selected", False)
    set_metadata(entry, ("properties", "image"), "selected", False)
    set_metadata(entry, ("properties", "first_name"), "selected", True)
    # Automatic wins even over an explicit deselection.
    set_metadata(entry, ("properties", "id"), "selected", False)

    selection = selected_streams(catalog)

    assert selection["users"] == set(load_schema("users")["properties"]) - {
        "email",
        "image",
    }


def test_replication_key_is_kept_even_if_the_catalog_says_available(catalog):
    entry = entry_of(catalog, "activities")
    set_metadata(entry, ("properties", "date_created"), "inclusion", "available")
    set_metadata(entry, ("properties", "date_created"), "selected", False)

    assert selected_streams(catalog)["activities"] is None


def test_meltano_style_catalog_with_explicit_selection(catalog):
    # `meltano select tap-closeio leads id date_updated name` writes selected
    # on the stream and on each chosen property, and false on the others.
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] == "leads"
        set_metadata(entry, (), "selected", chosen)
        for field in entry["schema"]["properties"]:
            keep = field in {"id", "date_updated", "name"}
            set_metadata(entry, ("properties", field), "selected", chosen and keep)

    assert selected_streams(catalog) == {"leads": {"id", "date_updated", "name"}}


def test_without_selected_or_default_a_stream_is_not_selected(catalog):
    entry = entry_of(catalog, "tasks")
    compiled = metadata_of(entry)
    del compiled[()]["selected-by-default"]
    entry["metadata"] = singer_metadata.to_list(compiled)

    assert "tasks" not in selected_streams(catalog)


def test_legacy_catalog_with_selected_in_the_schema():
    legacy = {
        "streams": [
            {
                "stream": "leads",
                "tap_stream_id": "leads",
                "schema": {
                    "selected": True,
                    "properties": {
                        "id": {"type": "string"},
                        "url": {"type": ["null", "string"], "selected": False},
                    },
                },
            },
            {"stream": "users", "schema": {"selected": False, "properties": {}}},
        ]
    }

    assert selected_streams(legacy) == {
        "leads": set(load_schema("leads")["properties"]) - {"url"}
    }


def test_entry_with_only_stream_name_is_accepted():
    bare = {"streams": [{"stream": "users", "schema": {"selected": True}}]}

    assert selected_streams(bare) == {"users": None}


@pytest.mark.parametrize(
    "bad, message",
    [
        ([], "must be a JSON object"),
        ({}, "no 'streams' list"),
        ({"streams": {"leads": {}}}, "no 'streams' list"),
        ({"streams": ["leads"]}, "stream #1 is not a JSON object"),
        ({"streams": [{"schema": {}}]}, "stream #1 has no 'tap_stream_id'"),
        ({"streams": [{"stream": "leads", "schema": []}]}, "'schema' is not an object"),
        (
            {"streams": [{"stream": "leads", "metadata": {}}]},
            "'metadata' is not a list",
        ),
        (
            {"streams": [{"stream": "leads", "metadata": [{"breadcrumb": []}]}]},
            "needs a 'breadcrumb' list and a 'metadata' object",
        ),
        (
            {"streams": [{"stream": "users"}, {"tap_stream_id": "users"}]},
            "lists stream 'users' twice",
        ),
        (
            {"streams": [{"stream": "deals"}, {"stream": "deals"}]},
            "lists stream 'deals' twice",
        ),
    ],
)
def test_malformed_catalog_is_refused_naming_the_problem(bad, message):
    with pytest.raises(CatalogError, match=message):
        selected_streams(bad)


def test_an_unknown_stream_left_unselected_is_ignored_with_a_warning(catalog, caplog):
    opportunities = copy.deepcopy(entry_of(catalog, "users"))
    opportunities["tap_stream_id"] = opportunities["stream"] = "opportunities"
    set_metadata(opportunities, (), "selected", False)
    catalog["streams"].append(opportunities)

    with caplog.at_level(logging.WARNING, logger="tap_closeio.discovery"):
        selection = selected_streams(catalog)

    assert list(selection) == STREAMS
    assert [r.getMessage() for r in caplog.records] == [
        "The catalog names stream 'opportunities', which this tap does not have; "
        "known streams: custom_fields, leads, activities, tasks, users, event_log. "
        "It is not selected: ignored."
    ]


def test_unknown_stream_is_named_with_the_known_ones(catalog):
    opportunities = copy.deepcopy(entry_of(catalog, "users"))
    opportunities["tap_stream_id"] = opportunities["stream"] = "opportunities"
    catalog["streams"].append(opportunities)

    with pytest.raises(CatalogError) as raised:
        selected_streams(catalog)

    assert str(raised.value) == (
        "The catalog names stream 'opportunities', which this tap does not have; "
        "known streams: custom_fields, leads, activities, tasks, users, event_log."
    )
