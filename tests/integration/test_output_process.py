"""output_process: records transformed and written by a child process.

The real command against the emulator over real sockets: the same output
from one process as from two, exact values across the pipe between them,
the child killed mid-run, the target gone, Ctrl-C, a failing API; then the
child (`python -m tap_closeio.output_process`) on its own, and its frame
reader on bytes in memory."""

import io
import json
import marshal
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tap_closeio.output import InlineOutput
from tap_closeio.output_process import _LENGTH, TARGET_GONE, _calls
from tap_closeio.sync import REPLICATION_KEYS
from tap_closeio.timeutil import parse_datetime

NOW = "2024-05-01T12:00:00+00:00"
KEY = "api_OUTPUTPROC_5ecr3t_77a1"
BIG = 123456789012345678901234
TAP = [sys.executable, "-m", "tap_closeio.cli"]
CHILD = [sys.executable, "-m", "tap_closeio.output_process"]
INTERRUPTED = "CRITICAL Interrupted; the last STATE on stdout is safe to resume from"
USAGE = re.compile(r"INFO Output process: \d+\.\d\d CPU seconds, peak RSS \d+ MiB")
RECORD = re.compile(r'(\{"type":"RECORD",.*),"time_extracted":"[^"]*"\}')
CUT = "the tap stopped in the middle of a message"
# stream -> emulator kind, for the streams whose every record a sync reads
KINDS = {"leads": "lead", "tasks": "task", "users": "user"}


# --- running the command ------------------------------------------------------


def tap_env(emu, output_process: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAP_CLOSEIO_")}
    return {
        **clean,
        "TAP_CLOSEIO_API_KEY": KEY,
        "TAP_CLOSEIO_START_DATE": "2020-01-01",
        "TAP_CLOSEIO_BASE_URL": emu.base_url,
        "TAP_CLOSEIO_OUTPUT_PROCESS": output_process,
    }


def run_tap(emu, output_process: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        TAP,
        env=tap_env(emu, output_process),
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_tap(emu, output_process: str, stderr_path: Path, **popen):
    # NB: stderr goes to a file: a pipe nobody drains while the test reads
    # stdout would stop the tap once it filled.
    with open(stderr_path, "w") as stderr:
        return subprocess.Popen(
            TAP,
            env=tap_env(emu, output_process),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            **popen,
        )


def read_records(stdout, count: int) -> str:
    """Lines from `stdout` up to and including the `count`-th RECORD."""
    lines, seen = [], 0
    while seen < count:
        line = stdout.readline()
        assert line, "the tap ended before writing enough records"
        lines.append(line)
        seen += line.startswith('{"type":"RECORD"')
    return "".join(lines)


def draining(stdout) -> Callable[[], str]:
    """Read `stdout` to its end in a thread; the returned call waits for
    that end and gives what was read."""
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(stdout.read()))
    reader.start()

    def rest() -> str:
        reader.join(timeout=30)
        assert not reader.is_alive(), "stdout never ended"
        return "".join(chunks)

    return rest


def finish(tap: subprocess.Popen, head: str) -> str:
    """Everything the tap wrote (`head` already read); waits for it to end."""
    try:
        text = head + tap.stdout.read()
        tap.wait(timeout=30)
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.wait()
    return text


# --- reading its output ---------------------------------------------------------


def messages(stdout: str) -> list[dict]:
    """Every line parsed; fails on a line cut short."""
    assert stdout.endswith("\n"), f"the last line is cut: {stdout[-120:]!r}"
    return [json.loads(line) for line in stdout.splitlines()]


def records_without_time(stdout: str) -> list[str]:
    """The RECORD lines as written, minus time_extracted, sorted."""
    texts = []
    for line in stdout.splitlines():
        if line.startswith('{"type":"RECORD"'):
            match = RECORD.fullmatch(line)
            assert match, line[-200:]
            texts.append(match.group(1) + "}")
    return sorted(texts)


def lines_of(stdout: str, kind: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(kind)]


def critical_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CRITICAL" in line]


def assert_states_trail_their_records(output: list[dict]) -> None:
    """No STATE's bookmark for a stream is later than the newest record of
    that stream written before it."""
    newest: dict[str, object] = {}
    for message in output:
        if message["type"] == "RECORD":
            stream = message["stream"]
            moment = parse_datetime(message["record"][REPLICATION_KEYS[stream]])
            if stream not in newest or moment > newest[stream]:
                newest[stream] = moment
        elif message["type"] == "STATE":
            for stream, entry in message["value"]["bookmarks"].items():
                bookmark = parse_datetime(entry[REPLICATION_KEYS[stream]])
                assert stream in newest, (stream, entry)
                assert bookmark <= newest[stream], (stream, entry, newest[stream])


# --- watching the processes -------------------------------------------------------


def output_process_of(pid: int) -> int:
    """The pid of the tap's output process (the child of `pid` running
    tap_closeio.output_process)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            if parent == pid and b"tap_closeio.output_process" in cmdline:
                return int(entry.name)
        time.sleep(0.01)
    raise AssertionError(f"process {pid} has no output process")


def wait_until_blocked(pid: int, accept) -> bool:
    """Wait (at most 5 s) until the main thread of `pid` sleeps in a kernel
    function `accept` takes (from /proc/PID/wchan); False if it never did."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            wchan = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            return False
        if wchan not in ("", "0") and accept(wchan):
            return True
        time.sleep(0.005)
    return False


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"


# --- the same output either way -----------------------------------------------------


def test_one_process_and_two_write_the_same_messages(emulator_factory):
    emu = emulator_factory(seed=5, size="tiny", now=NOW, api_key=KEY)

    two = run_tap(emu, "true")
    one = run_tap(emu, "false")

    assert (two.returncode, one.returncode) == (0, 0), two.stderr + one.stderr
    assert records_without_time(two.stdout) == records_without_time(one.stdout)
    assert lines_of(two.stdout, '{"type":"SCHEMA"') == lines_of(
        one.stdout, '{"type":"SCHEMA"'
    )
    assert two.stdout.splitlines()[-1] == one.stdout.splitlines()[-1]

    output = messages(two.stdout)
    final = output[-1]
    assert final["type"] == "STATE"
    assert final["value"]["currently_syncing"] is None
    assert set(final["value"]["bookmarks"]) == set(REPLICATION_KEYS)
    assert [m["stream"] for m in output if m["type"] == "SCHEMA"] == list(
        REPLICATION_KEYS
    )
    written = Counter(m["stream"] for m in output if m["type"] == "RECORD")
    for stream, kind in KINDS.items():
        assert written[stream] == len(emu.objects(kind)), stream
    assert_states_trail_their_records(output)
    assert_states_trail_their_records(messages(one.stdout))

    # The child reports what it cost, once; one process has no such line.
    assert len([line for line in two.stderr.splitlines() if USAGE.fullmatch(line)]) == 1
    assert "Output process" not in one.stderr
    assert critical_lines(two.stderr) == critical_lines(one.stderr) == []


def test_exact_values_cross_the_process_boundary_unchanged(emulator_factory):
    emu = emulator_factory(seed=5, size="tiny", now=NOW, api_key=KEY)
    user = emu.add(
        "user",
        {
            "first_name": "Zoë",
            "last_name": "Ångström 漢字",
            "email": "🚀👩‍💻@example.test",
            "big": BIG,
            "negative_big": -BIG,
            "lone_surrogate": "a\ud800b",
        },
    )
    lead = emu.add(
        "lead",
        {
            "name": "Zoë 🚀",
            "display_name": "Ångström 漢字",
            "custom.cf_big": BIG,
            "contacts": [],
            "opportunities": [],
            "tasks": [],
        },
    )
    ids = (user["id"], lead["id"])

    two = run_tap(emu, "true")
    one = run_tap(emu, "false")

    assert (two.returncode, one.returncode) == (0, 0), two.stderr + one.stderr
    mine = [
        [
            text
            for text in records_without_time(result.stdout)
            if any(i in text for i in ids)
        ]
        for result in (two, one)
    ]
    assert mine[0] == mine[1]
    # The user, the lead, and the lead's `created` event.
    assert sorted(json.loads(text)["stream"] for text in mine[0]) == [
        "event_log",
        "leads",
        "users",
    ]
    for text in mine[0]:
        assert text.isascii()
        assert str(BIG) in text

    records = {
        json.loads(text)["stream"]: json.loads(text)["record"] for text in mine[0]
    }
    written = records["users"]
    assert written["big"] == BIG and type(written["big"]) is int
    assert written["negative_big"] == -BIG
    assert written["first_name"] == "Zoë"
    assert written["last_name"] == "Ångström 漢字"
    assert written["email"] == "🚀👩‍💻@example.test"
    assert written["lone_surrogate"] == "a\ud800b"
    assert records["leads"]["name"] == "Zoë 🚀"
    assert records["leads"]["display_name"] == "Ångström 漢字"
    data = json.loads(records["event_log"]["data"])
    assert data["custom.cf_big"] == BIG
    assert data["name"] == "Zoë 🚀"


# --- the child stops ------------------------------------------------------------------


def test_a_killed_output_process_ends_the_run_with_one_critical_line(
    emulator_factory, tmp_path
):
    emu = emulator_factory(seed=5, size="small", now=NOW, api_key=KEY, latency=0.05)
    tap = start_tap(emu, "true", tmp_path / "stderr.txt")

    head = read_records(tap.stdout, 1)
    child = output_process_of(tap.pid)
    # Read on, so that the child never waits for room on stdout; killed
    # while it waits for the next page, not in the middle of a write.
    rest = draining(tap.stdout)
    assert wait_until_blocked(child, lambda wchan: "pipe_read" in wchan)
    os.kill(child, signal.SIGKILL)
    tap.wait(timeout=30)
    stdout = head + rest()
    stderr = (tmp_path / "stderr.txt").read_text()

    assert tap.returncode == 1
    (critical,) = critical_lines(stderr)
    assert critical.startswith("CRITICAL The output process (writing the records")
    assert "was killed by signal 9" in critical
    assert "output_process false writes from one process" in critical
    assert "Traceback" not in stderr
    assert KEY not in stderr and KEY not in stdout
    output = messages(stdout)
    assert_states_trail_their_records(output)
    # The run stopped there, long before the end.
    assert sum(m["type"] == "RECORD" for m in output) < len(emu.objects("lead"))
    assert not USAGE.search(stderr)


def test_a_closed_stdout_ends_both_processes_with_one_error_line(
    emulator_factory, tmp_path
):
    # A sync's output is far larger than the pipes between the processes, so
    # the child is still writing when the reader goes away.
    emu = emulator_factory(seed=5, size="small", now=NOW, api_key=KEY)
    tap = start_tap(emu, "true", tmp_path / "stderr.txt")

    assert tap.stdout.buffer.raw.read(10)
    child = output_process_of(tap.pid)
    tap.stdout.close()  # like `| head -c 10`
    tap.wait(timeout=60)
    stderr = (tmp_path / "stderr.txt").read_text()

    assert tap.returncode == 1
    assert gone(child)
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr
    assert "CRITICAL" not in stderr
    assert "utput process" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("ERROR")] == [
        "ERROR Stopped: stdout was closed by the program reading it (the target "
        "ended). Its last saved STATE is safe to resume from."
    ]


def test_a_failing_api_leaves_every_record_before_it_written(emulator_factory):
    emu = emulator_factory(seed=5, size="tiny", now=NOW, api_key=KEY)
    emu.add_fault(
        "/api/v1/task/", kind="status", status=400, body={"error": "nope"}, times=None
    )

    two = run_tap(emu, "true")
    one = run_tap(emu, "false")

    assert (two.returncode, one.returncode) == (1, 1)
    expected = ["CRITICAL Close answered HTTP 400 on GET /task/: nope"]
    assert critical_lines(two.stderr) == critical_lines(one.stderr) == expected
    assert records_without_time(two.stdout) == records_without_time(one.stdout)
    output = messages(two.stdout)
    assert [m["stream"] for m in output if m["type"] == "SCHEMA"] == [
        "custom_fields",
        "leads",
        "activities",
        "tasks",
    ]
    written = Counter(m["stream"] for m in output if m["type"] == "RECORD")
    assert written["leads"] == len(emu.objects("lead"))
    assert written["tasks"] == 0
    states = [m for m in output if m["type"] == "STATE"]
    assert states[-1] == [m for m in messages(one.stdout) if m["type"] == "STATE"][-1]
    assert states[-1]["value"]["currently_syncing"] == "tasks"
    assert output[-1]["type"] == "SCHEMA" and output[-1]["stream"] == "tasks"


# --- Ctrl-C ---------------------------------------------------------------------------


STOPPED = {
    signal.SIGINT: (130, INTERRUPTED),
    signal.SIGTERM: (
        143,
        "CRITICAL Terminated (SIGTERM); the last STATE on stdout is safe to "
        "resume from",
    ),
}


@pytest.mark.parametrize("stop", STOPPED, ids=lambda stop: stop.name)
def test_a_stop_lets_the_output_process_write_what_it_was_given(
    emulator_factory, tmp_path, stop
):
    emu = emulator_factory(seed=5, size="small", now=NOW, api_key=KEY, latency=0.1)
    tap = start_tap(emu, "true", tmp_path / "stderr.txt", start_new_session=True)

    head = read_records(tap.stdout, 30)
    child = output_process_of(tap.pid)
    # Interrupted while it waits for Close, as a person at the keyboard
    # almost always does (see the next test for the other case).
    wait_until_blocked(tap.pid, lambda wchan: "pipe" not in wchan)
    os.killpg(tap.pid, stop)  # Ctrl-C reaches the whole group; so may SIGTERM
    stdout = finish(tap, head)
    stderr = (tmp_path / "stderr.txt").read_text()

    code, line = STOPPED[stop]
    assert tap.returncode == code
    assert critical_lines(stderr) == [line]
    assert stderr.splitlines()[-1] == line
    assert "Traceback" not in stderr
    assert gone(child)
    output = messages(stdout)
    assert sum(m["type"] == "RECORD" for m in output) >= 30
    assert_states_trail_their_records(output)


@pytest.mark.parametrize("stop", STOPPED, ids=lambda stop: stop.name)
@pytest.mark.parametrize("output_process", ["true", "false"])
def test_a_stop_while_the_target_reads_slowly_still_ends_cleanly(
    emulator_factory, tmp_path, output_process, stop
):
    emu = emulator_factory(seed=5, size="small", now=NOW, api_key=KEY)
    # NB: three tries, each a Ctrl-C while the tap is blocked inside a write:
    # before output.StopsAfterwards, each cut the write short.
    for attempt in range(3):
        stderr_path = tmp_path / f"stderr{attempt}.txt"
        tap = start_tap(emu, output_process, stderr_path, start_new_session=True)

        head = read_records(tap.stdout, 1)
        # The test stops reading, as a slow target does, until the tap waits
        # to write more.
        if not wait_until_blocked(tap.pid, lambda wchan: "pipe_write" in wchan):
            tap.kill()
            finish(tap, head)
            pytest.skip("cannot see the tap wait on a full pipe (/proc/PID/wchan)")
        os.killpg(tap.pid, stop)
        stdout = finish(tap, head)
        stderr = stderr_path.read_text()

        code, line = STOPPED[stop]
        assert tap.returncode == code
        assert stdout.endswith("\n"), stdout[-120:]
        assert critical_lines(stderr) == [line]
        assert_states_trail_their_records(messages(stdout))


CLOSE_AFTER_FAILURE = """
import sys
from tap_closeio import cli
from tap_closeio.output import InlineOutput

output = InlineOutput(sys.stdout)
output.add_stream("users", {"type": "object", "properties": {}}, None)
output.write_records("users", [{"id": "user_1"}], "2024-05-01T00:00:00.000000Z")
cli._close_after_failure(output)
sys.exit(143)
"""


def test_closing_after_a_failure_with_the_target_gone_keeps_the_exit_code():
    # A scheduler stopping the whole pipeline: the target is gone, and the
    # tap, stopped too, has records in its stdout buffer it cannot write.
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, "-c", CLOSE_AFTER_FAILURE],
            # Buffered, as stdout is on a pipe unless this is set.
            env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
            stdout=write,
            capture_output=False,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)

    # Not 120 with "Exception ignored ... BrokenPipeError" from the
    # interpreter's own flush at exit.
    assert (result.returncode, result.stderr) == (143, "")


# --- the child on its own -------------------------------------------------------------

CALLS = [
    ("add_stream", "users", {"type": "object", "properties": {}}, None),
    ("write_schema", "users", {"type": "object"}, ["id"], ["date_updated"]),
    (
        "write_records",
        "users",
        [
            {"id": "user_1", "big": BIG, "name": "Zoë 🚀", "lone": "\ud800"},
            {"id": "user_2", "nested": {"list": [1, 2.5, None, True, ""]}},
        ],
        "2024-05-01T12:00:00.000000Z",
    ),
    ("write_state", {"bookmarks": {"users": {"date_updated": "2024-05-01"}}}),
    ("write_records", "users", [], "2024-05-01T12:00:01.000000Z"),
    ("add_stream", "custom_fields", {"type": "object"}, {"id", "name"}),
    ("write_state", {"currently_syncing": None, "bookmarks": {}}),
]


def frame(call: tuple) -> bytes:
    # The wire format (output_process.py): an 8-byte length, then marshal.
    payload = marshal.dumps(call)
    return _LENGTH.pack(len(payload)) + payload


def inline_text(calls) -> str:
    """What InlineOutput in this process writes for `calls`."""
    out = io.StringIO()
    output = InlineOutput(out)
    for name, *arguments in calls:
        getattr(output, name)(*arguments)
    output.close()
    return out.getvalue()


def test_frames_come_back_as_the_calls_they_carry():
    stream = io.BytesIO(b"".join(frame(call) for call in CALLS))

    assert list(_calls(stream)) == CALLS


def test_stdout_is_flushed_before_each_wait_for_a_frame():
    events = []
    stream = io.BytesIO(b"".join(frame(call) for call in CALLS[:2]))

    for call in _calls(stream, lambda: events.append("flush")):
        events.append(call)

    assert events == ["flush", CALLS[0], "flush", CALLS[1], "flush"]


def test_no_input_is_no_calls():
    assert list(_calls(io.BytesIO(b""))) == []


@pytest.mark.parametrize("keep", [1, 7], ids=["header-1-byte", "header-7-bytes"])
def test_a_cut_header_is_an_eof_error_after_the_whole_frames(keep):
    calls = _calls(io.BytesIO(frame(CALLS[0]) + frame(CALLS[1])[:keep]))

    assert next(calls) == CALLS[0]
    with pytest.raises(EOFError, match=CUT):
        next(calls)


@pytest.mark.parametrize("cut", [1, 40], ids=["payload-short-1", "payload-short-40"])
def test_a_cut_payload_is_an_eof_error_after_the_whole_frames(cut):
    calls = _calls(io.BytesIO(frame(CALLS[0]) + frame(CALLS[2])[:-cut]))

    assert next(calls) == CALLS[0]
    with pytest.raises(EOFError, match=CUT):
        next(calls)


def test_a_header_alone_is_an_eof_error():
    with pytest.raises(EOFError, match=CUT):
        list(_calls(io.BytesIO(frame(CALLS[3])[: _LENGTH.size])))


def child_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_CLOSEIO_")}


def test_the_child_writes_what_one_process_writes():
    result = subprocess.run(
        CHILD,
        input=b"".join(frame(call) for call in CALLS),
        env=child_env(),
        capture_output=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("ascii") == inline_text(CALLS)
    (line,) = result.stderr.decode().splitlines()
    assert USAGE.fullmatch(line)


def test_a_child_given_a_cut_frame_writes_the_whole_ones_and_says_so():
    whole = CALLS[:4]
    data = b"".join(frame(call) for call in whole) + frame(CALLS[6])[:-3]

    result = subprocess.run(
        CHILD, input=data, env=child_env(), capture_output=True, timeout=30
    )

    assert result.returncode == 1
    assert result.stdout.decode("ascii") == inline_text(whole)
    assert result.stderr.decode().splitlines() == [
        f"CRITICAL Output process: EOFError: {CUT}"
    ]


def start_child() -> subprocess.Popen:
    return subprocess.Popen(
        CHILD,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )


def test_a_child_whose_target_left_exits_target_gone():
    child = start_child()
    child.stdout.close()  # the target is gone before anything is written

    _, stderr = child.communicate(b"".join(frame(call) for call in CALLS), timeout=30)

    assert child.returncode == TARGET_GONE == 3
    assert stderr == b""


def test_the_child_ignores_ctrl_c_and_writes_all_it_is_given():
    child = start_child()
    try:
        child.stdin.write(b"".join(frame(call) for call in CALLS[:3]))
        child.stdin.flush()
        # Reading its input means it has set SIGINT aside already.
        assert wait_until_blocked(child.pid, lambda wchan: "pipe_read" in wchan)
        child.send_signal(signal.SIGINT)
        time.sleep(0.1)
        assert child.poll() is None
        stdout, stderr = child.communicate(
            b"".join(frame(call) for call in CALLS[3:]), timeout=30
        )
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert child.returncode == 0, stderr
    assert stdout.decode("ascii") == inline_text(CALLS)
