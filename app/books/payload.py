"""The JSON shapes a book may have: a list of positions, or an object holding the list.

Shared by the file book and the HTTP book so both accept exactly the same documents.
"""

from __future__ import annotations

from typing import Any

from app.books.rows import RecordError, belongs, to_position
from app.config import BookConfig
from app.domain import Position


class PayloadError(ValueError):
    """The document's shape is wrong; ``where`` names the entry (``positions[3]``) if any."""

    def __init__(self, where: str, cause: str) -> None:
        super().__init__(cause)
        self.where = where
        self.cause = cause


def positions_from_json(payload: Any, book: BookConfig, account: str | None) -> list[tuple[str, Position]]:
    list_key = book.options.get("list_key", "positions")
    shape = f"expected a list of positions or an object with a '{list_key}' list"
    # Entries are named by their JSON path: ``positions[3]`` inside an object, ``[3]`` in a bare
    # list (which has no ``positions`` key for the user to look for).
    prefix = ""
    if isinstance(payload, dict):
        if not isinstance(payload.get(list_key), list):
            raise PayloadError("", shape)
        payload = payload[list_key]
        prefix = list_key
    if not isinstance(payload, list):
        raise PayloadError("", shape)
    lines: list[tuple[str, Position]] = []
    for index, record in enumerate(payload):
        where = f"{prefix}[{index}]"
        if not isinstance(record, dict):
            raise PayloadError(where, "each position must be an object")
        if not belongs(record, book, account):
            continue
        try:
            lines.append((f"entry {index + 1}", to_position(record, book)))
        except RecordError as exc:
            raise PayloadError(where, str(exc)) from None
    return lines
