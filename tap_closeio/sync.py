"""The sync loop: stream order, currently_syncing, SCHEMA/RECORD/STATE
messages, bookmarks and resume offsets."""

import logging
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import datetime, timezone
from typing import TextIO

from singer import metrics

from tap_closeio.config import Config
from tap_closeio.errors import AccessDeniedError
from tap_closeio.output import InlineOutput, Output
from tap_closeio.schemas import load_schema
from tap_closeio.state import SyncState, stream_order, validate_state
from tap_closeio.streams import (
    STREAMS,
    STREAMS_BY_NAME,
    Checkpoint,
    ReadContext,
    Stream,
)
from tap_closeio.timeutil import format_bookmark

LOGGER = logging.getLogger(__name__)

REPLICATION_KEYS = {stream.name: stream.replication_key for stream in STREAMS}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run_sync(
    client,
    config: Config,
    catalog: dict | None,
    state: dict,
    *,
    sync_started_at: datetime | None = None,
    out: TextIO | None = None,
    clock: Callable[[], datetime] = _utcnow,
    page_sizes: Mapping[str, int] | None = None,
    output: Output | None = None,
) -> dict:
    """Sync every selected stream (all of them when `catalog` is None),
    writing Singer messages to `output` (by default, from this process to
    `out` or stdout), and return the final state. The caller closes an
    `output` it passes.

    `clock` stamps time_extracted; `page_sizes` overrides a stream's `_limit`
    (tests use tiny pages to reach Close's max_skip cheaply)."""
    # The command line has validated the state file and warned about it,
    # naming the file. This guards other callers against a wrong shape; its
    # warnings would repeat the command line's.
    validate_state(state, REPLICATION_KEYS, warn=False)
    selection = _selection(catalog)
    sync_started_at = sync_started_at or clock()
    sync_state = SyncState(state)
    writer = output if output is not None else InlineOutput(out)

    names = [stream.name for stream in STREAMS if stream.name in selection]
    order = stream_order(names, sync_state.currently_syncing, list(REPLICATION_KEYS))
    for name in order:
        run = _StreamRun(
            STREAMS_BY_NAME[name],
            selection[name],
            client,
            config,
            sync_state,
            writer,
            sync_started_at,
            clock,
            (page_sizes or {}).get(name),
        )
        run.sync()

    sync_state.set_currently_syncing(None)
    writer.write_state(sync_state.value)
    return sync_state.value


def _selection(catalog: dict | None) -> dict[str, set[str] | None]:
    if catalog is None:
        return {stream.name: None for stream in STREAMS}
    from tap_closeio.discovery import selected_streams

    selection = selected_streams(catalog)
    if not selection:
        LOGGER.warning(
            "The catalog selects no stream, so nothing is synced: mark streams "
            '"selected": true in their metadata (breadcrumb [])'
        )
    return selection


class _StreamRun:
    """One stream's sync within a run."""

    def __init__(
        self,
        stream: Stream,
        selected: set[str] | None,
        client,
        config: Config,
        sync_state: SyncState,
        writer: Output,
        sync_started_at: datetime,
        clock: Callable[[], datetime],
        page_size: int | None,
    ) -> None:
        self.stream = stream
        self.selected = selected
        self.client = client
        self.config = config
        self.state = sync_state
        self.writer = writer
        self.sync_started_at = sync_started_at
        self.clock = clock
        self.page_size = page_size or stream.page_size
        self.records = 0
        self.pages = 0

    def sync(self) -> None:
        stream = self.stream
        self.state.set_currently_syncing(stream.name)
        self.writer.write_state(self.state.value)

        schema = load_schema(stream.name)
        self.writer.add_stream(stream.name, schema, self.selected)
        self.writer.write_schema(
            stream.name,
            self._schema_for_output(schema),
            list(stream.key_properties),
            [stream.replication_key],
        )

        ctx = self._context()
        LOGGER.info(
            "%s: reading %s (bookmark in state: %s)",
            stream.name,
            stream.scope or "from " + format_bookmark(ctx.start),
            ctx.state_bookmark and format_bookmark(ctx.state_bookmark),
        )
        try:
            self._consume(ctx)
        except AccessDeniedError as exc:
            LOGGER.warning(
                "%s: Close refused access (%s); skipping this stream, the "
                "others go on and the run still succeeds",
                stream.name,
                exc,
            )
            return

        LOGGER.info(
            "%s: done: %s records in %s pages; bookmark now %s",
            stream.name,
            self.records,
            self.pages,
            self.state.value["bookmarks"]
            .get(stream.name, {})
            .get(stream.replication_key),
        )

    def _context(self) -> ReadContext:
        stream = self.stream
        bookmark = self.state.get_bookmark(stream.name, stream.replication_key)
        start = self.config.start_date
        if bookmark is not None and bookmark > start:
            start = bookmark
        return ReadContext(
            client=self.client,
            config=self.config,
            stream=stream,
            start=start,
            state_bookmark=bookmark,
            sync_started_at=self.sync_started_at,
            page_size=self.page_size,
            saved_offset=lambda fp: self.state.get_offset(stream.name, fp),
        )

    def _consume(self, ctx: ReadContext) -> None:
        name = self.stream.name
        # NB: closing, so a reader stopped by an error ends its pagers (and
        # their requests made ahead) here, not whenever it is collected.
        items = self.stream.reader(ctx)
        with metrics.record_counter(name) as counter, closing(items):
            for item in items:
                if isinstance(item, Checkpoint):
                    self._checkpoint(item)
                    continue

                self.pages += 1
                if not item:
                    continue
                stamp = format_bookmark(self.clock())
                written = self.writer.write_records(name, item, stamp)
                self.records += written
                counter.increment(written)

    def _checkpoint(self, checkpoint: Checkpoint) -> None:
        name, key = self.stream.name, self.stream.replication_key
        current = self.state.get_bookmark(name, key)
        if checkpoint.bookmark is not None and (
            current is None or checkpoint.bookmark > current
        ):
            self.state.set_bookmark(name, key, checkpoint.bookmark)

        if checkpoint.offset is None:
            self.state.clear_offset(name)
        else:
            self.state.set_offset(name, *checkpoint.offset)
        self.writer.write_state(self.state.value)

    def _schema_for_output(self, schema: dict) -> dict:
        # Deselected fields leave the SCHEMA as they leave the RECORDs; the
        # key and the replication key are always kept.
        if self.selected is None:
            return schema
        keep = set(self.selected) | set(self.stream.key_properties)
        keep.add(self.stream.replication_key)
        properties = schema.get("properties", {})
        schema["properties"] = {k: v for k, v in properties.items() if k in keep}
        return schema
