"""The HTTP side: auth, trailing-slash redirects, faults, rate limits, the
request log, latency, and the /_emulator/ control routes."""

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from close_emulator.api import Response, json_response
from close_emulator.faults import Fault
from close_emulator.requestlog import RequestRecord

if TYPE_CHECKING:
    from close_emulator.emulator import Emulator

API_PREFIX = "/api/v1/"
CONTROL_PREFIX = "/_emulator/"
REASONS = {
    200: "OK",
    201: "Created",
    301: "Moved Permanently",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], emulator: object) -> None:
        super().__init__(address, Handler)
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        """End kept-alive connections, so that no client is served by a
        stopped emulator."""
        with self.connections_lock:
            for connection in list(self.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CloseEmulator/1"

    record: RequestRecord | None = None

    def setup(self) -> None:
        super().setup()
        # NB: one write per response plus no Nagle keeps keep-alive paging fast.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    @property
    def emu(self) -> "Emulator":
        return self.server.emulator

    def dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        body = self.read_body()
        if path.startswith(CONTROL_PREFIX):
            self.send(self.emu.control(self.command, path[len(CONTROL_PREFIX) :], body))
            return
        record = RequestRecord(
            method=self.command,
            path=path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            query_string=url.query,
            status=0,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body.decode("utf-8", "replace"),
        )
        self.record = record
        try:
            self.answer_api(record, url.query, body)
        finally:
            self.log_once()

    def log_once(self) -> None:
        """Log the request before its response leaves, so that a client that
        has its answer always finds its request in the log."""
        record, self.record = self.record, None
        if record is not None:
            self.emu.log_request(record)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer_api(self, record: RequestRecord, raw_query: str, body: bytes) -> None:
        refusal = self.refusal(record.path, raw_query)
        if refusal is not None:
            self.send(refusal)
            return

        fault = self.emu.faults.pick(record.path)
        if fault is not None and fault.kind not in ("delay", "truncate"):
            self.send_fault(fault)
            return

        relative = record.path[len(API_PREFIX) :]
        response, headers = self.emu.limit(relative)
        if response is None:
            response = self.emu.api.handle(record.method, relative, record.query, body)
        response.headers.update(headers)
        if fault is not None:
            self.send_late(fault, response)
            return
        self.send(response)

    def refusal(self, path: str, raw_query: str) -> Response | None:
        """The answers given before any fault or rate limit: latency, not the
        API, a missing trailing slash, no valid key."""
        emu = self.emu
        if emu.latency:
            emu.stopping.wait(emu.latency)
        if not path.startswith(API_PREFIX):
            return json_response(404, {"error": "Not found"})

        # NB: Close's paths all end in a slash; without it Close redirects.
        if not path.endswith("/"):
            location = path + "/" + ("?" + raw_query if raw_query else "")
            return Response(emu.redirect_status, "", {"Location": location})

        if not self.authorized():
            return json_response(401, {"error": "Unauthorized"})
        return None

    def send_late(self, fault: Fault, response: Response) -> None:
        """A delayed or truncated answer. The request is logged on arrival so
        that a client's retry during the delay is logged after it."""
        self.record.status = response.status
        self.log_once()
        if fault.kind == "delay":
            self.emu.stopping.wait(fault.seconds)
            self.send(response)
            return

        payload = response.body.encode()
        half = payload[: len(payload) // 2].decode("utf-8", "ignore")
        self.close_connection = True
        self.send(Response(200, half, response.headers))

    def authorized(self) -> bool:
        """HTTP Basic: the API key as user name, an empty password."""
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return user == self.emu.api_key and password == ""

    def send_fault(self, fault: Fault) -> None:
        """The faults that replace the answer."""
        if fault.kind == "drop":
            self.close_connection = True
            self.log_once()
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif fault.kind == "empty_has_more":
            self.send(json_response(200, {"has_more": True, "data": []}))
        elif fault.kind == "not_found_deleted":
            message = "The object you requested has been deleted or does not exist."
            self.send(json_response(404, {"error": message}))
        else:
            body = fault.body
            if body is None:
                body = {"error": REASONS.get(fault.status, "Error")}
            text = body if isinstance(body, str) else json.dumps(body)
            self.send(Response(fault.status, text, dict(fault.headers or {})))

    def send(self, response: Response) -> None:
        """Status line, headers and body in one write."""
        if self.record is not None:
            self.record.status = response.status
            self.log_once()
        payload = response.body.encode()
        lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}"]
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(payload)),
        }
        headers.update(response.headers)
        if self.close_connection:
            headers["Connection"] = "close"
        # NB: Close lower-cases its response header names (changelog
        # 2020-05-19); clients must match them case-insensitively.
        lines += [f"{key.lower()}: {value}" for key, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
