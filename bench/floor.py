"""The floor: the least work any tap must do for the same sync. It replays the
requests the new tap made, parses each body with the tap's own JSON reader
(orjson, codec.py) and writes the new tap's output bytes; nothing else. With
`"encode": true` in the plan it also encodes each object as a RECORD line
with the tap's JSON writer instead of copying the tap's bytes; with
`"transform": true` as well, it first turns each object into the tap's record
with the tap's own transform, so it computes the tap's exact output in a
straight line: no paging logic, threads of its own, state or requests library.
Run as a child: `python floor.py PLAN.json`."""

import base64
import http.client
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import urlsplit

from tap_closeio.schemas import load_schema

from tap_closeio.codec import dumps, loads
from tap_closeio.timeutil import format_bookmark
from tap_closeio.transform import make_transformer

# The endpoint each stream reads, as the new tap asks for it.
STREAM_OF_PATH = {
    "/api/v1/activity/": "activities",
    "/api/v1/custom_field/lead/": "custom_fields",
    "/api/v1/event/": "event_log",
    "/api/v1/lead/": "leads",
    "/api/v1/task/": "tasks",
    "/api/v1/user/": "users",
}
TRANSFORMS = {
    stream: make_transformer(stream, load_schema(stream), None)
    for stream in STREAM_OF_PATH.values()
}

_local = threading.local()


def _connection(host: str, port: int) -> http.client.HTTPConnection:
    # One keep-alive connection per worker thread, as a pooled client would.
    if getattr(_local, "connection", None) is None:
        _local.connection = http.client.HTTPConnection(host, port, timeout=60)
    return _local.connection


def _fetch(plan: dict, request: dict) -> int | bytes:
    """Send one logged request; return how many objects its body held, or
    with `encode` in the plan, those objects as RECORD lines."""
    split = urlsplit(plan["base_url"])
    connection = _connection(split.hostname, split.port)
    body = request.get("body")
    payload = None if body is None else json.dumps(body).encode()
    connection.request(request["method"], request["target"], payload, plan["headers"])
    response = connection.getresponse()
    data = loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"{request['method']} {request['target']} -> {data}")
    if not plan.get("encode"):
        return len(data.get("data") or ())
    records = data.get("data") or ()
    path = request["target"].split("?", 1)[0]
    stream = STREAM_OF_PATH.get(path, path)
    if plan.get("transform"):
        records = map(TRANSFORMS[stream], records)
    stamp = format_bookmark(datetime.now(timezone.utc))
    lines = [
        dumps(
            {
                "type": "RECORD",
                "stream": stream,
                "record": record,
                "time_extracted": stamp,
            }
        )
        for record in records
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def main(plan_path: str) -> int:
    with open(plan_path) as handle:
        plan = json.load(handle)
    token = base64.b64encode(f"{plan['api_key']}:".encode()).decode()
    plan["headers"] = {"Authorization": "Basic " + token}
    requests = plan["requests"]

    out = sys.stdout.buffer
    if plan.get("encode"):
        return _encode_all(plan, requests, out)

    # Write the tap's bytes in even slices as pages arrive, so output and
    # fetching interleave as they do in the tap.
    with open(plan["output"], "rb") as source:
        total = source.seek(0, 2)
        source.seek(0)
        per_page = total // max(len(requests), 1) + 1
        with ThreadPoolExecutor(plan["concurrency"]) as pool:
            objects = 0
            for count in pool.map(lambda r: _fetch(plan, r), requests):
                objects += count
                out.write(source.read(per_page))
        out.write(source.read())
    out.flush()
    print(f"floor: {len(requests)} requests, {objects} objects", file=sys.stderr)
    return 0


def _encode_all(plan: dict, requests: list[dict], out: object) -> int:
    """The floor plus serialising: each object re-encoded as a RECORD line
    (no transform), the one step no tap can skip."""
    with ThreadPoolExecutor(plan["concurrency"]) as pool:
        for chunk in pool.map(lambda r: _fetch(plan, r), requests):
            out.write(chunk)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
