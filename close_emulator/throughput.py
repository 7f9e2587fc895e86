"""Prints how fast one client can page through an offset-paged list of the
emulator (not a test): python -m close_emulator.throughput [size] [path]."""

import base64
import http.client
import json
import sys
import time

from close_emulator import Emulator


def measure(emu: Emulator, path: str, parse: bool, limit: int = 100) -> tuple:
    """Page through `path` with one kept-alive connection: (records, seconds).
    With `parse` every page is decoded as a client would; without, only the
    last one (the server's own speed)."""
    auth = "Basic " + base64.b64encode(f"{emu.api_key}:".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", emu.port)
    records, skip, started = 0, 0, time.perf_counter()
    while True:
        url = f"/api/v1/{path}?_skip={skip}&_limit={limit}"
        conn.request("GET", url, headers={"Authorization": auth})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"{url}: HTTP {response.status} {body[:200]!r}")
        more = body.startswith(b'{"has_more": true')
        records += len(json.loads(body)["data"]) if parse or not more else limit
        skip += limit
        if not more:
            break
    conn.close()
    return records, time.perf_counter() - started


def main(argv: list[str]) -> None:
    size = argv[0] if argv else "demo"
    path = argv[1] if len(argv) > 1 else "activity/"
    started = time.perf_counter()
    emu = Emulator(size=size).start()
    print(f"built {size} in {time.perf_counter() - started:.1f} s")
    try:
        measure(emu, path, parse=False)  # builds the cached, ordered result
        for parse in (False, True):
            records, seconds = measure(emu, path, parse)
            how = "served and parsed" if parse else "served"
            rate = records / seconds
            print(f"{path} {how}: {records} records, {seconds:.2f} s, {rate:,.0f}/s")
    finally:
        emu.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
