"""One base URL for every API family of a ccxt exchange (the account's ``api_root``).

ccxt keeps one URL per API family (Binance has a dozen: ``fapiPrivateV3``, ``sapi``, ``public``
...; Bybit one template, ``https://api.{hostname}``). A proxy, a regional host or the tests'
fake exchange must receive all of them, or a read half-reaches the real exchange. So every URL
keeps its path and loses its scheme and host to the root's, whatever family ccxt adds next.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]+")


def checked_root(api_root: str) -> str:
    """The root without a trailing slash; ``ValueError`` with the reason when it is no URL."""
    root = api_root.strip().rstrip("/")
    parts = urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{api_root!r} is not an http(s) URL such as http://127.0.0.1:8080")
    if parts.query or parts.fragment:
        raise ValueError(f"{api_root!r} carries a query or fragment; give the base URL only")
    return root


def rerooted(urls: Any, root: str) -> Any:
    """``urls`` (ccxt's ``urls["api"]``, nested dicts of strings) with every origin replaced."""
    if isinstance(urls, str):
        return _ORIGIN.sub(root, urls, count=1) if _ORIGIN.match(urls) else urls
    if isinstance(urls, dict):
        return {name: rerooted(value, root) for name, value in urls.items()}
    return urls


def point_at(exchange: Any, api_root: str) -> None:
    """Send every request of ``exchange`` (a ccxt instance) to ``api_root``."""
    root = checked_root(api_root)
    exchange.urls = {**exchange.urls, "api": rerooted(exchange.urls["api"], root)}
