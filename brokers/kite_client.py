"""The official ``kiteconnect`` client, narrowed to Kite's read routes and paced by a limiter.

Apart from ``kite`` because ``kiteconnect`` is slow to import (its ticker pulls in Twisted and
autobahn) and only an account that is read needs it: ``kite`` declares the broker (its ``SPEC``)
and builds adapters without it, and imports this module when the first adapter is built.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from kiteconnect import KiteConnect

from position_sync.brokers.rate_limit import SlidingWindowLimiter


class Cancelled(Exception):
    """The fetch this request belonged to was cancelled while it waited for the rate limiter."""


class ReadOnlyKite(KiteConnect):
    """The official client, narrowed to ``routes`` (GET only) and paced by a shared limiter.

    Overriding ``_request`` (the one place every kiteconnect call goes through) means the guard
    and the limiter hold for any method, including ones a future change might call by mistake.
    The response hook remembers the HTTP status and content type per thread, which kiteconnect
    drops when it turns a non-JSON error page into ``DataException``.
    """

    def __init__(
        self,
        api_key: str,
        *,
        root: str,
        timeout: float,
        limiter: SlidingWindowLimiter,
        routes: frozenset[str],
    ) -> None:
        super().__init__(api_key, root=root, timeout=timeout)
        self._limiter = limiter
        self._read_routes = routes  # not ``_routes``: KiteConnect keeps its route table there
        self._local = threading.local()
        self.reqsession.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.status = response.status_code
        self._local.content_type = response.headers.get("content-type", "")

    @property
    def last_status(self) -> int | None:
        status: int | None = getattr(self._local, "status", None)
        return status

    @property
    def last_content_type(self) -> str:
        content_type: str = getattr(self._local, "content_type", "")
        return content_type

    def read(self, method: str, cancel: threading.Event) -> Any:
        """Call the client's ``method`` (``positions``...), giving up if ``cancel`` is set
        while the request waits for the limiter."""
        self._local.status = None
        self._local.content_type = ""
        self._local.cancel = cancel
        return getattr(self, method)()

    def _request(
        self,
        route: str,
        method: str,
        url_args: Any = None,
        params: Any = None,
        is_json: bool = False,
        query_params: Any = None,
    ) -> Any:
        if method != "GET" or route not in self._read_routes:
            raise PermissionError(f"Position Sync is read-only towards Kite and never sends {method} {route}")
        cancel: threading.Event | None = getattr(self._local, "cancel", None)
        if not self._limiter.acquire(cancel):
            raise Cancelled()
        return super()._request(
            route, method, url_args=url_args, params=params, is_json=is_json, query_params=query_params
        )
