"""A book served over HTTP by the user's trading system (``GET /api/v1/positions``).

TLS certificates are always verified; a bearer token, if any, comes from the keyring or the
environment variable ``token_env`` names, never from the config file.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import requests

from app.books.payload import PayloadError, positions_from_json
from app.books.rows import label_lines
from app.config import BookConfig
from app.domain import BookSnapshot
from app.errors import ConfigError, ReadError, ReadErrorKind
from app.secrets import Secrets, SecretUnavailable

DEFAULT_TIMEOUT = 10.0
DEFAULT_POLL_INTERVAL = 5.0


class HttpBook:
    def __init__(self, config: BookConfig, secrets: Secrets, config_path: Path | None = None) -> None:
        assert config.url is not None
        self.id = config.id
        self.config = config
        self.url = config.url
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(config_path, f"books.{self.id}.url", "must be an http:// or https:// URL")
        options = config.options
        self.timeout = _seconds(options, "timeout", DEFAULT_TIMEOUT, config, config_path)
        self.watch_interval = _seconds(options, "poll_interval", DEFAULT_POLL_INTERVAL, config, config_path)
        self._secrets = secrets
        self._wants_token = "token_env" in options or options.get("auth") == "bearer"
        self._session = requests.Session()

    def _fail(self, kind: ReadErrorKind, cause: str) -> ReadError:
        return ReadError(kind, f"book '{self.id}' (GET {self.url}): {cause}")

    def _get(self) -> bytes:
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
        try:
            response = self._session.get(self.url, headers=headers, timeout=self.timeout, verify=True)
        except requests.exceptions.SSLError as exc:
            raise self._fail(
                ReadErrorKind.NETWORK, f"TLS certificate check failed ({exc.__class__.__name__})"
            ) from None
        except requests.exceptions.Timeout:
            raise self._fail(ReadErrorKind.TIMEOUT, f"no answer within {self.timeout:g} s") from None
        except requests.exceptions.ConnectionError:
            raise self._fail(ReadErrorKind.NETWORK, "connection refused or host unreachable") from None
        except requests.exceptions.RequestException as exc:
            raise self._fail(ReadErrorKind.NETWORK, str(exc)) from None
        if response.status_code != 200:
            reason = response.reason or ""
            raise self._fail(ReadErrorKind.HTTP, f"answered HTTP {response.status_code} {reason}".rstrip())
        return response.content

    def read(self, account: str | None) -> BookSnapshot:
        body = self._get()
        try:
            payload = json.loads(body.decode("utf-8-sig"), parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._fail(ReadErrorKind.MALFORMED, "the answer is not JSON") from None
        try:
            lines = positions_from_json(payload, self.config, account)
        except PayloadError as exc:
            where = f"{exc.where}: " if exc.where else ""
            raise self._fail(ReadErrorKind.MALFORMED, f"{where}{exc.cause}") from None
        return BookSnapshot(tuple(label_lines(lines)), hashlib.sha1(body).hexdigest())

    def change_token(self) -> str | None:
        try:
            return hashlib.sha1(self._get()).hexdigest()
        except ReadError:
            return None

    def close(self) -> None:
        self._session.close()


def _seconds(
    options: dict[str, object], key: str, default: float, config: BookConfig, path: Path | None
) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(path, f"books.{config.id}.{key}", "must be a number of seconds above 0")
    return float(value)
