"""What every fake broker server shares: a threaded HTTP server on 127.0.0.1 that can be stopped
at once, even with clients still connected or an answer still being delayed.

Each fake keeps only its broker's rules (paths, envelopes, signatures, faults); the server, its
handler's bookkeeping and the thread it runs on are here, once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalServer(ThreadingHTTPServer):
    """Bound to a free port on 127.0.0.1; knows its open connections so ``stop`` can cut them.

    ``stopping`` is set first when the server stops: a reply waiting out its scripted delay
    waits on it, so a stop never hangs on a "hang past the timeout" fault.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout test, dropped socket) is expected here, not a failure."""


class TrackedHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, registered with its ``LocalServer`` while connected, quiet."""

    protocol_version = "HTTP/1.1"
    timeout = 10
    server: LocalServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are the log."""


class ServerThread:
    """One ``LocalServer`` served on a daemon thread; ``what`` names it in an error."""

    def __init__(self, name: str, what: str) -> None:
        self._name = name
        self._what = what
        self.server: LocalServer | None = None
        self._thread: threading.Thread | None = None

    def run(self, server: LocalServer) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.02), name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, cut every open connection, and wait for the thread."""
        server = self.server
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        with server.connections_lock:
            open_sockets = list(server.connections)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.server = None

    @property
    def port(self) -> int:
        if self.server is None:
            raise RuntimeError(f"{self._what} is not running")
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
