"""Reading and writing state in the original tap's layout:
{"currently_syncing": name | null, "bookmarks": {stream: {key: bookmark,
"offset": {...}}}}. Unknown keys and streams are carried through untouched."""

import copy
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from tap_closeio.errors import StateError
from tap_closeio.timeutil import format_bookmark, parse_datetime

LOGGER = logging.getLogger(__name__)

FUTURE_BOOKMARK_SLACK = timedelta(days=1)


def query_fingerprint(path: str, params: Mapping[str, object]) -> str:
    """A short, stable digest of one query (page position excluded), saved
    beside an offset so the offset is only reused with that exact query."""
    kept = {k: str(v) for k, v in params.items() if k not in ("_skip", "_limit")}
    text = path + "?" + json.dumps(kept, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def validate_state(
    state: object,
    replication_keys: Mapping[str, str],
    *,
    now: datetime | None = None,
    source: str = "state",
    warn: bool = True,
) -> None:
    """Raise StateError naming the problem when `state` has the wrong shape.
    `replication_keys` maps each known stream to its replication key; the
    bookmarks of other streams are not inspected. With `now`, a bookmark more
    than a day after it is refused: the tap never writes one, and it would
    hide every record until then. Messages start with `source`, which says
    where the state came from (the state file's name, say). With `warn`, a
    stream bookmarked under another key than its own is logged."""
    if not isinstance(state, dict):
        raise StateError(f"{source} must be a JSON object, got {type(state).__name__}")

    current = state.get("currently_syncing")
    if current is not None and not isinstance(current, str):
        raise StateError(f"{source}: currently_syncing must be a stream name or null")

    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise StateError(f"{source}: bookmarks must be an object of streams")
    for stream, key in replication_keys.items():
        entry = bookmarks.get(stream)
        _validate_stream_bookmarks(source, stream, key, entry, now, warn)


def _validate_stream_bookmarks(
    source: str,
    stream: str,
    key: str,
    entry: object,
    now: datetime | None,
    warn: bool,
) -> None:
    if entry is None:
        return
    where = f"{source}: bookmarks.{stream}"
    if not isinstance(entry, dict):
        raise StateError(f"{where} must be an object")

    value = entry.get(key)
    if value is None:
        if warn:
            _warn_about_other_keys(where, stream, key, entry)
    else:
        _validate_bookmark(f"{where}.{key}", value, now)

    offset = entry.get("offset")
    if offset is not None and not isinstance(offset, dict):
        raise StateError(f"{where}.offset must be an object")


def _validate_bookmark(where: str, value: object, now) -> None:
    try:
        moment = parse_datetime(value)
    except ValueError as exc:
        raise StateError(f"{where} is not an ISO 8601 date-time: {value!r}") from exc

    # A day of slack allows for a state written on a machine whose clock ran
    # a little ahead.
    if now is not None and moment > now + FUTURE_BOOKMARK_SLACK:
        raise StateError(
            f"{where} is {value!r}, in the future: no record before it would "
            "ever sync. Fix or remove that bookmark."
        )


def _warn_about_other_keys(where: str, stream: str, key: str, entry: dict) -> None:
    others = sorted(k for k in entry if k != "offset")
    if others:
        LOGGER.warning(
            "%s has no %r (found %s); %s syncs from start_date",
            where,
            key,
            ", ".join(others),
            stream,
        )


def stream_order(
    names: Sequence[str], currently_syncing: str | None, known: Sequence[str]
) -> list[str]:
    """Streams to sync, in order. An interrupted stream goes first, then the
    ones after it, then the ones before it, so no stream is starved."""
    names = list(names)
    if currently_syncing is None:
        return names
    if currently_syncing not in known:
        LOGGER.warning(
            "State names currently_syncing=%r, a stream this tap does not "
            "have; syncing every stream from the first",
            currently_syncing,
        )
        return names
    if currently_syncing not in names:
        return names

    at = names.index(currently_syncing)
    return names[at:] + names[:at]


class SyncState:
    """The state of one run: a private copy of the input, changed only
    through these methods, and read back whole for each STATE message."""

    def __init__(self, state: Mapping) -> None:
        self._value = copy.deepcopy(dict(state))
        self._value.setdefault("currently_syncing", None)
        self._value.setdefault("bookmarks", {})

    @property
    def value(self) -> dict:
        return self._value

    @property
    def currently_syncing(self) -> str | None:
        return self._value.get("currently_syncing")

    def set_currently_syncing(self, stream: str | None) -> None:
        self._value["currently_syncing"] = stream

    def get_bookmark(self, stream: str, key: str) -> datetime | None:
        value = self._entry(stream).get(key)
        return None if value is None else parse_datetime(value)

    def set_bookmark(self, stream: str, key: str, moment: datetime) -> None:
        self._entry(stream, create=True)[key] = format_bookmark(moment)

    def get_offset(self, stream: str, fingerprint: str) -> tuple[int, list]:
        """The saved (skip, records seen at skip) for exactly this query,
        else (0, [])."""
        offset = self._entry(stream).get("offset")
        if not offset:
            return 0, []
        if offset.get("query") != fingerprint or not _is_count(offset.get("skip")):
            LOGGER.info(
                "%s: ignoring saved offset %s: it was not saved for this query",
                stream,
                offset,
            )
            return 0, []

        # Read again from the query's start rather than trust a skip whose
        # records cannot be checked: some come twice, none is missed.
        seen = offset.get("seen", [])
        if not _is_idents(seen):
            LOGGER.warning(
                "%s: ignoring saved offset %.200s: its 'seen' is not a list of "
                "[id, version] pairs; reading the query from its start",
                stream,
                offset,
            )
            return 0, []
        return offset["skip"], seen

    def set_offset(
        self, stream: str, fingerprint: str, skip: int, seen: list | None = None
    ) -> None:
        offset = {"skip": skip, "query": fingerprint}
        if seen:
            offset["seen"] = [list(ident) for ident in seen]
        self._entry(stream, create=True)["offset"] = offset

    def clear_offset(self, stream: str) -> None:
        self._entry(stream).pop("offset", None)

    def _entry(self, stream: str, create: bool = False) -> dict:
        bookmarks = self._value["bookmarks"]
        if create:
            return bookmarks.setdefault(stream, {})
        return bookmarks.get(stream, {})


def _is_idents(value: object) -> bool:
    # As set_offset writes them: [[id, version], ...], each part a JSON scalar.
    scalars = (str, int, float, bool, type(None))
    return isinstance(value, list) and all(
        isinstance(ident, list) and all(isinstance(part, scalars) for part in ident)
        for ident in value
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
