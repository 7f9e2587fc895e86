"""Page generators over Close's list endpoints: offset (`_skip`/`_limit`),
cursor (`/event/`), keyset restarts (leads, tasks) and date windows that
narrow themselves when they meet Close's max_skip (activities)."""

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tap_closeio.errors import DeletedDocumentError, SkipCapError, SkipCapExhaustedError
from tap_closeio.timeutil import floor_to_second, parse_datetime

LOGGER = logging.getLogger(__name__)

SECOND = timedelta(seconds=1)

# Records re-read at each keyset restart: a record that leaves the current
# key while we page (a lead updated mid-sync) shifts the others by one.
KEYSET_OVERLAP = 5

# Times one window query is read again from the start because records were
# removed ahead of the page being read.
MAX_RESTARTS = 3

FILTER_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def format_filter(moment: datetime) -> str:
    """A date filter value: UTC with an explicit offset, so neither Close's
    X-TZ-Offset nor its reading of naive values can shift it."""
    return moment.strftime(FILTER_FORMAT)


class StepOvers:
    """Pages of one query stepped over in a row: bounded, so a Close that
    says "deleted" for every page fails the run instead of looping."""

    limit = 3

    def __init__(self) -> None:
        self.count = 0


def get_page(
    client,
    path: str,
    params: Mapping[str, object],
    label: str,
    steps: StepOvers | None = None,
) -> dict:
    """One page. A 404 "document deleted" in the middle of paging is asked
    once more (the deletion has usually settled), then stepped over; raised
    instead when the pager cannot step (`steps` None: a cursor has no next
    page to go to) or has stepped over too many pages in a row."""
    try:
        body = client.get(path, params)
    except DeletedDocumentError as exc:
        LOGGER.warning("%s: %s; asking for the page once more", label, exc)
        try:
            body = client.get(path, params)
        except DeletedDocumentError as again:
            return _step_over(again, params, label, steps)
    if steps is not None:
        steps.count = 0
    return body


def _step_over(
    exc: DeletedDocumentError, params: Mapping, label: str, steps: StepOvers | None
) -> dict:
    if steps is None or steps.count >= steps.limit:
        raise exc
    steps.count += 1
    LOGGER.warning(
        "%s: %s again; stepping over the page at _skip=%s (its records may be "
        "missing from this run)",
        label,
        exc,
        params.get("_skip"),
    )
    return {"data": [], "has_more": True, "stepped_over": True}


def offset_pages(
    client,
    path: str,
    params: Mapping[str, object],
    limit: int,
    label: str,
    skip: int = 0,
) -> Iterator[list[dict]]:
    """Yield the data of each page of one query, paging by `_skip`. Raises
    SkipCapError (from the client) when Close's max_skip is reached."""
    steps = StepOvers()
    while True:
        query = {**params, "_skip": skip, "_limit": limit}
        body = get_page(client, path, query, label, steps)
        data = body.get("data") or []
        LOGGER.debug("%s: %s records at _skip=%s", label, len(data), skip)

        if data:
            yield data
        if not body.get("has_more"):
            return
        if not data and not body.get("stepped_over"):
            LOGGER.warning(
                "%s: Close said has_more with an empty page at _skip=%s; "
                "ending this query",
                label,
                skip,
            )
            return
        skip += limit


def offset_list(client, path: str, limit: int, label: str) -> Iterator[list[dict]]:
    """A whole unfiltered list: nothing to narrow when max_skip is reached."""
    try:
        yield from offset_pages(client, path, {}, limit, label)
    except SkipCapError as exc:
        raise SkipCapExhaustedError(
            f"{label}: the list at {path} is longer than Close's max_skip lets "
            f"a client page through, and it has no filter to narrow it ({exc})"
        ) from exc


def cursor_pages(
    client, path: str, params: Mapping[str, object], limit: int, label: str
) -> Iterator[list[dict]]:
    """Yield the data of each page of a cursor walk (`/event/`)."""
    query = {**params, "_limit": limit}
    while True:
        body = get_page(client, path, query, label)
        data = body.get("data") or []
        LOGGER.debug("%s: %s records", label, len(data))

        if not data:
            return
        yield data

        cursor = body.get("cursor_next")
        if not cursor:
            return
        # Close docs (event log): with _cursor, resend every filter except
        # date_updated*, which the cursor already carries.
        query = {k: v for k, v in params.items() if not k.startswith("date_updated")}
        query.update({"_cursor": cursor, "_limit": limit})


# --- Keyset paging: leads and tasks ------------------------------------------


@dataclass
class KeysetPage:
    """New records of one page, and where a later run may resume: the query
    at the current key, and the skip to start it at."""

    records: list[dict]
    resume_params: dict
    resume_skip: int


def keyset_pages(
    client,
    path: str,
    query_at: Callable[[datetime | None], dict],
    key_of: Callable[[dict], datetime],
    version_of: Callable[[dict], object],
    limit: int,
    label: str,
    lower: datetime | None = None,
    skip: int = 0,
) -> Iterator[KeysetPage]:
    """Page an ascending query by restarting it at the key of the last record
    seen, with `_skip` counting only the records that share that key (minus
    a small overlap), so `_skip` stays small and a record that moves to the
    end of the result (updated mid-sync) cannot push another out of view.

    `query_at(lower)` builds the query for records whose key >= lower;
    `key_of` is the (floored) key the query filters on; records are
    de-duplicated by (id, version_of) within one key."""
    overlap = min(KEYSET_OVERLAP, limit // 2)
    seen: set[tuple] = set()
    rereads, steps = 0, StepOvers()
    while True:
        params = query_at(lower)
        body = _keyset_page(client, path, params, skip, limit, label, lower, steps)
        data = body.get("data") or []
        LOGGER.debug("%s: %s records at key %s _skip=%s", label, len(data), lower, skip)

        if body.get("stepped_over"):
            skip += limit
            continue
        if not data:
            if body.get("has_more"):
                LOGGER.warning(
                    "%s: Close said has_more with an empty page; ending the query",
                    label,
                )
            return

        if skip and seen and _ident(data[0], version_of) not in seen:
            if rereads < MAX_RESTARTS:
                # More records left this key than the overlap covers: some
                # may have moved into the skipped positions. Re-read the key.
                LOGGER.info(
                    "%s: records moved while paging; re-reading %s", label, lower
                )
                skip, rereads = 0, rereads + 1
                continue
            LOGGER.warning(
                "%s: records keep moving while paging at %s; going on (a record "
                "removed meanwhile may hide another from this run)",
                label,
                lower,
            )

        fresh = [r for r in data if _ident(r, version_of) not in seen]
        last_key = key_of(data[-1])
        if last_key != lower:
            lower, rereads = last_key, 0
            same_key = [r for r in data if key_of(r) == lower]
            seen = {_ident(r, version_of) for r in same_key}
            skip = len(same_key)
        else:
            seen.update(_ident(r, version_of) for r in data)
            skip += len(data)
        if len(data) > overlap:
            skip = max(0, skip - overlap)

        more = bool(body.get("has_more"))
        yield KeysetPage(fresh, query_at(lower), skip if more else 0)
        if not more:
            return


def _keyset_page(client, path, params, skip, limit, label, lower, steps) -> dict:
    try:
        query = {**params, "_skip": skip, "_limit": limit}
        return get_page(client, path, query, label, steps)
    except SkipCapError as exc:
        where = lower.isoformat() if lower else "at the start"
        raise SkipCapExhaustedError(
            f"{label}: more records share the key {where} than "
            f"Close's max_skip lets a client page through; no narrower query "
            f"exists ({exc})"
        ) from exc


def _ident(record: dict, version_of: Callable[[dict], object]) -> tuple:
    return record["id"], version_of(record)


# --- Date windows: activities ------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A half-open date range [start, end); end None means no upper bound."""

    start: datetime
    end: datetime | None

    def __str__(self) -> str:
        end = self.end.isoformat() if self.end else "open"
        return f"[{self.start.isoformat()}, {end})"


@dataclass
class _Seen:
    """What one query has returned so far: its order and its extremes."""

    ascending: bool = True
    descending: bool = True
    previous: datetime | None = None
    oldest: datetime | None = None
    newest: datetime | None = None
    ids_at_oldest: set = field(default_factory=set)
    ids_at_newest: set = field(default_factory=set)

    def observe(self, record: dict, moment: datetime) -> None:
        if self.previous is not None:
            self.ascending &= moment >= self.previous
            self.descending &= moment <= self.previous
        self.previous = moment

        second = floor_to_second(moment)
        if self.oldest is None or second < self.oldest:
            self.oldest, self.ids_at_oldest = second, set()
        if second == self.oldest:
            self.ids_at_oldest.add(record["id"])
        if self.newest is None or second > self.newest:
            self.newest, self.ids_at_newest = second, set()
        if second == self.newest:
            self.ids_at_newest.add(record["id"])


@dataclass(frozen=True)
class _Query:
    start: datetime
    end: datetime | None
    exclude: frozenset = frozenset()


def window_pages(
    client, path: str, window: Window, key: str, limit: int, label: str
) -> Iterator[list[dict]]:
    """Yield the records of one date window, page by page, in whatever order
    Close serves them. When Close's max_skip is reached, narrow the query
    using what has been seen and carry on."""
    pending = [_Query(window.start, window.end)]
    while pending:
        query = pending.pop()
        narrower = yield from _query_pages(client, path, query, key, limit, label)
        pending.extend(narrower)


def _query_pages(
    client, path: str, query: _Query, key: str, limit: int, label: str
) -> Generator[list[dict], None, list[_Query]]:
    """Page one window query by `_skip`, each page overlapping the last by
    one record. Returns the narrower queries still to read when max_skip
    stops it, else []."""
    params = {"date_created__gte": format_filter(query.start)}
    if query.end is not None:
        params["date_created__lt"] = format_filter(query.end)
    seen, skip, previous, restarts = _Seen(), 0, None, 0
    steps = StepOvers()
    while True:
        try:
            page_params = {**params, "_skip": skip, "_limit": limit}
            body = get_page(client, path, page_params, label, steps)
        except SkipCapError:
            narrower = _narrow(query, seen, label)
            LOGGER.info(
                "%s: reached Close's max_skip; narrowing to %s", label, narrower
            )
            return narrower
        data = body.get("data") or []
        LOGGER.debug("%s: %s records at _skip=%s", label, len(data), skip)

        if previous and data and data[0]["id"] not in previous:
            if restarts < MAX_RESTARTS:
                # Records were removed before this position, so the rest moved
                # up and one may have slipped past unread: read it again.
                LOGGER.warning(
                    "%s: the result moved up while paging at _skip=%s; reading "
                    "the query again from the start",
                    label,
                    skip,
                )
                seen, skip, previous, restarts = _Seen(), 0, None, restarts + 1
                continue
            LOGGER.warning(
                "%s: the result keeps moving while paging at _skip=%s; going on "
                "(a record removed meanwhile may hide another from this run)",
                label,
                skip,
            )

        fresh = [r for r in data if r["id"] not in previous] if previous else data
        for record in fresh:
            seen.observe(record, parse_datetime(record[key]))
        if query.exclude:
            fresh = [r for r in fresh if r["id"] not in query.exclude]
        if fresh:
            yield fresh

        if not body.get("has_more"):
            return []
        if body.get("stepped_over"):
            skip, previous = skip + limit, None
            continue
        if not data:
            LOGGER.warning(
                "%s: Close said has_more with an empty page at _skip=%s; "
                "ending this query",
                label,
                skip,
            )
            return []
        previous = {r["id"] for r in data}
        skip += limit - 1 if limit > 1 else limit


def _narrow(query: _Query, seen: _Seen, label: str) -> list[_Query]:
    """Queries that cover what `query` had left unread, each strictly smaller,
    or SkipCapExhaustedError when none can be."""
    if seen.oldest is None:
        raise SkipCapExhaustedError(f"{label}: max_skip reached before any record")

    if seen.descending:
        # Newest first: everything after the oldest second seen is read.
        end = seen.oldest + SECOND
        if query.end is None or end < query.end:
            return [_Query(query.start, end, frozenset(seen.ids_at_oldest))]
    elif seen.ascending:
        # Oldest first: everything before the newest second seen is read.
        if seen.newest > query.start:
            return [_Query(seen.newest, query.end, frozenset(seen.ids_at_newest))]
    else:
        # No order: split in two (records already emitted may come again).
        end = query.end or seen.newest + SECOND
        middle = query.start + (end - query.start) / 2
        middle = floor_to_second(middle)
        if middle > query.start:
            LOGGER.warning("%s: unordered results; splitting at %s", label, middle)
            return [_Query(middle, query.end), _Query(query.start, middle)]

    raise SkipCapExhaustedError(
        f"{label}: more records were created within one second "
        f"({seen.oldest.isoformat()}) than Close's max_skip lets a client page "
        f"through; no narrower date_created query can reach the rest"
    )


# --- Several windows in flight ------------------------------------------------


class _Stopped(Exception):
    """The consumer has gone: a worker stops paging."""


def fetch_windows(
    client,
    path: str,
    windows: list[Window],
    key: str,
    limit: int,
    label: str,
    concurrency: int,
) -> Iterator[tuple[int, list[dict] | None]]:
    """Read up to `concurrency` windows at once in worker threads. Yields
    (window index, page data) in the caller's thread as pages arrive, and
    (window index, None) once that window is complete. A worker's error is
    raised here; the other workers then stop. With concurrency 1 the windows
    are read one after the other, in order."""
    # Bounded, so workers wait for the writer instead of piling up pages.
    results: queue.Queue = queue.Queue(maxsize=4 * concurrency)
    stop = threading.Event()

    def put(item: tuple) -> None:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def work(index: int) -> None:
        window = windows[index]
        try:
            for data in window_pages(client, path, window, key, limit, label):
                put((index, data))
                if stop.is_set():
                    return
            put((index, None))
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, raised there
            try:
                put((index, exc))
            except _Stopped:
                return

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=label)
    try:
        for index in range(len(windows)):
            pool.submit(work, index)
        remaining = len(windows)
        while remaining:
            index, item = results.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                remaining -= 1
            yield index, item
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
