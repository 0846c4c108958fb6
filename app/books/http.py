"""A book served over HTTP by the user's trading system (``GET /api/v1/positions``).

TLS certificates are always verified; a bearer token, if any, comes from the keyring or the
environment variable ``token_env`` names, never from the config file, and never from the URL:
credentials in it (``https://user:pw@host/``) are refused at config, and every sentence that
names the URL masks its user information and secret-looking query parameters anyway, because
those sentences end up on screen, in logs and in stored ``sync_failed`` events.

A read has a total deadline (the book's ``timeout``, shortened to the accounts' timeout when that
is shorter), not only one per network read: a server that dribbles one byte every half second
never trips a per-read timeout, and would keep the read, its thread and its connection busy for
as long as it likes.

The fingerprint (and the watch token) is a digest of the positions served, not of the body, so
a service that stamps its answer with ``generated_at`` does not look like a changing book. The
same body is not parsed twice, and a server that sends ``ETag`` or ``Last-Modified`` is asked
whether its last body still holds (a 304 then costs no body at all).
"""

from __future__ import annotations

import hashlib
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from position_sync.app.books.generations import built_to_stay
from position_sync.app.books.kinds import BookKind
from position_sync.app.books.payload import PayloadError, positions_from_json
from position_sync.app.books.rows import LineReader
from position_sync.app.config import HTTP_CREDENTIALS_REFUSED, BookConfig, check_http_book
from position_sync.app.config_values import seconds_value
from position_sync.app.domain import BookSnapshot
from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.app.redact import mask_url, url_has_credentials
from position_sync.app.secrets import Secrets, SecretUnavailable

if TYPE_CHECKING:
    import requests

DEFAULT_TIMEOUT = 10.0
DEFAULT_POLL_INTERVAL = 5.0
# Bytes asked for per network read of the body; each read returns whatever has arrived.
_CHUNK = 65536


class HttpBook:
    def __init__(self, config: BookConfig, secrets: Secrets, config_path: Path | None = None) -> None:
        assert config.url is not None
        self.id = config.id
        self.config = config
        self.url = config.url
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(config_path, f"books.{self.id}.url", "must be an http:// or https:// URL")
        if url_has_credentials(self.url):
            raise ConfigError(config_path, f"books.{self.id}.url", HTTP_CREDENTIALS_REFUSED)
        self.shown_url = mask_url(self.url)
        options = config.options
        self.timeout = _seconds(options, "timeout", DEFAULT_TIMEOUT, config, config_path)
        self.watch_interval = _seconds(options, "poll_interval", DEFAULT_POLL_INTERVAL, config, config_path)
        self._secrets = secrets
        self._wants_token = "token_env" in options or options.get("auth") == "bearer"
        # requests is imported only for a config with an HTTP book (and then with its first one).
        import requests

        self._session = requests.Session()
        # The last body served, with the validators it came with (ETag, Last-Modified): the
        # next GET asks whether it still holds, and a 304 answers with it. The snapshot of each
        # account (None: the whole book) is kept with the digest of the body it was parsed
        # from, so the same body is not parsed again; ``parses`` counts the bodies parsed.
        # One tuple, replaced whole: a read on another thread (the watcher's) never pairs one
        # body with another body's validators.
        self._validated: tuple[bytes, dict[str, str]] | None = None
        self._snapshots: dict[str | None, tuple[bytes, BookSnapshot]] = {}
        self.parses = 0

    def limit_reads(self, seconds: float) -> None:
        """Shorten the deadline to ``seconds`` (the accounts' timeout) when that is shorter."""
        if 0 < seconds < self.timeout:
            self.timeout = float(seconds)

    def _fail(self, kind: ReadErrorKind, cause: str) -> ReadError:
        return ReadError(kind, f"book '{self.id}' (GET {self.shown_url}): {cause}")

    def _get(self) -> bytes:
        import requests

        headers = {"Accept": "application/json"}
        try:
            token = self._secrets.get(self.id, self.config.options, "token") if self._wants_token else None
        except SecretUnavailable as exc:
            raise self._fail(ReadErrorKind.SOURCE, str(exc)) from None
        if self._wants_token and not token:
            raise self._fail(
                ReadErrorKind.SOURCE,
                f"no bearer token in the {self._secrets.source(self.id, self.config.options, 'token')}",
            )
        if token:
            headers["Authorization"] = f"Bearer {token}"
        validated = self._validated
        if validated is not None:
            headers.update(validated[1])
        deadline = time.monotonic() + self.timeout
        try:
            response = self._session.get(
                self.url, headers=headers, timeout=self.timeout, verify=True, stream=True
            )
        except requests.exceptions.SSLError as exc:
            raise self._fail(
                ReadErrorKind.NETWORK, f"TLS certificate check failed ({exc.__class__.__name__})"
            ) from None
        except requests.exceptions.Timeout:
            raise self._fail(ReadErrorKind.TIMEOUT, f"no answer within {self.timeout:g} s") from None
        except requests.exceptions.ConnectionError:
            raise self._fail(ReadErrorKind.NETWORK, "connection refused or host unreachable") from None
        except requests.exceptions.RequestException as exc:
            # Not str(exc): requests repeats the URL in it, query string and all.
            raise self._fail(ReadErrorKind.NETWORK, f"the request failed ({type(exc).__name__})") from None
        with response:
            if response.status_code == 304 and validated is not None:
                return validated[0]  # "not modified": the body those validators came with
            if response.status_code != 200:
                reason = response.reason or ""
                raise self._fail(
                    ReadErrorKind.HTTP, f"answered HTTP {response.status_code} {reason}".rstrip()
                )
            body = self._body(response, deadline)
            etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
            validators = {
                name: value
                for name, value in (("If-None-Match", etag), ("If-Modified-Since", modified))
                if value
            }
            self._validated = (body, validators) if validators else None
            return body

    def _body(self, response: requests.Response, deadline: float) -> bytes:
        """The whole body by ``deadline``, or a timeout: one network read at a time.

        ``read1`` returns after at most one read of the socket, and before each the socket's
        timeout is cut to what is left of the deadline, so no read can run past it.
        """
        import urllib3.exceptions

        raw = response.raw
        chunks: list[bytes] = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._fail(
                        ReadErrorKind.TIMEOUT, f"the answer did not arrive whole within {self.timeout:g} s"
                    )
                sock = getattr(getattr(raw, "connection", None), "sock", None)
                if sock is not None:
                    sock.settimeout(left)
                chunk = raw.read1(_CHUNK)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            raise self._fail(
                ReadErrorKind.TIMEOUT, f"the answer did not arrive whole within {self.timeout:g} s"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # Not str(exc): it may repeat the URL.
            raise self._fail(ReadErrorKind.NETWORK, f"the answer broke off ({type(exc).__name__})") from None

    def _snapshot(self, account: str | None) -> BookSnapshot:
        """The snapshot of the body served now, parsed only when the body is new."""
        body = self._get()
        if "account" not in self.config.fields:
            account = None
        digest = hashlib.sha1(body).digest()
        cached = self._snapshots.get(account)
        if cached is not None and cached[0] == digest:
            return cached[1]
        self.parses += 1
        with built_to_stay():
            snapshot = self._lines(body, account).snapshot()
        if len(self._snapshots) > 64:  # one per account of the book; a bound all the same
            self._snapshots.clear()
        self._snapshots[account] = (digest, snapshot)
        return snapshot

    def _lines(self, body: bytes, account: str | None) -> LineReader:
        try:
            payload: Any = json.loads(body.decode("utf-8-sig"), parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._fail(ReadErrorKind.MALFORMED, "the answer is not JSON") from None
        try:
            return positions_from_json(payload, self.config, account)
        except PayloadError as exc:
            where = f"{exc.where}: " if exc.where else ""
            raise self._fail(ReadErrorKind.MALFORMED, f"{where}{exc.cause}") from None

    def read(self, account: str | None) -> BookSnapshot:
        return self._snapshot(account)

    def change_token(self) -> str | None:
        """The positions' fingerprint: a new ``generated_at`` in the body is no change."""
        try:
            return self._snapshot(None).fingerprint
        except ReadError:
            return None

    def close(self) -> None:
        self._session.close()


def _seconds(
    options: dict[str, object], key: str, default: float, config: BookConfig, path: Path | None
) -> float:
    if key not in options:
        return default
    # The config's one check of durations: also refuses nan, inf and 1e30 (a book built in code).
    return seconds_value(options, key, f"books.{config.id}", path)


KIND = BookKind(
    name="http",
    label="HTTP endpoint (JSON)",
    what="an HTTP book",
    options=(
        Option(
            "url",
            str,
            "GET returns a list of positions, or an object with the list under list_key",
            required=True,
            label="URL",
            example="https://bot.local/api/v1/positions",
        ),
        Option(
            "list_key", str, "for a JSON object: the key holding the list of positions", default="positions"
        ),
        Option(
            "token_env",
            str,
            "an environment variable holding a bearer token",
            label="Token variable",
            example="BOT_API_TOKEN",
        ),
        Option(
            "auth",
            str,
            '"bearer": send the token kept in the keyring entry BOOK:token',
            label="Authentication",
        ),
        Option("timeout", float, "seconds one GET may take", default=DEFAULT_TIMEOUT, label="Timeout (s)"),
        Option(
            "poll_interval",
            float,
            "seconds between two polls of the endpoint",
            default=DEFAULT_POLL_INTERVAL,
            label="Poll interval (s)",
        ),
    ),
    location="url",
    open=HttpBook,  # built as (config, secrets, config path), as every reader is
    secret="token",
    check=check_http_book,
)
