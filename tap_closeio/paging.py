"""Page generators over Close's list endpoints: offset (`_skip`/`_limit`),
cursor (`/event/`), keyset restarts (leads, tasks) and date windows that
narrow themselves when they meet Close's max_skip (activities)."""

import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

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

# Pages in a row that bring no record not already read: Close is not paging.
STALE_PAGES = 3

# How the window pool decides how many of its workers may read at once
# (_Gate): it looks at this process's CPU use over each SAMPLE_SECONDS.
SAMPLE_SECONDS = 0.25
BUSY_SHARE = 0.85  # of one core: the tap itself is the limit, halve the readers
IDLE_SHARE = 0.5  # below this, the tap waits on Close: one reader more

# How long stopping a pager or the window pool waits for a request in flight.
STOP_WAIT = 5.0


def format_filter(moment: datetime) -> str:
    """A date filter value: UTC with an explicit offset, so neither Close's
    X-TZ-Offset nor its reading of naive values can shift it."""
    # NB: isoformat, not strftime: glibc's %Y drops the zeros of years < 1000.
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "+00:00"


Gap = Callable[[], None]


def _no_gap() -> None:
    pass


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
        body = client.get(path, params, page=True)
    except DeletedDocumentError as exc:
        LOGGER.warning("%s: %s; asking for the page once more", label, exc)
        try:
            body = client.get(path, params, page=True)
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


class _Box:
    """The answer to one request made ahead."""

    def __init__(self, key: object) -> None:
        self.key = key
        self.done = threading.Event()
        self.value: dict | None = None
        self.error: BaseException | None = None


class PageAhead:
    """Asks for a sequential pager's next page in a worker thread while the
    caller works on the current one, so Close's answer time overlaps the
    tap's CPU (leads, tasks, event log, lists). The worker makes exactly the
    request the pager would make next, and only one at a time; `take` hands
    out its answer (or raises its error) where the pager would have asked."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending: _Box | None = None

    def start(self, key: object, fetch: Callable[[], dict]) -> None:
        """Begin the request identified by `key` (its parameters)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name=f"{self._label} ahead", daemon=True
            )
            self._thread.start()
        self._pending = _Box(key)
        self._jobs.put((fetch, self._pending))

    def take(self, key: object, fetch: Callable[[], dict]) -> dict:
        """The answer to the request identified by `key`: the one made
        ahead when it is that request, else made now."""
        box, self._pending = self._pending, None
        if box is not None:
            box.done.wait()  # one request at a time, even when not this one
        if box is None or box.key != key:
            return fetch()
        if box.error is not None:
            raise box.error
        return box.value

    def close(self) -> None:
        """Wait for the request made ahead, if any, and end the worker: a
        pager that is done leaves no request of its own behind. NB: at most
        STOP_WAIT seconds, as the window pool: a pager is closed early when
        the run stops, and a request in an outage (retries, long timeouts)
        would hold a scheduler's SIGTERM past its grace period. The worker
        is a daemon thread: one still busy ends with the process."""
        self._pending = None
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(STOP_WAIT)
            if self._thread.is_alive():
                LOGGER.info(
                    "%s: a request made ahead is still waiting on Close; not "
                    "waiting for it",
                    self._label,
                )
            self._thread = None

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fetch, box = job
            try:
                box.value = fetch()
            except BaseException as exc:  # raised in the pager by take()
                box.error = exc
            box.done.set()


def offset_pages(
    client,
    path: str,
    params: Mapping[str, object],
    limit: int,
    label: str,
    skip: int = 0,
    on_gap: Gap = _no_gap,
) -> Iterator[list[dict]]:
    """Yield the data of each page of one query, paging by `_skip`. Raises
    SkipCapError (from the client) when Close's max_skip is reached. Calls
    `on_gap` when records may have been left unread (here and in every
    pager below), so the caller keeps its bookmark where it was."""
    steps, ahead = StepOvers(), PageAhead(label)
    try:
        yield from _offset_pages(
            client, path, params, limit, label, skip, on_gap, steps, ahead
        )
    finally:
        ahead.close()


def _offset_pages(
    client, path, params, limit, label, skip, on_gap, steps, ahead
) -> Iterator[list[dict]]:
    previous = None
    while True:
        query = {**params, "_skip": skip, "_limit": limit}
        body = ahead.take(
            query, lambda query=query: get_page(client, path, query, label, steps)
        )
        data = body.get("data") or []
        LOGGER.debug("%s: %s records at _skip=%s", label, len(data), skip)

        ids = [record.get("id") for record in data]
        if data and ids == previous:
            LOGGER.warning(
                "%s: Close sent the same page again at _skip=%s; ending this query",
                label,
                skip,
            )
            on_gap()
            return
        previous = ids
        more = bool(body.get("has_more"))
        if data:
            if more:
                _ask_ahead(
                    ahead, client, path, params, skip + limit, limit, label, steps
                )
            yield data
        if not more:
            return
        if body.get("stepped_over"):
            on_gap()
        elif not data:
            LOGGER.warning(
                "%s: Close said has_more with an empty page at _skip=%s; "
                "ending this query",
                label,
                skip,
            )
            on_gap()
            return
        skip += limit


def _ask_ahead(ahead, client, path, params, skip, limit, label, steps) -> None:
    query = {**params, "_skip": skip, "_limit": limit}
    ahead.start(query, lambda: get_page(client, path, query, label, steps))


def offset_list(
    client, path: str, limit: int, label: str, on_gap: Gap = _no_gap
) -> Iterator[list[dict]]:
    """A whole unfiltered list: nothing to narrow when max_skip is reached."""
    try:
        yield from offset_pages(client, path, {}, limit, label, on_gap=on_gap)
    except SkipCapError as exc:
        raise SkipCapExhaustedError(
            f"{label}: the list at {path} is longer than Close's max_skip lets "
            f"a client page through, and it has no filter to narrow it ({exc})"
        ) from exc


def cursor_pages(
    client,
    path: str,
    params: Mapping[str, object],
    limit: int,
    label: str,
    on_gap: Gap = _no_gap,
) -> Iterator[list[dict]]:
    """Yield the data of each page of a cursor walk (`/event/`)."""
    ahead = PageAhead(label)
    try:
        yield from _cursor_pages(client, path, params, limit, label, on_gap, ahead)
    finally:
        ahead.close()


def _cursor_pages(client, path, params, limit, label, on_gap, ahead):
    query = {**params, "_limit": limit}
    while True:
        body = ahead.take(
            query, lambda query=query: get_page(client, path, query, label)
        )
        data = body.get("data") or []
        LOGGER.debug("%s: %s records", label, len(data))

        if not data:
            if body.get("cursor_next") or body.get("has_more"):
                LOGGER.warning(
                    "%s: Close sent an empty page that says more follow; "
                    "ending the walk",
                    label,
                )
                on_gap()
            return
        cursor = body.get("cursor_next")
        if not cursor:
            yield data
            return
        # Close docs (event log): with _cursor, resend every filter except
        # date_updated*, which the cursor already carries.
        query = {k: v for k, v in params.items() if not k.startswith("date_updated")}
        query.update({"_cursor": cursor, "_limit": limit})
        ahead.start(query, lambda query=query: get_page(client, path, query, label))
        yield data


# --- Keyset paging: leads and tasks ------------------------------------------


@dataclass
class KeysetPage:
    """New records of one page, and where a later run may resume: the query
    at the current key, and the skip to start it at."""

    records: list[dict]
    resume_params: dict
    resume_skip: int
    resume_seen: list  # (id, version) of the records at resume_skip onward


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
    seen_at_skip: list | None = None,
    on_gap: Gap = _no_gap,
) -> Iterator[KeysetPage]:
    """Page an ascending query by restarting it at the key of the last record
    seen, with `_skip` counting only the records that share that key (minus
    a small overlap), so `_skip` stays small and a record that moves to the
    end of the result (updated mid-sync) cannot push another out of view.

    `query_at(lower)` builds the query for records whose key >= lower;
    `key_of` is the (floored) key the query filters on; records are
    de-duplicated by (id, version_of) within one key. A resumed query
    passes the records a past run saw at `skip` (`seen_at_skip`), so a
    result that moved meanwhile is noticed and the key read again."""
    ahead = PageAhead(label)
    try:
        yield from _keyset_pages(
            client,
            path,
            query_at,
            key_of,
            version_of,
            limit,
            label,
            lower,
            skip,
            seen_at_skip,
            on_gap,
            ahead,
        )
    finally:
        ahead.close()


def _keyset_pages(
    client,
    path,
    query_at,
    key_of,
    version_of,
    limit,
    label,
    lower,
    skip,
    seen_at_skip,
    on_gap,
    ahead,
) -> Iterator[KeysetPage]:
    overlap = min(KEYSET_OVERLAP, limit // 2)
    tail = [tuple(ident) for ident in seen_at_skip or []] if skip else []
    seen: set[tuple] = set(tail)
    rereads, steps, stale = 0, StepOvers(), 0

    def fetch(params: dict, skip: int, lower: datetime | None) -> dict:
        return _keyset_page(client, path, params, skip, limit, label, lower, steps)

    while True:
        params = query_at(lower)
        body = ahead.take(
            (params, skip), lambda p=params, k=skip, w=lower: fetch(p, k, w)
        )
        data = body.get("data") or []
        LOGGER.debug("%s: %s records at key %s _skip=%s", label, len(data), lower, skip)

        if body.get("stepped_over"):
            on_gap()
            skip += limit
            continue
        if not data:
            if body.get("has_more"):
                LOGGER.warning(
                    "%s: Close said has_more with an empty page; ending this query",
                    label,
                )
                on_gap()
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
            on_gap()

        fresh = [r for r in data if _ident(r, version_of) not in seen]
        # Pages of records already read are expected only while re-reading a
        # key; past that, Close is not paging.
        stale = stale + 1 if not fresh and skip >= len(seen) else 0
        if stale >= STALE_PAGES:
            LOGGER.warning(
                "%s: Close keeps sending records already read at %s _skip=%s; "
                "ending this query",
                label,
                lower,
                skip,
            )
            on_gap()
            return
        last_key = key_of(data[-1])
        if last_key != lower:
            lower, rereads = last_key, 0
            same_key = [_ident(r, version_of) for r in data if key_of(r) == lower]
            seen, skip = set(same_key), len(same_key)
        else:
            same_key = [_ident(r, version_of) for r in data]
            seen.update(same_key)
            skip += len(data)
        tail = []
        if len(data) > overlap:
            skip = max(0, skip - overlap)
            tail = same_key[-overlap:] if skip else []

        more = bool(body.get("has_more"))
        if more:
            params = query_at(lower)
            ahead.start(
                (params, skip), lambda p=params, k=skip, w=lower: fetch(p, k, w)
            )
        yield KeysetPage(
            fresh, query_at(lower), skip if more else 0, tail if more else []
        )
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
    splits: int = 0  # times the rest may still be cut into parts


def _query_pages(
    client,
    path: str,
    query: _Query,
    key: str,
    limit: int,
    label: str,
    split_into: int = 1,
    on_gap: Gap = _no_gap,
    spare: Callable[[], int] = lambda: 0,
) -> Generator[list[dict], None, list[_Query]]:
    """Page one window query by `_skip`, each page overlapping the last by
    one record. Returns the queries still to read: narrower ones when
    max_skip stops it; with `split_into` > 1, up to that many parts of the
    rest once the first page shows there is more than one page; and, after
    any later page, parts for the `spare()` workers that have nothing to do
    when the rest looks long enough to share."""
    params = {"date_created__gte": format_filter(query.start)}
    if query.end is not None:
        params["date_created__lt"] = format_filter(query.end)
    seen, skip, previous, restarts = _Seen(), 0, None, 0
    steps, stale = StepOvers(), 0
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
            on_gap()

        fresh = [r for r in data if r["id"] not in previous] if previous else data
        stale = stale + 1 if data and not fresh else 0
        if stale >= STALE_PAGES:
            LOGGER.warning(
                "%s: Close keeps sending records already read at _skip=%s; "
                "ending this query",
                label,
                skip,
            )
            on_gap()
            return []
        for record in fresh:
            seen.observe(record, parse_datetime(record[key]))
        if query.exclude:
            fresh = [r for r in fresh if r["id"] not in query.exclude]
        if fresh:
            yield fresh

        if not body.get("has_more"):
            return []
        if skip == 0 and split_into > 1 and not restarts:
            parts = _split_rest(query, seen, split_into)
            if parts:
                LOGGER.debug("%s: reading the rest in %s parts", label, len(parts))
                return parts
        elif not restarts and (idle := spare()):
            pages_read = skip // max(limit - 1, 1) + 1
            parts = _split_rest(
                query, seen, idle + 1, SHARED_PAGES_PER_PART, pages_read
            )
            if len(parts) > 1:
                LOGGER.debug("%s: sharing the rest in %s parts", label, len(parts))
                return parts
        if body.get("stepped_over"):
            on_gap()
            skip, previous = skip + limit, None
            continue
        if not data:
            LOGGER.warning(
                "%s: Close said has_more with an empty page at _skip=%s; "
                "ending this query",
                label,
                skip,
            )
            on_gap()
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


# Pages one part of a split window is expected to hold: enough parts to keep
# every worker busy, few enough that sparse parts cost few extra requests.
# Every part ends on a partial page: at 3 pages a part, and up to three parts
# per worker, 20,000 activities took 245 requests where 203 hold them; at 6,
# and one part per worker, 221 (bench/RESULTS.md).
PAGES_PER_PART = 6

# A window's rest is cut into parts after its first page, and each part's
# rest once more after the part's own first page. NB: parts are sized by the
# density of the window's first (newest) page, and Close's data is not evenly
# spread: with one cut the newest window's last part still ran 13 pages one
# after another (bench/RESULTS.md).
WINDOW_SPLITS = 2


# Pages a part cut for an idle worker is expected to hold at least. NB:
# without these cuts the last window's few parts ran their pages one after
# another while the other workers had nothing to do: the latency-bound sync
# spent its last two seconds at a third of the rate limit (bench/RESULTS.md).
SHARED_PAGES_PER_PART = 2


def _split_rest(
    query: _Query,
    seen: _Seen,
    most: int,
    pages_per_part: int = PAGES_PER_PART,
    pages_read: int = 1,
) -> list[_Query]:
    """The unread rest of `query`, cut into up to `most` parts of equal
    length, each expected to hold `pages_per_part` pages by the density of
    the `pages_read` pages the query has returned so far, or [] when the
    order is unknown or the rest has no upper bound."""
    if seen.oldest is None or seen.oldest == seen.newest:
        return []
    if seen.descending:
        rest = _Query(query.start, seen.oldest + SECOND, frozenset(seen.ids_at_oldest))
    elif seen.ascending and query.end is not None:
        rest = _Query(seen.newest, query.end, frozenset(seen.ids_at_newest))
    else:
        return []

    # The span the pages read cover, not the window's: Close's data is often
    # far from evenly spread.
    per_page = (seen.newest - seen.oldest + SECOND) / pages_read
    length = rest.end - rest.start
    wanted = math.ceil(length / max(per_page, SECOND) / pages_per_part)
    count = max(1, min(most, wanted))
    cuts = sorted(
        {floor_to_second(rest.start + length * n / count) for n in range(count)}
    )
    cuts = [max(cut, rest.start) for cut in cuts] + [rest.end]
    splits = max(0, query.splits - 1)
    return [
        _Query(low, high, rest.exclude, splits)
        for low, high in zip(cuts, cuts[1:], strict=False)
        if high > low
    ]


# --- Several windows in flight ------------------------------------------------


# Marks a window some of whose records may have been left unread.
GAP: list = []


class _Stopped(Exception):
    """The consumer has gone: a worker stops paging."""


@dataclass(order=True)
class _Task:
    """One query of one window. Workers take the lowest rank first, so the
    oldest unfinished window is worked on first and can complete."""

    rank: tuple
    window: int = field(compare=False)
    query: _Query = field(compare=False)


def fetch_windows(
    client,
    path: str,
    windows: list[Window],
    key: str,
    limit: int,
    label: str,
    concurrency: int,
) -> Iterator[tuple[int, list[dict] | None]]:
    """Read the windows with `concurrency` worker threads. Yields, in the
    caller's thread, (window index, page data) as pages arrive, (window
    index, GAP) when records of that window may have been left unread, and
    (window index, None) once that window is complete. With concurrency above 1 a
    window with more than a page is split into parts read side by side; a
    window that meets max_skip goes on with narrower queries. A worker's
    error is raised here and the other workers stop. With concurrency 1 the
    windows are read one after the other, in order."""
    pool = _WindowPool(client, path, key, limit, label, max(1, concurrency))
    outstanding = [1] * len(windows)
    pool.start([_Query(w.start, w.end, splits=WINDOW_SPLITS) for w in windows])
    try:
        remaining = len(windows)
        while remaining:
            kind, index, payload = pool.results.get()
            if kind == "error":
                raise payload
            if kind == "page":
                yield index, payload
                continue
            if kind == "gap":
                yield index, GAP
                continue

            outstanding[index] += payload if kind == "more" else -1
            if outstanding[index] == 0:
                remaining -= 1
                yield index, None
    finally:
        pool.stop()


class _Gate:
    """How many workers may be reading a page at once: all of them while the
    tap waits on Close, fewer while its own CPU is what limits the sync.

    NB: the workers share one interpreter lock. Against a server that answers
    in a millisecond or two, six workers that all have a page to parse only
    contend for it: the bench's CPU-bound sync ran about a third slower with
    six than with one (bench/RESULTS.md). Against Close's hundreds of
    milliseconds the tap's CPU is mostly idle and all of them read."""

    def __init__(
        self,
        most: int,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self.most = self.limit = most
        self.active = 0
        self._clock, self._cpu = clock, cpu
        self._changed = threading.Condition()
        self._mark = (clock(), cpu())

    def __enter__(self) -> None:
        with self._changed:
            self._adjust()
            while self.active >= self.limit:
                self._changed.wait()
            self.active += 1

    def __exit__(self, *_exc: object) -> None:
        with self._changed:
            self.active -= 1
            self._changed.notify()

    def _adjust(self) -> None:
        now, used = self._clock(), self._cpu()
        elapsed = now - self._mark[0]
        if elapsed < SAMPLE_SECONDS:
            return
        share = (used - self._mark[1]) / elapsed
        self._mark = (now, used)
        # Halved when busy, one more when idle: it starts with every worker
        # (it cannot know the server yet), and against a fast server each
        # quarter second at six costs more than one at one.
        if share >= BUSY_SHARE and self.limit > 1:
            self.limit //= 2
            LOGGER.debug("window pool: CPU %.0f%%, %s at once", 100 * share, self.limit)
        elif share < IDLE_SHARE and self.limit < self.most:
            self.limit += 1
            LOGGER.debug("window pool: CPU %.0f%%, %s at once", 100 * share, self.limit)
            self._changed.notify_all()


class _WindowPool:
    """Worker threads reading window queries from a priority queue and
    handing pages to the caller through a bounded queue."""

    def __init__(self, client, path, key, limit, label, concurrency) -> None:
        self.client, self.path, self.key = client, path, key
        self.limit, self.label = limit, label
        # A window is cut into at most one part per worker.
        self.split_into = concurrency if concurrency > 1 else 1
        self.gate = _Gate(concurrency)
        self.tasks: queue.PriorityQueue = queue.PriorityQueue()
        # Bounded, so workers wait for the writer instead of piling up pages.
        self.results: queue.Queue = queue.Queue(maxsize=4 * concurrency)
        self.halt = threading.Event()
        self.sequence = itertools.count()
        self.idle = 0  # workers waiting for a task; read without the lock
        self._idle_lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._work, name=f"{label}-{n}", daemon=True)
            for n in range(concurrency)
        ]

    def start(self, queries: list[_Query]) -> None:
        for index, query in enumerate(queries):
            self._submit(index, query)
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """Tell the workers to stop and wait for them, at most STOP_WAIT
        seconds in all. NB: a worker inside a request ends only when that
        request does, retries and rate-limit waits included, minutes in an
        outage; a scheduler's SIGTERM gives about 30 s before SIGKILL. The
        workers are daemon threads: one still busy ends with the process."""
        self.halt.set()
        deadline = time.monotonic() + STOP_WAIT
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = sum(thread.is_alive() for thread in self.threads)
        if busy:
            LOGGER.info(
                "%s: %s workers still waiting on Close; not waiting for them",
                self.label,
                busy,
            )

    def _submit(self, index: int, query: _Query) -> None:
        self.tasks.put(_Task((index, next(self.sequence)), index, query))

    def _put(self, item: tuple) -> None:
        while not self.halt.is_set():
            try:
                self.results.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _work(self) -> None:
        # NB: every exception ends up with the caller: a worker that died
        # quietly would leave its window unfinished and the caller waiting
        # for it for ever.
        try:
            while not self.halt.is_set():
                try:
                    task = self._next_task()
                except queue.Empty:
                    continue
                self._run(task)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the caller, raised there
            try:
                self._put(("error", None, exc))
            except _Stopped:
                pass
            # The caller stops the pool once it meets the error; asking
            # Close for more windows meanwhile only costs requests.
            self.halt.set()

    def _next_task(self) -> _Task:
        try:
            return self.tasks.get_nowait()
        except queue.Empty:
            pass
        with self._idle_lock:
            self.idle += 1
        try:
            return self.tasks.get(timeout=0.1)
        finally:
            with self._idle_lock:
                self.idle -= 1

    def _spare(self) -> int:
        """Workers that could read a part cut for them now: idle, and let
        through the gate (none while this process's CPU is the limit)."""
        # NB: the gate may have lowered its limit below the readers inside.
        return max(0, min(self.idle, self.gate.limit - self.gate.active))

    def _run(self, task: _Task) -> None:
        split_into = self.split_into if task.query.splits else 1
        label = f"{self.label} {Window(task.query.start, task.query.end)}"
        pages = _query_pages(
            self.client,
            self.path,
            task.query,
            self.key,
            self.limit,
            label,
            split_into,
            on_gap=lambda: self._put(("gap", task.window, None)),
            spare=self._spare,
        )
        while True:
            try:
                with self.gate:
                    data = next(pages)
            except StopIteration as done:
                rest = done.value
                break
            self._put(("page", task.window, data))

        # NB: announce the new parts before queueing them, so the window
        # cannot look complete while one of them is still unread.
        if rest:
            self._put(("more", task.window, len(rest)))
            for query in rest:
                self._submit(task.window, query)
        self._put(("done", task.window, None))
