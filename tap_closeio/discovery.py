"""The catalog: what `--discover` prints, and reading the user's selection
back out of a catalog."""

import logging
from typing import TYPE_CHECKING, Any

from singer import metadata as singer_metadata

from tap_closeio.config import Config
from tap_closeio.errors import ApiError, CatalogError
from tap_closeio.schemas import load_schema
from tap_closeio.streams import STREAMS

if TYPE_CHECKING:
    from tap_closeio.client import CloseClient

LOGGER = logging.getLogger(__name__)

KEY_PROPERTIES = ["id"]

# The field each stream is bookmarked on, from the streams' one declaration.
REPLICATION_KEYS = {stream.name: stream.replication_key for stream in STREAMS}

EVENT_LOG_PROBE = ("event/", {"_limit": 1})

# Status codes with which Close refuses this key the event log. NB: the
# original tap met a 400 here; a 403 is what a permission refusal is today.
# A 401 is not a refusal of one stream but a bad key, so it ends discovery.
EVENT_LOG_REFUSALS = (400, 403)


def discover(client: "CloseClient | None", config: Config | None = None) -> dict:
    """The catalog as a plain dict. With a client, probe the event log and
    leave `event_log` out when Close refuses this key access to it."""
    names = list(REPLICATION_KEYS)
    if client is not None and not _event_log_allowed(client):
        names.remove("event_log")
    return {"streams": [catalog_entry(name) for name in names]}


def catalog_entry(stream_name: str) -> dict:
    schema = load_schema(stream_name)
    replication_key = REPLICATION_KEYS[stream_name]
    return {
        "tap_stream_id": stream_name,
        "stream": stream_name,
        "schema": schema,
        "key_properties": list(KEY_PROPERTIES),
        "replication_key": replication_key,
        "replication_method": "INCREMENTAL",
        "metadata": stream_metadata(stream_name, schema, replication_key),
    }


def stream_metadata(stream_name: str, schema: dict, replication_key: str) -> list:
    entries = singer_metadata.get_standard_metadata(
        schema=schema,
        schema_name=stream_name,
        key_properties=list(KEY_PROPERTIES),
        valid_replication_keys=[replication_key],
        replication_method="INCREMENTAL",
    )
    compiled = singer_metadata.to_map(entries)

    # The bookmark needs the replication key in every record, so the user
    # may not deselect it (singer marks only the key properties automatic).
    compiled = singer_metadata.write(
        compiled, ("properties", replication_key), "inclusion", "automatic"
    )

    # Every stream is selected unless the catalog says otherwise: this is
    # what the original tap did (it synced every stream), so a catalog
    # piped unchanged from --discover into --catalog syncs everything, as
    # singer-sdk taps also read `selected-by-default` when `selected` is absent.
    compiled = singer_metadata.write(compiled, (), "selected-by-default", True)

    # Lists, not singer's tuples: the catalog is the JSON the user sees.
    return [
        {"breadcrumb": list(item["breadcrumb"]), "metadata": item["metadata"]}
        for item in singer_metadata.to_list(compiled)
    ]


def _event_log_allowed(client: "CloseClient") -> bool:
    path, params = EVENT_LOG_PROBE
    try:
        client.get(path, params)
    except ApiError as exc:
        if exc.status not in EVENT_LOG_REFUSALS:
            raise
        LOGGER.warning(
            "Close refused the event log to this API key (HTTP %s: %s); "
            "leaving event_log out of the catalog",
            exc.status,
            exc,
        )
        return False
    return True


# --- Reading a catalog ---------------------------------------------------------


def selected_streams(catalog: dict) -> dict[str, set[str] | None]:
    """Stream name -> its selected top-level fields (None: every field), for
    the selected streams only, in sync order. Raises CatalogError naming the
    first thing wrong with the catalog's shape."""
    entries = _stream_entries(catalog)

    selection: dict[str, set[str] | None] = {}
    for name in REPLICATION_KEYS:
        entry = entries.get(name)
        if entry is not None and _stream_is_selected(entry):
            selection[name] = _selected_fields(name, entry)
    return selection


def _stream_entries(catalog: Any) -> dict[str, dict]:
    if not isinstance(catalog, dict):
        raise CatalogError("The catalog must be a JSON object with a 'streams' list.")
    streams = catalog.get("streams")
    if not isinstance(streams, list):
        raise CatalogError("The catalog has no 'streams' list.")

    entries: dict[str, dict] = {}
    names: set[str] = set()
    for index, entry in enumerate(streams):
        name = _entry_name(entry, index)
        if name in names:
            raise CatalogError(f"The catalog lists stream {name!r} twice.")
        names.add(name)
        _check_metadata(name, entry.get("metadata", []))
        if name in REPLICATION_KEYS:
            entries[name] = entry
        elif _stream_is_selected(entry):
            raise CatalogError(_unknown(name))
        else:
            # A catalog kept from another tap or version may list streams
            # this one lacks; only selecting one is a mistake.
            LOGGER.warning("%s It is not selected: ignored.", _unknown(name))
    return entries


def _unknown(name: str) -> str:
    known = ", ".join(REPLICATION_KEYS)
    return (
        f"The catalog names stream {name!r}, which this tap does not have; "
        f"known streams: {known}."
    )


def _entry_name(entry: Any, index: int) -> str:
    if not isinstance(entry, dict):
        raise CatalogError(f"Catalog stream #{index + 1} is not a JSON object.")

    name = entry.get("tap_stream_id") or entry.get("stream")
    if not isinstance(name, str):
        raise CatalogError(
            f"Catalog stream #{index + 1} has no 'tap_stream_id' or 'stream' name."
        )
    if not isinstance(entry.get("schema", {}), dict):
        raise CatalogError(f"Catalog stream {name!r}: 'schema' is not an object.")
    return name


def _check_metadata(name: str, entries: Any) -> None:
    if not isinstance(entries, list):
        raise CatalogError(f"Catalog stream {name!r}: 'metadata' is not a list.")
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("breadcrumb"), (list, tuple))
            or not isinstance(entry.get("metadata"), dict)
        ):
            raise CatalogError(
                f"Catalog stream {name!r}: every metadata entry needs a "
                f"'breadcrumb' list and a 'metadata' object; found {entry!r:.120}."
            )
        _check_selected(name, entry["breadcrumb"], entry["metadata"].get("selected"))


def _check_selected(name: str, breadcrumb: Any, selected: Any) -> None:
    # NB: singer-python taps read any truthy value as selected, this one only
    # true: a "yes" or a 1 written by hand would otherwise drop the stream or
    # keep the field without a word.
    if selected is None or isinstance(selected, bool):
        return
    where = "" if not breadcrumb else f" at {list(breadcrumb)}"
    raise CatalogError(
        f"Catalog stream {name!r}: 'selected'{where} must be true or false, "
        f"not {selected!r:.40}."
    )


def _metadata_map(entry: dict) -> dict[tuple, dict]:
    return {tuple(item["breadcrumb"]): item["metadata"] for item in entry["metadata"]}


def _stream_is_selected(entry: dict) -> bool:
    stream_level = _metadata_map(entry).get((), {}) if "metadata" in entry else {}
    selected = stream_level.get("selected")
    if selected is None:
        # Old catalogs (before metadata) carried `selected` in the schema.
        selected = entry.get("schema", {}).get("selected")
    if selected is None:
        selected = stream_level.get("selected-by-default")
    return selected is True


def _selected_fields(name: str, entry: dict) -> set[str] | None:
    """The schema's top-level fields minus those the catalog deselects; None
    when none is deselected. `id` and the replication key always stay."""
    always = {*KEY_PROPERTIES, REPLICATION_KEYS[name]}
    deselected = set()
    if "metadata" in entry:
        for breadcrumb, values in _metadata_map(entry).items():
            if _is_top_level_field(breadcrumb) and _field_deselected(values):
                deselected.add(breadcrumb[1])

    legacy_properties = entry.get("schema", {}).get("properties", {})
    if isinstance(legacy_properties, dict):
        for field, subschema in legacy_properties.items():
            if isinstance(subschema, dict) and subschema.get("selected") is False:
                deselected.add(field)

    declared = set(load_schema(name)["properties"])
    deselected = (deselected & declared) - always
    if not deselected:
        return None
    return declared - deselected


def _is_top_level_field(breadcrumb: tuple) -> bool:
    return len(breadcrumb) == 2 and breadcrumb[0] == "properties"


def _field_deselected(values: dict) -> bool:
    if values.get("inclusion") == "automatic":
        return False
    if values.get("inclusion") == "unsupported":
        return True
    return values.get("selected") is False
