"""The streams' JSON Schemas, shipped in this package, and their loader: every
`$ref` resolved, as Singer SCHEMA messages must not contain one.

NB: this directory is installed as `tap_closeio.schemas` (setup.py's
package_dir), so the loader lives here; a `tap_closeio/schemas.py` module
would be shadowed by this package in an installed copy.
"""

import copy
import functools
import json
import posixpath
from importlib import resources
from typing import Any

from tap_closeio.errors import TapError

SCHEMA_PACKAGE = "tap_closeio.schemas"
STREAM_NAMES = (
    "custom_fields",
    "leads",
    "activities",
    "tasks",
    "users",
    "event_log",
)


class SchemaError(TapError):
    """A packaged schema file is missing, not JSON or has a broken `$ref`: a
    defect of the installed package, not of the user's input."""


def load_schema(stream_name: str) -> dict:
    """The stream's schema with `$ref`s resolved; a fresh deep copy each call,
    so callers may change it freely."""
    return copy.deepcopy(_resolved(stream_name))


def load_all() -> dict[str, dict]:
    """Every stream's resolved schema, in sync order."""
    return {name: load_schema(name) for name in STREAM_NAMES}


@functools.cache
def _resolved(stream_name: str) -> dict:
    if stream_name not in STREAM_NAMES:
        known = ", ".join(STREAM_NAMES)
        raise SchemaError(f"no schema for stream {stream_name!r}; known: {known}")

    path = f"{stream_name}.json"
    return _resolve(_read(path), path, ())


@functools.cache
def _read(path: str) -> Any:
    # Paths are relative to the schemas package, "/"-separated.
    node = resources.files(SCHEMA_PACKAGE).joinpath(*path.split("/"))
    try:
        return json.loads(node.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"cannot read packaged schema {path}: {exc}") from exc


def _resolve(node: Any, path: str, seen: tuple[str, ...]) -> Any:
    """Inline every `{"$ref": "<file>.json"}`, read relative to the file that
    holds it. `seen` is the chain of files being inlined, to refuse cycles."""
    if isinstance(node, list):
        return [_resolve(item, path, seen) for item in node]
    if not isinstance(node, dict):
        return node

    if "$ref" in node:
        return _inline(node, path, seen)
    return {key: _resolve(value, path, seen) for key, value in node.items()}


def _inline(node: dict, path: str, seen: tuple[str, ...]) -> Any:
    ref = node["$ref"]
    if len(node) != 1 or not isinstance(ref, str) or "#" in ref:
        # Draft 4 ignores a $ref's siblings; we only write whole-file refs.
        raise SchemaError(f"{path}: unsupported $ref {node!r}")

    target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))
    if target in seen:
        raise SchemaError(f"{path}: $ref cycle through {target}")
    return _resolve(_read(target), target, (*seen, target))
