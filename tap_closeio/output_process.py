"""Transforming and writing records in a second process, so that a large
sync uses two CPU cores: this one fetches pages and keeps the bookmarks, the
child turns Close objects into RECORD lines and writes them to stdout.

The child (`python -m tap_closeio.output_process`) inherits stdout and reads
the sync loop's calls on Output from its stdin, in order, one frame each: an
8-byte length, then the call in `marshal` form. So STATE still reaches the target only
after every record before it, and killing either process at any point loses
no more than an unfinished page and the STATE after it.

marshal, not JSON, carries the records: it keeps every value exactly as the
tap read it (integers beyond 64 bits, NaN, lone surrogates), and costs a
tenth of transforming and writing them (pickle costs twice what marshal
does). Its format belongs to one Python version: both ends run the same
interpreter. It reads only what marshal wrote, and the frames come only
from the parent, over a pipe of its own making.
"""

import logging
import marshal
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import BinaryIO

from tap_closeio.errors import OutputProcessError
from tap_closeio.output import STOPS, InlineOutput, StopsAfterwards

LOGGER = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")

# The child's exit code when the target closed stdout: the parent then ends
# the run the way it does when it meets the closed pipe itself.
TARGET_GONE = 3

PIPE_BYTES = 1 << 20

_CALLS = ("add_stream", "write_schema", "write_records", "write_state")


class OutputProcess:
    """An Output whose transforming and writing happen in a child process."""

    def __init__(self) -> None:
        # Started by the first call, so a run refused before it writes
        # anything (a bad catalog) logs nothing but its one error line.
        self._child: subprocess.Popen | None = None
        self._pipe: BinaryIO | None = None
        self._closed = False

    def _start(self) -> BinaryIO:
        command = [sys.executable, "-m", "tap_closeio.output_process"]
        # NB: stdout and stderr are inherited: the child writes the Singer
        # stream and its own log lines straight to where this process would.
        self._child = subprocess.Popen(command, stdin=subprocess.PIPE)
        self._pipe = self._child.stdin
        _widen(self._pipe)
        return self._pipe

    def add_stream(self, stream: str, schema: dict, selected: set[str] | None) -> None:
        self._send(("add_stream", stream, schema, selected))

    def write_schema(
        self,
        stream: str,
        schema: dict,
        key_properties: list[str],
        bookmark_properties: list[str] | None = None,
    ) -> None:
        self._send(
            ("write_schema", stream, schema, key_properties, bookmark_properties)
        )

    def write_records(
        self, stream: str, records: list[dict], time_extracted: str
    ) -> int:
        self._send(("write_records", stream, records, time_extracted))
        return len(records)

    def write_state(self, value: dict) -> None:
        self._send(("write_state", value))
        try:
            with StopsAfterwards():
                self._pipe.flush()  # type: ignore[union-attr]  # _send started it
        except BrokenPipeError:
            raise self._failure() from None

    def close(self) -> None:
        """Let the child write all it was given and wait for it to end."""
        if self._closed:
            return
        self._closed = True
        if self._child is None or self._pipe is None:
            return
        try:
            self._pipe.close()
        except BrokenPipeError:
            pass
        code = self._child.wait()
        if code != 0:
            raise self._failure()

    def _send(self, call: tuple) -> None:
        payload = marshal.dumps(call)
        pipe = self._pipe if self._pipe is not None else self._start()
        frame = _LENGTH.pack(len(payload)) + payload
        try:
            # NB: whole or not at all: a frame cut short ends the child.
            with StopsAfterwards():
                pipe.write(frame)
        except BrokenPipeError:
            raise self._failure() from None

    def _failure(self) -> Exception:
        # The child only closes its input by ending, so it is ending now.
        assert self._child is not None
        code = self._child.wait()
        self._closed = True
        if code == TARGET_GONE:
            return BrokenPipeError("the target closed the output")
        how = f"was killed by signal {-code}" if code < 0 else f"exited {code}"
        return OutputProcessError(
            f"The output process (writing the records to stdout) {how} before "
            f"the run ended; a line above says why if it could. The last STATE "
            f"on stdout is safe to resume from (records after it come again). "
            f"output_process false writes from one process instead."
        )


def _widen(pipe: BinaryIO) -> None:
    # A pipe holds 64 KiB, less than one page of leads: each frame would be
    # written in pieces, this process waiting for the child between them.
    # Linux lets a pipe grow to 1 MiB (fs/pipe-max-size); elsewhere, or when
    # refused, the pipe stays as it is and only costs some speed.
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def _log_usage() -> None:
    # What this process cost, for whoever sizes the machine. NB: Linux carries
    # a parent's peak RSS into its child at exec, so ru_maxrss here would
    # report the tap's; VmHWM counts this program's own memory only.
    try:
        import resource
    except ImportError:  # not on Windows
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = _own_peak_kib()
    LOGGER.info(
        "Output process: %.2f CPU seconds, peak RSS %s",
        usage.ru_utime + usage.ru_stime,
        "unknown" if peak is None else f"{peak / 1024:.0f} MiB",
    )


def _own_peak_kib() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def main() -> int:
    """The child: replay the parent's calls on an InlineOutput on stdout."""
    _configure_logging()
    # NB: Ctrl-C reaches the whole process group, and so may a scheduler's
    # SIGTERM; the parent decides what a stop means, then closes this
    # process's input, which ends it cleanly.
    for stop in STOPS:
        signal.signal(stop, signal.SIG_IGN)

    output = InlineOutput(sys.stdout)
    calls = {name: getattr(output, name) for name in _CALLS}
    try:
        for name, *arguments in _calls(sys.stdin.buffer, output.flush):
            calls[name](*arguments)
        output.close()
        _log_usage()
    except BrokenPipeError:
        _silence_stdout()
        return TARGET_GONE
    except Exception as exc:
        LOGGER.critical("Output process: %s: %s", type(exc).__name__, exc)
        return 1
    return 0


def _calls(source: BinaryIO, before_reading: Callable[[], None] = lambda: None):
    while True:
        # NB: flushed before each wait for the parent, so that what is on
        # stdout while this process waits ends on a whole line: killed then,
        # it leaves no half RECORD for the target (CI: a cut line under
        # load). One write more a page costs nothing next to the page.
        before_reading()
        head = source.read(_LENGTH.size)
        if not head:
            return  # the parent closed our input: all is written
        if len(head) < _LENGTH.size:
            raise EOFError("the tap stopped in the middle of a message")
        (size,) = _LENGTH.unpack(head)
        payload = source.read(size)
        if len(payload) < size:
            raise EOFError("the tap stopped in the middle of a message")
        yield marshal.loads(payload)


def _configure_logging() -> None:
    # The same "LEVEL message" lines on stderr as singer-python's logging.conf
    # gives the parent (cli.py), without importing singer (a fifth of a second).
    logging.basicConfig(format="%(levelname)s %(message)s", level=logging.INFO)
    level = os.environ.get("TAP_CLOSEIO_LOG_LEVEL", "").upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        logging.getLogger("tap_closeio").setLevel(level)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
