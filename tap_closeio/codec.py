"""JSON in and out: orjson where it gives the same result as the standard
library, the standard library where it would not.

Reading Close's pages and writing RECORD lines were the largest CPU costs of
a sync (bench/RESULTS.md); orjson does both several times faster. Its
differences are handled here, so that the output is what `json` would give:

- it reads integers beyond 64 bits as floats, losing digits: a body with a
  run of 19 digits or more is read by `json`, which keeps them exact;
- it refuses some bodies `json` reads (lone surrogate escapes, NaN, a byte
  order mark): those are read by `json` too;
- it writes UTF-8 where singer-python writes ASCII with \\u escapes, which
  targets on any locale read the same: non-ASCII text is escaped here;
- it cannot write a lone surrogate or an integer beyond 64 bits: such a
  value is written by `json`;
- it writes NaN and the infinities as null, where `json` writes NaN, which
  strict JSON readers refuse: the values `json` writes get null there too,
  so a RECORD does not depend on which of the two wrote it.
"""

import codecs
import json
import math
from json.encoder import encode_basestring_ascii as _escape_ascii
from typing import Any

import orjson

# A run of 19 digits: the shortest integer that may not fit in 64 bits is
# -9223372036854775809. Digits inside strings (phone numbers, ids) count too
# and only cost the slower reader. NB: found by mapping every digit to "0"
# and everything else to a space, then a substring search: a third of
# orjson's own time per page, where a regular expression took six times it.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_WIDE_NUMBER = b"0" * 19

_ASCII_ERRORS = "tap_closeio.json_escape"

_json_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def loads(data: bytes) -> Any:
    """The JSON value in `data`, exactly as `json.loads` reads it; raises
    ValueError when it is not JSON."""
    if _WIDE_NUMBER not in data.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps(value: Any) -> str:
    """`value` as compact JSON text in ASCII, as singer-python writes it."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _json_encode(_finite(value))
    if text.isascii():
        return text
    return text.encode("ascii", _ASCII_ERRORS).decode("ascii")


def dumps_unicode(value: Any) -> str:
    """`value` as compact JSON text, non-ASCII characters left as they are."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(_finite(value), separators=(",", ":"), ensure_ascii=False)


def _finite(value: Any) -> Any:
    """`value` with NaN and the infinities as None, as orjson writes them.
    Only on the way to `json`, which a value orjson cannot write takes."""
    # Subclasses too: orjson refuses a float subclass, so they all land here.
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _escape(error: UnicodeError) -> tuple[str, int]:
    # Called once per run of non-ASCII characters, which in JSON text stand
    # only inside strings, so none needs more than json's own \uXXXX escape
    # (a surrogate pair above U+FFFF).
    if not isinstance(error, UnicodeEncodeError):
        raise error
    run = error.object[error.start : error.end]
    return _escape_ascii(run)[1:-1], error.end


codecs.register_error(_ASCII_ERRORS, _escape)
