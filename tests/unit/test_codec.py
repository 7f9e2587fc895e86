"""codec: orjson's speed with the standard library's results."""

import json

import pytest

from tap_closeio import codec

STDLIB_COMPACT = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"a":18446744073709551616}', {"a": 18446744073709551616}),
        (b'{"a":-9223372036854775809}', {"a": -9223372036854775809}),
        (b'{"a":[1234567890123456789]}', {"a": [1234567890123456789]}),
        (b'{"a":"\\u00e9\\ud83d\\ude00"}', {"a": "\u00e9\U0001f600"}),
        (b'{"data":[],"has_more":false}', {"data": [], "has_more": False}),
    ],
)
def test_loads_reads_exactly_what_json_reads(body, expected):
    value = codec.loads(body)

    assert value == expected == json.loads(body)
    assert [type(v) for v in value.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":"\\ud800"}',  # a lone surrogate escape
        b'\xef\xbb\xbf{"a":1}',  # a byte order mark
        b'{"a":1.0e400}',
    ],
)
def test_loads_falls_back_to_json_for_what_orjson_refuses(body):
    assert repr(codec.loads(body)) == repr(json.loads(body))


def test_loads_keeps_nan_as_json_reads_it():
    value = codec.loads(b'{"a":NaN}')["a"]
    assert value != value


@pytest.mark.parametrize("body", [b'{"data":[1,2', b"\xff", b""])
def test_loads_raises_value_error_on_what_is_not_json(body):
    with pytest.raises(ValueError):
        codec.loads(body)


@pytest.mark.parametrize(
    "value",
    [
        {"id": "u", "n": 1.5, "ok": True, "none": None, "list": [1, -2, {}]},
        {"text": 'caf\u00e9 \u2028 \U0001f600 \x00\x1f "quoted" back\\slash /'},
        {"\u00fc": "key not ASCII"},
        {"big": 2**64, "small": -(2**63) - 1},
        {"lone": "\ud800 stays escaped"},
        [],
        "\U0001f600" * 3,
    ],
)
def test_dumps_writes_the_bytes_json_writes_with_ensure_ascii(value):
    text = codec.dumps(value)

    assert text == STDLIB_COMPACT(value)
    assert text.isascii()


def test_dumps_unicode_leaves_non_ascii_text_as_it_is():
    value = {"data": {"name": "J\u00fcrgen \U0001f600"}, "n": 3}

    expected = '{"data":{"name":"J\u00fcrgen \U0001f600"},"n":3}'
    assert codec.dumps_unicode(value) == expected
    # As json writes it; codec.dumps escapes it when the RECORD is written.
    lone = {"lone": "\ud800"}
    assert codec.dumps_unicode(lone) == '{"lone":"\ud800"}'
    assert codec.dumps({"data": codec.dumps_unicode(lone)}) == (
        '{"data":"{\\"lone\\":\\"\\ud800\\"}"}'
    )


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_written_as_null_by_either_writer(number):
    # orjson writes null; json would write NaN, which strict readers refuse.
    # A lone surrogate or an integer beyond 64 bits sends a record to json.
    plain = {"n": number, "list": [number]}
    to_json = {"n": number, "list": [number], "big": 2**64, "lone": "\ud800"}

    assert codec.dumps(plain) == '{"n":null,"list":[null]}'
    assert codec.dumps(to_json) == (
        '{"n":null,"list":[null],"big":18446744073709551616,"lone":"\\ud800"}'
    )
    assert codec.dumps_unicode(to_json) == (
        '{"n":null,"list":[null],"big":18446744073709551616,"lone":"\ud800"}'
    )


def test_a_float_subclass_that_is_not_finite_is_written_as_null():
    # orjson refuses float subclasses, so json writes them, NaN included.
    class Measured(float):
        pass

    value = {"n": Measured("nan"), "x": Measured(1.5), "inf": [Measured("-inf")]}

    assert codec.dumps(value) == '{"n":null,"x":1.5,"inf":[null]}'
    assert codec.dumps_unicode(value) == '{"n":null,"x":1.5,"inf":[null]}'
