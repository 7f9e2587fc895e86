"""The /_emulator/ control routes: the Python API over HTTP, no auth."""

import json
from typing import TYPE_CHECKING

from close_emulator.api import Response, json_response

if TYPE_CHECKING:
    from close_emulator.emulator import Emulator


def handle(emu: "Emulator", method: str, path: str, body: bytes) -> Response:
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        return json_response(400, {"error": "body is not JSON"})
    parts = [part for part in path.split("/") if part]
    try:
        return _route(emu, method, parts, payload)
    except (KeyError, ValueError, TypeError) as exc:
        return json_response(400, {"error": str(exc)})


def _route(emu: "Emulator", method: str, parts: list[str], payload: dict) -> Response:
    head = parts[0] if parts else ""
    if (method, head) == ("GET", "requests"):
        return json_response(200, [record.to_dict() for record in emu.requests])
    if (method, head) == ("POST", "clear-requests"):
        emu.clear_requests()
        return json_response(200, {"ok": True})
    if (method, head) == ("POST", "mutate"):
        return json_response(200, emu.mutate(payload.get("seed")))
    if head == "clock":
        return _clock(emu, method, payload)
    if head == "objects":
        return _objects(emu, method, parts[1:], payload)
    if (method, head) == ("POST", "faults"):
        emu.add_fault(**payload)
        return json_response(200, emu.faults.describe())
    if (method, head) == ("GET", "faults"):
        return json_response(200, emu.faults.describe())
    if (method, head) == ("POST", "clear-faults"):
        emu.clear_faults()
        return json_response(200, {"ok": True})
    return json_response(
        404, {"error": f"no control route {method} /_emulator/{'/'.join(parts)}"}
    )


def _clock(emu: "Emulator", method: str, payload: dict) -> Response:
    if method == "POST" and "now" in payload:
        emu.set_now(payload["now"])
    elif method == "POST" and "advance" in payload:
        emu.advance(float(payload["advance"]))
    elif method == "POST":
        raise ValueError(
            'POST /_emulator/clock takes {"now": ...} or {"advance": seconds}'
        )
    return json_response(200, {"now": emu.now.isoformat()})


def _objects(emu: "Emulator", method: str, parts: list[str], payload: dict) -> Response:
    if method == "GET" and len(parts) == 1:
        return json_response(200, emu.objects(parts[0]))
    if method == "POST" and len(parts) == 1:
        return json_response(200, emu.add(parts[0], payload))
    if method == "POST" and len(parts) == 2:
        return json_response(200, emu.update(parts[0], parts[1], **payload))
    if method == "DELETE" and len(parts) == 2:
        emu.delete(parts[0], parts[1])
        return json_response(200, {"ok": True})
    return json_response(
        404, {"error": "objects routes: GET/POST <kind>, POST/DELETE <kind>/<id>"}
    )
