"""Running a sync in-process against a started emulator and reading back what
it wrote: the Singer messages, the final state, the requests Close saw."""

import contextlib
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tap_closeio.client import CloseClient
from tap_closeio.config import Config
from tap_closeio.sync import run_sync
from tap_closeio.timeutil import parse_datetime

UTC = timezone.utc
EXTRACTED = datetime(2030, 1, 1, tzinfo=UTC)
ALL_STREAMS = ("custom_fields", "leads", "activities", "tasks", "users", "event_log")
KINDS = {
    "custom_fields": "custom_field_lead",
    "leads": "lead",
    "activities": "activity",
    "tasks": "task",
    "users": "user",
    "event_log": "event",
}


def make_config(emu, start_date: str = "2020-01-01T00:00:00Z", **options) -> Config:
    return Config(
        api_key=emu.api_key,
        start_date=parse_datetime(start_date),
        base_url=emu.base_url,
        **options,
    )


def catalog_of(*streams: str) -> dict:
    """A catalog selecting exactly these streams, every field."""
    entries = []
    for name in ALL_STREAMS:
        selected = name in streams
        entries.append(
            {
                "tap_stream_id": name,
                "stream": name,
                "schema": {"type": "object", "properties": {}},
                "key_properties": ["id"],
                "metadata": [{"breadcrumb": [], "metadata": {"selected": selected}}],
            }
        )
    return {"streams": entries}


@dataclass
class SyncResult:
    messages: list[dict]
    state: dict | None
    error: BaseException | None = None
    requests: list = field(default_factory=list)

    def records(self, stream: str) -> list[dict]:
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def ids(self, stream: str) -> list[str]:
        return [record["id"] for record in self.records(stream)]

    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def last_state(self) -> dict:
        return self.states()[-1]


class CrashingOut(io.StringIO):
    """stdout that dies (like a SIGKILL) after `lines` complete lines."""

    def __init__(self, lines: int | None) -> None:
        super().__init__()
        self.limit = lines

    def write(self, text: str) -> int:
        if self.limit is not None:
            lines = text.splitlines(keepends=True)
            room = self.limit - self.getvalue().count("\n")
            if len(lines) > room:
                super().write("".join(lines[:room]))
                raise KeyboardInterrupt("killed")
        return super().write(text)


def sync(
    emu,
    state: dict | None = None,
    *,
    config: Config | None = None,
    catalog: dict | None = None,
    started: datetime | None = None,
    page_sizes: dict | None = None,
    client=None,
    crash_after: int | None = None,
    expect_error: bool = False,
) -> SyncResult:
    """One run of the tap. With `crash_after`, stdout dies after that many
    lines; with `expect_error`, an exception ends the run and is returned."""
    config = config or make_config(emu)
    client = client or CloseClient(config, sleep=lambda seconds: None)
    out = CrashingOut(crash_after)
    emu.clear_requests()
    final, error = None, None
    try:
        final = run_sync(
            client,
            config,
            catalog,
            state or {},
            sync_started_at=started or emu.now,
            out=out,
            clock=lambda: EXTRACTED,
            page_sizes=page_sizes,
        )
    except (Exception, KeyboardInterrupt) as exc:
        if not (expect_error or crash_after is not None):
            raise
        error = exc
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    return SyncResult(messages, final, error, list(emu.requests))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def seconds(count: float) -> timedelta:
    return timedelta(seconds=count)


class LogLines(logging.Handler):
    """Collects the tap's log lines. NB: singer-python's metrics call
    logging.config.fileConfig on every timer and counter, which strips the
    root logger's handlers (pytest's caplog among them); a handler on the
    tap's own logger survives that."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def tap_logs():
    handler = LogLines()
    logger = logging.getLogger("tap_closeio")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
