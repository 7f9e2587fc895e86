"""Singer messages: exact bytes, singer-python's shapes, flushing at STATE."""

import io
import json
from datetime import datetime, timezone

import pytest
import singer

from tap_closeio.output import SingerWriter

STAMP = "2024-04-30T10:00:05.000000Z"


class Recorder(io.StringIO):
    """A stream that notes what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[str] = []

    def flush(self) -> None:
        self.flushed_at.append(self.getvalue())


def test_record_line_is_compact_json_in_singer_key_order():
    out = io.StringIO()
    SingerWriter(out).write_records("users", [{"id": "u", "n": 1.5}], STAMP)

    assert out.getvalue() == (
        '{"type":"RECORD","stream":"users","record":{"id":"u","n":1.5},'
        '"time_extracted":"2024-04-30T10:00:05.000000Z"}\n'
    )


def test_messages_match_singer_python():
    out = io.StringIO()
    writer = SingerWriter(out)
    schema = {"type": "object", "properties": {"id": {"type": "string"}}}
    writer.write_schema("users", schema, ["id"], ["date_updated"])
    writer.write_records("users", [{"id": "ü"}], STAMP)
    writer.write_state({"bookmarks": {}})

    extracted = datetime(2024, 4, 30, 10, 0, 5, tzinfo=timezone.utc)
    expected = [
        singer.SchemaMessage("users", schema, ["id"], ["date_updated"]),
        singer.RecordMessage("users", {"id": "ü"}, time_extracted=extracted),
        singer.StateMessage({"bookmarks": {}}),
    ]
    lines = out.getvalue().splitlines()
    for line, message in zip(lines, expected, strict=True):
        theirs = json.loads(singer.format_message(message))
        ours = json.loads(line)
        assert ours == theirs
        assert list(ours) == list(theirs)
    assert all(line.isascii() for line in lines)


def test_records_reach_the_stream_no_later_than_the_state_covering_them():
    out = Recorder()
    writer = SingerWriter(out)
    writer.write_records("users", [{"id": "a"}, {"id": "b"}], STAMP)
    assert out.flushed_at == []

    writer.write_state({"x": 1})
    assert len(out.flushed_at) == 1
    assert out.flushed_at[0].count('"type":"RECORD"') == 2
    assert out.flushed_at[0].endswith('{"type":"STATE","value":{"x":1}}\n')


def test_broken_pipe_reaches_the_caller():
    class Closed(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError

    with pytest.raises(BrokenPipeError):
        SingerWriter(Closed()).write_state({})
