"""Writing Singer messages to stdout: one JSON line each, buffered, flushed at
every STATE so a STATE never reaches the target before the records it covers.

Two layers: `SingerWriter` writes messages it is given; an `Output` also
turns Close objects into RECORDs (transform.py) on the way. `InlineOutput`
does that in this process; `output_process.OutputProcess` hands it to a
second process, so that a large sync uses two CPU cores.

Main-thread-only by design: worker threads fetch pages, and only the sync
loop on the main thread writes. Nothing here takes a lock.
"""

import signal
import sys
import threading
from collections.abc import Iterable
from typing import Protocol, TextIO

from tap_closeio.codec import dumps as _dumps
from tap_closeio.transform import Transformer, make_transformer

# NB: singer-python's write_message uses simplejson and flushes every line,
# which is about half the speed of stdlib json with a buffered stream, and a
# tenth of orjson's (codec.py). The message shapes (key order included) and
# the ASCII text are the ones singer-python writes.


class StopsAfterwards:
    """Within it, a stop (Ctrl-C's SIGINT, or the SIGTERM a scheduler sends)
    takes effect only once the block is done.

    NB: a signal that lands inside a large write to a pipe cuts it short,
    and Python's buffered writer then drops the rest of the text, even when
    the handler does not raise (seen with CPython 3.11: 64 KiB of 2 MB
    written). That would leave half a line on stdout, or half a frame on the
    output process's pipe. So both are blocked in this thread for the
    write: the kernel holds them (or hands them to another thread, whose
    handler only notes them) and Python raises right after. Against a
    target that reads slowly, a stop lands inside a write more often than
    not. Where threads cannot mask signals (Windows), this changes nothing."""

    def __enter__(self) -> None:
        self._previous = None
        if _CAN_MASK and threading.current_thread() is threading.main_thread():
            self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)

    def __exit__(self, *_exc: object) -> None:
        if self._previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)


_CAN_MASK = hasattr(signal, "pthread_sigmask")
STOPS = {signal.SIGINT, signal.SIGTERM}


class SingerWriter:
    """Writes SCHEMA, RECORD and STATE messages to a text stream."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._record_heads: dict[str, str] = {}

    def write_schema(
        self,
        stream: str,
        schema: dict,
        key_properties: list[str],
        bookmark_properties: list[str] | None = None,
    ) -> None:
        message = {
            "type": "SCHEMA",
            "stream": stream,
            "schema": schema,
            "key_properties": key_properties,
        }
        if bookmark_properties is not None:
            message["bookmark_properties"] = bookmark_properties
        self._write(_dumps(message) + "\n")

    def write_records(
        self, stream: str, records: Iterable[dict], time_extracted: str
    ) -> int:
        """Write one RECORD per record, all with the same time_extracted (the
        moment their page arrived); returns how many were written."""
        head = self._record_head(stream)
        tail = ',"time_extracted":' + _dumps(time_extracted) + "}\n"
        lines = [head + _dumps(record) + tail for record in records]
        self._write("".join(lines))
        return len(lines)

    def write_state(self, value: dict) -> None:
        self._write(_dumps({"type": "STATE", "value": value}) + "\n")
        self.flush()

    def flush(self) -> None:
        # BrokenPipeError (the target went away) propagates to the CLI.
        with StopsAfterwards():
            self._out.flush()

    def _write(self, text: str) -> None:
        with StopsAfterwards():
            self._out.write(text)

    def _record_head(self, stream: str) -> str:
        head = self._record_heads.get(stream)
        if head is None:
            head = '{"type":"RECORD","stream":' + _dumps(stream) + ',"record":'
            self._record_heads[stream] = head
        return head


class Output(Protocol):
    """Where the sync loop sends its messages, in the order they must reach
    the target. Records go in as Close sent them, transformed on the way."""

    def add_stream(self, stream: str, schema: dict, selected: set[str] | None) -> None:
        """Ready the transform of `stream`'s records (see make_transformer)."""

    def write_schema(
        self,
        stream: str,
        schema: dict,
        key_properties: list[str],
        bookmark_properties: list[str] | None = None,
    ) -> None: ...

    def write_records(
        self, stream: str, records: list[dict], time_extracted: str
    ) -> int:
        """Transform and write `records`; returns how many."""

    def write_state(self, value: dict) -> None: ...

    def close(self) -> None:
        """Everything written reaches stdout; raises if it could not."""


class InlineOutput:
    """An Output that transforms and writes in this process."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._writer = SingerWriter(out)
        self._transforms: dict[str, Transformer] = {}

    def add_stream(self, stream: str, schema: dict, selected: set[str] | None) -> None:
        self._transforms[stream] = make_transformer(stream, schema, selected)

    def write_schema(
        self,
        stream: str,
        schema: dict,
        key_properties: list[str],
        bookmark_properties: list[str] | None = None,
    ) -> None:
        self._writer.write_schema(stream, schema, key_properties, bookmark_properties)

    def write_records(
        self, stream: str, records: list[dict], time_extracted: str
    ) -> int:
        transform = self._transforms[stream]
        return self._writer.write_records(
            stream, map(transform, records), time_extracted
        )

    def write_state(self, value: dict) -> None:
        self._writer.write_state(value)

    def flush(self) -> None:
        """Everything written so far reaches stdout."""
        self._writer.flush()

    def close(self) -> None:
        self.flush()
