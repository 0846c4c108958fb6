"""The HTTP plumbing the DEX fakes share: a threaded server on 127.0.0.1, scripted replies, faults
and a request log.

Each fake (Pacifica, Hyperliquid) supplies one ``respond(request) -> Reply`` function and keeps
its exchange's rules there; this module only carries bytes. A scripted answer queue's last entry
repeats, so a test can say "the third read answers an empty list" once and have it stay that way.
The faults are the ones a real network produces: an answer that comes late, a proxy's HTML page
instead of JSON, a socket closed with no answer at all.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.serving import LocalServer, ServerThread, TrackedHandler


@dataclass(frozen=True)
class Reply:
    """One answer. ``body`` (raw bytes) wins over ``payload`` (a JSON document)."""

    status: int = 200
    payload: Any = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False

    def encoded(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps(self.payload).encode("utf-8")


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, payload)


def text_reply(text: str, status: int) -> Reply:
    return Reply(status, body=text.encode("utf-8"), content_type="text/plain; charset=utf-8")


def html_page(status: int = 502) -> Reply:
    """A load balancer's error page: what arrives when the exchange's own app is not answering."""
    title = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}.get(status, "Error")
    body = (
        f"<html><head><title>{status} {title}</title></head>"
        f"<body><center><h1>{status} {title}</h1></center><hr><center>nginx</center></body></html>"
    ).encode()
    return Reply(status, body=body, content_type="text/html")


def dropped() -> Reply:
    """The connection is closed with no answer (a reset, a crashed upstream)."""
    return Reply(drop=True)


def delayed(reply: Reply, seconds: float) -> Reply:
    return replace(reply, delay=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


Responder = Callable[[RecordedRequest], Reply]


class _Server(LocalServer):
    def __init__(self, respond: Responder, record: Callable[[RecordedRequest], None], name: str) -> None:
        super().__init__(_Handler)
        self.respond = respond
        self.record = record
        self.name = name


class _Handler(TrackedHandler):
    # As real front ends do (nginx's tcp_nodelay is on by default): without it the body's last
    # segment waits for the client's delayed ACK of the headers, 40 ms per answer on loopback
    # for bodies under one segment, which a benchmark would measure instead of the client.
    disable_nagle_algorithm = True
    server: _Server

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return self.server.name

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=dict(self.headers.items()),
            body=body,
            at=time.monotonic(),
        )
        self.server.record(request)
        self._send(self.server.respond(request))

    def _send(self, reply: Reply) -> None:
        if reply.delay > 0 and self.server.stopping.wait(reply.delay):
            reply = dropped()
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = reply.encoded()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


@dataclass
class ScriptBook:
    """Scripted answers per key (a path, an info type); the last reply of each queue repeats."""

    queues: dict[str, deque[Reply]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, key: str, replies: Iterable[Reply]) -> None:
        queue = deque(replies)
        if not queue:
            raise ValueError("a script needs at least one reply")
        with self.lock:
            self.queues[key] = queue

    def clear(self, key: str | None = None) -> None:
        with self.lock:
            if key is None:
                self.queues.clear()
            else:
                self.queues.pop(key, None)

    def next(self, key: str) -> Reply | None:
        with self.lock:
            queue = self.queues.get(key)
            if not queue:
                return None
            return queue.popleft() if len(queue) > 1 else queue[0]


class FakeHttpServer:
    """Lifecycle, scripts and the request log; ``respond`` holds the exchange's rules."""

    def __init__(self, name: str, respond: Responder) -> None:
        self._name = name
        self._respond = respond
        self._recorded: list[RecordedRequest] = []
        self._recorded_lock = threading.Lock()
        self.scripts = ScriptBook()
        self._serving = ServerThread(name, name)

    def _record(self, request: RecordedRequest) -> None:
        with self._recorded_lock:
            self._recorded.append(request)

    def start(self) -> None:
        self._serving.run(_Server(self._respond, self._record, self._name))

    def stop(self) -> None:
        self._serving.stop()

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def url(self) -> str:
        return self._serving.url

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._recorded_lock:
            return list(self._recorded)

    def clear_requests(self) -> None:
        with self._recorded_lock:
            self._recorded.clear()

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)


def max_in_window(events: Iterable[tuple[float, float]], window: float) -> float:
    """The largest sum of amounts whose times fall within any ``window`` seconds (sliding)."""
    ordered = sorted(events)
    best = 0.0
    total = 0.0
    first = 0
    for at, amount in ordered:
        total += amount
        while at - ordered[first][0] >= window:
            total -= ordered[first][1]
            first += 1
        best = max(best, total)
    return best
