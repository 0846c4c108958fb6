"""A book server on 127.0.0.1 that answers healthily, or dribbles its answer a byte at a time.

Dribbling is the fault a per-read timeout never sees: every byte arrives well within it, and
the whole answer takes minutes. The server sends its headers at once (a ``Content-Length`` for
the whole body), then one byte of the body every ``gap`` seconds until ``stop`` is called.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DribbleServer:
    def __init__(self, positions: list[dict[str, Any]], gap: float = 0.5) -> None:
        self.body = json.dumps({"positions": positions}).encode()
        self.gap = gap
        self.dribbling = False
        self._stopped = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                if not owner.dribbling:
                    self.wfile.write(owner.body)
                    return
                self.wfile.flush()
                for index in range(len(owner.body)):
                    if owner._stopped.wait(owner.gap):
                        return
                    try:
                        self.wfile.write(owner.body[index : index + 1])
                        self.wfile.flush()
                    except OSError:  # the reader gave up and closed the connection
                        return

            def log_message(self, *args: Any) -> None:
                """No request lines on the test's stderr."""

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/api/v1/positions"

    def stop(self) -> None:
        self._stopped.set()
        self._http.shutdown()
        self._http.server_close()
