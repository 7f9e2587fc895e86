"""Turning one Close object into a RECORD: date-times to RFC 3339 UTC, lead
custom fields into a list, event payloads JSON-encoded, field selection.

Everything that depends on the schema is worked out once, in
`make_transformer`; the function it returns only touches the paths that
need work, and copies only the containers along those paths, so the object
it is given is never changed.
"""

import logging
from collections.abc import Callable
from typing import Any

from tap_closeio import codec, timeutil

LOGGER = logging.getLogger(__name__)

Converter = Callable[[Any], Any]
Transformer = Callable[[dict], dict]

# Fields that hold a date-time or something else (a bare date, free text):
# normalised when they are an ISO 8601 date-time, passed through otherwise.
# Their schemas are plain strings. Paths: "." between properties, "[]" for the
# items of an array.
DATE_OR_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "leads": (
        # Close docs: date_won is a date; task date/due_date a date or date-time.
        "opportunities[].date_won",
        "tasks[].date",
        "tasks[].due_date",
    ),
    "activities": (
        # NB: the mail's Date header as sent, e.g. "4/21/17 9:21 AM (GMT-05:00)".
        "envelope.date",
        "latest_emails[].envelope.date",
        "send_attempts[].date",
        "opens[].opened_at",
        # NB: a midnight date-time here while the opportunity's date_won is a
        # bare date (Airbyte sandbox sample).
        "opportunity_date_won",
        "recording_expires_at",
        "user_note_date_updated",
    ),
    "tasks": ("date", "due_date"),
}

LEAD_CUSTOM_PREFIX = "custom."
EVENT_JSON_FIELDS = ("data", "previous_data")

_encode_json = codec.dumps_unicode


def make_transformer(
    stream_name: str, schema: dict, selected: set[str] | None
) -> Transformer:
    """A function turning one Close object of `stream_name` into its RECORD.

    `selected` names the selected top-level fields (None: all). Fields the
    schema declares but `selected` leaves out are removed; fields the schema
    does not declare are kept, as Close adds fields over time."""
    properties = schema.get("properties", {})
    text_paths = frozenset(DATE_OR_TEXT_FIELDS.get(stream_name, ()))
    _check_paths_declared(stream_name, schema, text_paths)

    warned: set[str] = set()
    dropped = frozenset(properties) - selected if selected is not None else frozenset()
    fields = _compile_fields(properties, "", text_paths, warned, dropped)
    reshape = _reshaper(stream_name, dropped)

    def transform(record: dict) -> dict:
        if dropped:
            out = {key: value for key, value in record.items() if key not in dropped}
        else:
            out = dict(record)

        for key, convert in fields:
            value = out.get(key)
            if value is not None:
                out[key] = convert(value)

        return reshape(out) if reshape is not None else out

    return transform


# --- Compiling the schema into converters -------------------------------------


def _compile_fields(
    properties: dict,
    path: str,
    text_paths: frozenset[str],
    warned: set[str],
    skip: frozenset[str] = frozenset(),
) -> list[tuple[str, Converter]]:
    fields = []
    for name, subschema in properties.items():
        if name in skip:
            continue
        convert = _compile(subschema, _join(path, name), text_paths, warned)
        if convert is not None:
            fields.append((name, convert))
    return fields


def _compile(
    schema: dict, path: str, text_paths: frozenset[str], warned: set[str]
) -> Converter | None:
    """The converter for values at `path`, or None when nothing there (or
    below it) needs work."""
    if path in text_paths:
        return _date_or_text
    if schema.get("format") == "date-time":
        return _date_time_converter(path, warned)

    properties = schema.get("properties")
    if properties:
        fields = _compile_fields(properties, path, text_paths, warned)
        return _object_converter(fields) if fields else None

    items = schema.get("items")
    if isinstance(items, dict):
        convert = _compile(items, path + "[]", text_paths, warned)
        return _array_converter(convert) if convert is not None else None
    return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _date_time_converter(path: str, warned: set[str]) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is str:
            try:
                return timeutil.normalize_datetime(value)
            except ValueError:
                pass

        # Never crash and never drop: the value goes out as Close sent it.
        if path not in warned:
            warned.add(path)
            LOGGER.warning(
                "%s holds %.80r, not a date-time; passing it through unchanged "
                "(warned once per field)",
                path,
                value,
            )
        return value

    return convert


def _date_or_text(value: Any) -> Any:
    if type(value) is str:
        return timeutil.normalize_date_or_text(value)
    return value


def _object_converter(fields: list[tuple[str, Converter]]) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not dict:
            return value

        out = dict(value)
        for key, convert_field in fields:
            item = out.get(key)
            if item is not None:
                out[key] = convert_field(item)
        return out

    return convert


def _array_converter(convert_item: Converter) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not list:
            return value
        return [convert_item(item) for item in value]

    return convert


def _check_paths_declared(
    stream_name: str, schema: dict, text_paths: frozenset[str]
) -> None:
    # A typo in DATE_OR_TEXT_FIELDS would silently leave a field untouched.
    declared = set(_schema_paths(schema, ""))
    missing = sorted(text_paths - declared)
    if missing:
        raise ValueError(f"{stream_name}: date-or-text paths not in schema: {missing}")


def _schema_paths(schema: dict, path: str):
    for name, subschema in schema.get("properties", {}).items():
        yield from _schema_paths_below(subschema, _join(path, name))


def _schema_paths_below(schema: dict, path: str):
    yield path
    if schema.get("properties"):
        yield from _schema_paths(schema, path)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _schema_paths_below(items, path + "[]")


# --- Stream-specific reshaping ------------------------------------------------


def _reshaper(stream_name: str, dropped: frozenset[str]) -> Transformer | None:
    if stream_name == "leads":
        return _drop_lead_custom if "custom_fields" in dropped else _lift_custom
    if stream_name == "event_log":
        encoded = tuple(name for name in EVENT_JSON_FIELDS if name not in dropped)
        return _event_json_encoder(encoded)
    return None


def _lift_custom(record: dict) -> dict:
    """Close sends one top-level `custom.<field id>` key per lead custom field
    (and a deprecated `custom` dict keyed by field name): collect the former
    into `custom_fields`, in the order Close sent them, and drop the latter."""
    out = {}
    custom_fields = []
    for key, value in record.items():
        # The `in` test first: it is cheaper than a method call, and most keys
        # are not custom fields.
        if "custom" in key and key.startswith(LEAD_CUSTOM_PREFIX):
            # Split on the first dot only: the rest is the field id.
            custom_fields.append({"id": key[len(LEAD_CUSTOM_PREFIX) :], "value": value})
        elif key != "custom":
            out[key] = value
    out["custom_fields"] = custom_fields
    return out


def _drop_lead_custom(record: dict) -> dict:
    return {
        key: value
        for key, value in record.items()
        if "custom" not in key
        or (key != "custom" and not key.startswith(LEAD_CUSTOM_PREFIX))
    }


def _event_json_encoder(names: tuple[str, ...]) -> Transformer:
    def encode(record: dict) -> dict:
        # Close omits data and previous_data for non-admin keys on events
        # older than an hour (changelog 2019-01-25): they go out as null.
        for name in names:
            value = record.get(name)
            record[name] = None if value is None else _encode_json(value)
        return record

    return encode
