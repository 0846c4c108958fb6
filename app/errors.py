"""Errors a user can act on, each carrying one sentence that names what failed and where.

A read that fails must never look like an empty read (safety rule 1), so adapters and books
raise ``ReadError`` instead of returning nothing; the worker turns it into a ``stale`` account.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class ReadErrorKind(StrEnum):
    NETWORK = "network"
    TIMEOUT = "timeout"
    LOGIN_EXPIRED = "login_expired"
    MALFORMED = "malformed"
    HTTP = "http"
    RATE_LIMITED = "rate_limited"
    SOURCE = "source"


class ReadError(Exception):
    """A side (broker or book) could not be read this cycle."""

    def __init__(self, kind: ReadErrorKind | str, message: str) -> None:
        super().__init__(message)
        self.kind = ReadErrorKind(kind)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LoginRequired(ReadError):
    """The broker refused the session (Kite ``TokenException``): the user must log in again."""

    def __init__(self, message: str) -> None:
        super().__init__(ReadErrorKind.LOGIN_EXPIRED, message)


class ConfigError(Exception):
    """A mistake in the configuration: exit code 3 and one sentence, never a traceback."""

    def __init__(self, path: Path | str | None, field: str, expected: str) -> None:
        where = f"{path}: " if path else ""
        subject = f"'{field}' " if field else ""
        super().__init__(f"{where}{subject}{expected}".strip())
        self.path = path
        self.field = field
        self.expected = expected
