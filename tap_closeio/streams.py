"""The six streams: one small declaration each (name, endpoint, key,
replication key, reader, page size), and the readers that walk Close for
them. A reader yields batches of raw Close records and Checkpoints; the sync
loop transforms, writes and saves state."""

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from tap_closeio.config import Config
from tap_closeio.paging import (
    GAP,
    KeysetPage,
    Window,
    cursor_pages,
    fetch_windows,
    format_filter,
    keyset_pages,
    offset_list,
)
from tap_closeio.state import query_fingerprint
from tap_closeio.timeutil import floor_to_minute, floor_to_second, parse_datetime

LOGGER = logging.getLogger(__name__)

# Close docs (event log): events may appear or be consolidated late, so
# re-scan the latest five minutes on every run.
EVENT_LOG_SETTLE = timedelta(minutes=5)

# Leads come oldest first, so their bookmark may advance while paging.
LEADS_PAGES_PER_STATE = 10


@dataclass(frozen=True)
class Checkpoint:
    """A point where state may be saved: the bookmark every record up to it
    has been emitted for (None: unchanged), and the resume offset as
    (query fingerprint, skip, records seen at skip), or None to clear it."""

    bookmark: datetime | None
    offset: tuple[str, int, list] | None = None


@dataclass
class ReadContext:
    """What a reader needs for one stream in one run."""

    client: object
    config: Config
    stream: "Stream"
    start: datetime  # max(bookmark in state, start_date)
    state_bookmark: datetime | None
    sync_started_at: datetime
    page_size: int
    # fingerprint -> (skip, records seen at skip); (0, []) if none
    saved_offset: Callable[[str], tuple[int, list]]

    @property
    def label(self) -> str:
        return self.stream.name


Item = list | Checkpoint
Reader = Callable[[ReadContext], Iterator[Item]]


@dataclass(frozen=True)
class Stream:
    """One stream: its Close endpoint (relative to base_url), key,
    replication key, the reader that walks it, and its `_limit`."""

    name: str
    path: str
    replication_key: str
    reader: Reader
    page_size: int
    key_properties: tuple[str, ...] = ("id",)
    # What a run reads, for the log: None means from the run's start point
    # (the bookmark or start_date, whichever is later).
    scope: str | None = None


class Newest:
    """The newest replication-key value seen that is not after a limit:
    records dated in the future are emitted but never move a bookmark."""

    def __init__(self, key: str, limit: datetime, label: str) -> None:
        self.key = key
        self.limit = limit
        self.label = label
        self.value: datetime | None = None
        self._told = False

    def observe(self, records: Iterable[dict]) -> None:
        for record in records:
            moment = _moment(record.get(self.key))
            if moment is None:
                continue
            if moment > self.limit:
                self._tell(record, moment)
                continue
            if self.value is None or moment > self.value:
                self.value = moment

    def _tell(self, record: dict, moment: datetime) -> None:
        # Once per stream (per window for activities): otherwise a run that
        # emits the same records again and again says nothing of why.
        if self._told:
            return
        self._told = True
        LOGGER.info(
            "%s: %s has %s %s, after this run started (%s); records like it "
            "are emitted but do not move the bookmark, so they come again "
            "next run",
            self.label,
            record.get("id"),
            self.key,
            moment.isoformat(),
            self.limit.isoformat(),
        )


class Gaps:
    """Whether a pager may have left records unread this run: then the
    stream keeps its bookmark where it was, so the next run reads them."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.found = False

    def __call__(self) -> None:
        self.found = True

    def bookmark(self, newest: datetime | None) -> datetime | None:
        if not self.found:
            return newest
        LOGGER.warning(
            "%s: records may have been left unread; the bookmark stays where "
            "it was so the next run reads them again",
            self.label,
        )
        return None


# --- Readers ------------------------------------------------------------------


def read_custom_fields(ctx: ReadContext) -> Iterator[Item]:
    """Close returns the whole list; keep rows updated at or after the
    bookmark (>=: a row dated exactly at the bookmark may not have been
    emitted yet).

    The first run (no bookmark yet) emits every definition, however old:
    field definitions are a dimension that leads' `custom_fields` ids need,
    and most predate any start_date. The original tap dropped them."""
    key = ctx.stream.replication_key
    newest, gaps = Newest(key, ctx.sync_started_at, ctx.label), Gaps(ctx.label)
    pages = offset_list(ctx.client, ctx.stream.path, ctx.page_size, ctx.label, gaps)
    for data in pages:
        batch = data
        if ctx.state_bookmark is not None:
            batch = [r for r in data if _at_or_after(r, key, ctx.state_bookmark)]
        newest.observe(batch)
        yield batch
    yield Checkpoint(gaps.bookmark(newest.value))


def read_users(ctx: ReadContext) -> Iterator[Item]:
    """Close cannot filter users by date: emit the whole list every run."""
    newest, gaps = (
        Newest(ctx.stream.replication_key, ctx.sync_started_at, ctx.label),
        Gaps(ctx.label),
    )
    pages = offset_list(ctx.client, ctx.stream.path, ctx.page_size, ctx.label, gaps)
    for data in pages:
        newest.observe(data)
        yield data
    yield Checkpoint(gaps.bookmark(newest.value))


def read_leads(ctx: ReadContext) -> Iterator[Item]:
    """The lead search query, oldest first, restarted at the minute of the
    last lead seen (Close compares date_updated at minute precision, so the
    query is >= the floored minute and the exact >= is applied here)."""
    key = ctx.stream.replication_key
    newest = Newest(key, ctx.sync_started_at, ctx.label)
    # Leads come oldest first: after a gap, later leads must not carry the
    # bookmark past the unread ones, so it stays at its value then.
    frozen: list[datetime | None] = []
    lower = floor_to_minute(ctx.start)
    fingerprint = query_fingerprint(ctx.stream.path, _lead_query(lower))
    skip, seen_at_skip = ctx.saved_offset(fingerprint)

    pages = keyset_pages(
        ctx.client,
        ctx.stream.path,
        query_at=_lead_query,
        key_of=lambda r: floor_to_minute(parse_datetime(r[key])),
        version_of=lambda r: r.get(key),
        limit=ctx.page_size,
        label=ctx.label,
        lower=lower,
        skip=skip,
        seen_at_skip=seen_at_skip,
        on_gap=lambda: frozen or frozen.append(newest.value),
    )
    for count, page in enumerate(pages, start=1):
        batch = [r for r in page.records if _at_or_after(r, key, ctx.start)]
        newest.observe(batch)
        yield batch
        if count % LEADS_PAGES_PER_STATE == 0 and not frozen:
            yield Checkpoint(newest.value, _lead_offset(ctx, page, newest.value))
    if frozen:
        LOGGER.warning(
            "%s: leads may have been left unread; the bookmark stays at the "
            "newest lead emitted before them",
            ctx.label,
        )
    yield Checkpoint(frozen[0] if frozen else newest.value)


def _lead_query(lower: datetime | None) -> dict:
    # NB: isoformat, not strftime: glibc's %Y drops the zeros of years < 1000.
    minute = lower.replace(tzinfo=None).isoformat(timespec="minutes")
    return {"query": f'date_updated >= "{minute}" sort:date_updated'}


def _lead_offset(
    ctx: ReadContext, page: KeysetPage, bookmark: datetime | None
) -> tuple[str, int] | None:
    # A later run restarts at the bookmark's minute: the offset only applies
    # when that is the query this page left off in.
    if bookmark is None or not page.resume_skip:
        return None
    if _lead_query(floor_to_minute(bookmark)) != page.resume_params:
        return None
    fingerprint = query_fingerprint(ctx.stream.path, page.resume_params)
    return fingerprint, page.resume_skip, page.resume_seen


def read_tasks(ctx: ReadContext) -> Iterator[Item]:
    """Tasks updated since the bookmark, of every type (without _type=all
    Close returns only lead tasks). Close cannot order tasks by
    date_updated, so they come by date_created and the bookmark is saved at
    the end."""
    key = ctx.stream.replication_key
    newest, gaps = Newest(key, ctx.sync_started_at, ctx.label), Gaps(ctx.label)
    updated_since = format_filter(ctx.start)

    def query_at(lower: datetime | None) -> dict:
        params = {
            "_type": "all",
            "date_updated__gte": updated_since,
            "_order_by": "date_created",
        }
        if lower is not None:
            params["date_created__gte"] = format_filter(lower)
        return params

    pages = keyset_pages(
        ctx.client,
        ctx.stream.path,
        query_at=query_at,
        key_of=lambda r: floor_to_second(parse_datetime(r["date_created"])),
        version_of=lambda r: r.get(key),
        limit=ctx.page_size,
        label=ctx.label,
        on_gap=gaps,
    )
    for page in pages:
        newest.observe(page.records)
        yield page.records
    yield Checkpoint(gaps.bookmark(newest.value))


def read_event_log(ctx: ReadContext) -> Iterator[Item]:
    """The event log, newest first, by cursor. Its bookmark is saved only
    when the walk completes, and never later than five minutes before the
    sync started."""
    key = ctx.stream.replication_key
    newest, gaps = Newest(key, ctx.sync_started_at, ctx.label), Gaps(ctx.label)
    params = {"date_updated__gte": format_filter(ctx.start)}
    for data in cursor_pages(
        ctx.client, ctx.stream.path, params, ctx.page_size, ctx.label, gaps
    ):
        newest.observe(data)
        yield data

    if gaps.bookmark(newest.value) is None:
        yield Checkpoint(None)
        return
    yield Checkpoint(min(newest.value, ctx.sync_started_at - EVENT_LOG_SETTLE))


def read_activities(ctx: ReadContext) -> Iterator[Item]:
    """Half-open date_created windows, several in flight at once. Records
    are emitted as pages arrive; the bookmark moves only over the prefix of
    windows that are complete."""
    windows = activity_windows(ctx)
    key = ctx.stream.replication_key
    LOGGER.info(
        "%s: %s windows of %s days from %s, up to %s at a time",
        ctx.label,
        len(windows),
        ctx.config.date_window_days,
        windows[0].start.isoformat(),
        ctx.config.concurrency,
    )
    newest = [Newest(key, ctx.sync_started_at, ctx.label) for _ in windows]
    counts = [0] * len(windows)
    done = [False] * len(windows)
    gaps = [False] * len(windows)
    complete, stuck = 0, False
    bookmark = ctx.state_bookmark

    pages = fetch_windows(
        ctx.client,
        ctx.stream.path,
        windows,
        key=key,
        limit=ctx.page_size,
        label=ctx.label,
        concurrency=ctx.config.concurrency,
    )
    for index, data in pages:
        if data is GAP:
            gaps[index] = True
            continue
        if data is not None:
            newest[index].observe(data)
            counts[index] += len(data)
            yield data
            continue

        # An empty window is the common case of a long history: at DEBUG,
        # so that the INFO lines are the windows that held records.
        LOGGER.log(
            logging.INFO if counts[index] else logging.DEBUG,
            "%s: window %s complete: %s records",
            ctx.label,
            windows[index],
            counts[index],
        )
        done[index] = True
        complete_before = complete
        while complete < len(windows) and done[complete]:
            if gaps[complete] and not stuck:
                stuck = True
                LOGGER.warning(
                    "%s: window %s may have records left unread; the bookmark "
                    "stays before it so the next run reads it again",
                    ctx.label,
                    windows[complete],
                )
            if not stuck:
                bookmark = _later(bookmark, newest[complete].value)
            complete += 1
        if complete > complete_before:
            yield Checkpoint(bookmark)


def activity_windows(ctx: ReadContext) -> list[Window]:
    """[start, start + d), ... up to the sync's start; the last window has no
    upper bound so activities dated in the future are read too."""
    config = ctx.config
    start = config.start_date
    if ctx.state_bookmark is not None:
        lookback = timedelta(seconds=config.activities_window_seconds)
        try:
            start = max(start, ctx.state_bookmark - lookback)
        except OverflowError:  # a bookmark near year 1: start_date rules
            pass
    start = floor_to_second(start)
    size = timedelta(days=config.date_window_days)

    # NB: compared as a difference, so no date is pushed past year 9999.
    windows = []
    while ctx.sync_started_at - start > size:
        windows.append(Window(start, start + size))
        start += size
    windows.append(Window(start, None))
    return windows


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _at_or_after(record: dict, key: str, start: datetime) -> bool:
    # A record without the date is emitted: better twice than never.
    moment = _moment(record.get(key))
    return moment is None or moment >= start


def _moment(raw: object) -> datetime | None:
    # NB: a value that is there but not a date-time raises ValueError: Close
    # is not answering as documented, and the run stops rather than guess.
    return None if raw is None else parse_datetime(raw)


# --- The declarations, in sync order --------------------------------------------

STREAMS: tuple[Stream, ...] = (
    Stream(
        "custom_fields",
        "custom_field/lead/",
        "date_updated",
        read_custom_fields,
        100,
        scope="every row on the first run, then rows updated at or after the bookmark",
    ),
    Stream("leads", "lead/", "date_updated", read_leads, 100),
    Stream(
        "activities",
        "activity/",
        "date_created",
        read_activities,
        100,
        scope="from the bookmark less activities_window_seconds, or start_date",
    ),
    Stream("tasks", "task/", "date_updated", read_tasks, 100),
    Stream("users", "user/", "date_updated", read_users, 100, scope="the whole list"),
    Stream("event_log", "event/", "date_updated", read_event_log, 50),
)
STREAMS_BY_NAME = {stream.name: stream for stream in STREAMS}
