"""The JSON shapes a book may have: a list of positions, or an object holding the list.

Shared by the file book and the HTTP book so both accept exactly the same documents.
"""

from __future__ import annotations

import json
import re
from typing import Any

from position_sync.app.books.rows import LineReader, RecordError, belongs
from position_sync.app.config import BookConfig

_BLANK = re.compile(r"[ \t\n\r]*")


class PayloadError(ValueError):
    """The document's shape is wrong; ``where`` names the entry (``positions[3]``) if any.

    ``index`` is the entry's position in the list, so a reader that has the document's text (the
    file book) can name its line as well.
    """

    def __init__(self, where: str, cause: str, index: int | None = None) -> None:
        super().__init__(cause)
        self.where = where
        self.cause = cause
        self.index = index


def list_key(book: BookConfig) -> str:
    value = book.options.get("list_key", "positions")
    return value if isinstance(value, str) else "positions"


def positions_from_json(payload: Any, book: BookConfig, account: str | None) -> LineReader:
    """The document's lines, read into a ``LineReader`` (positions labelled by entry, fingerprint)."""
    key = list_key(book)
    shape = f"expected a list of positions or an object with a '{key}' list"
    # Entries are named by their JSON path: ``positions[3]`` inside an object, ``[3]`` in a bare
    # list (which has no ``positions`` key for the user to look for).
    prefix = ""
    if isinstance(payload, dict):
        if not isinstance(payload.get(key), list):
            raise PayloadError("", shape)
        payload = payload[key]
        prefix = key
    if not isinstance(payload, list):
        raise PayloadError("", shape)
    lines = LineReader(book)
    add = lines.add
    by_account = account is not None and "account" in book.fields
    if not by_account and lines.add_all(payload, "entry"):
        return lines
    for index, record in enumerate(payload):
        if type(record) is not dict and not isinstance(record, dict):
            raise PayloadError(f"{prefix}[{index}]", "each position must be an object", index)
        if by_account and not belongs(record, book, account):
            continue
        try:
            add(record, f"entry {index + 1}")
        except RecordError as exc:
            raise PayloadError(f"{prefix}[{index}]", str(exc), index) from None
    return lines


def entry_line(text: str, key: str, index: int) -> int | None:
    """The line (1-based) where entry ``index`` of the positions list starts in ``text``.

    Only asked once a document already parsed and one entry was found wrong, so the cost of a
    second pass is paid on the error path alone. The pass walks the document with
    ``JSONDecoder.raw_decode``, which returns where each value ends: the top-level object's
    members are skipped value by value until ``key`` (the last one wins, as in ``json.loads``),
    then the list's entries likewise, and the newlines before the wanted entry are counted.
    None when the text does not have the expected shape after all.
    """
    offsets = _entry_offsets(text, key)
    if offsets is None or index >= len(offsets):
        return None
    return text.count("\n", 0, offsets[index]) + 1


def _entry_offsets(text: str, key: str) -> list[int] | None:
    decoder = json.JSONDecoder()

    def blank(pos: int) -> int:
        match = _BLANK.match(text, pos)
        return match.end() if match else pos

    try:
        pos = blank(0)
        if text[pos] == "{":
            found: int | None = None
            pos = blank(pos + 1)
            while text[pos] != "}":
                name, pos = decoder.raw_decode(text, pos)
                pos = blank(pos)
                if text[pos] != ":":
                    return None
                pos = blank(pos + 1)
                if name == key:
                    found = pos
                _, pos = decoder.raw_decode(text, pos)
                pos = blank(pos)
                if text[pos] == ",":
                    pos = blank(pos + 1)
                elif text[pos] != "}":
                    return None
            if found is None:
                return None
            pos = found
        if text[pos] != "[":
            return None
        offsets: list[int] = []
        pos = blank(pos + 1)
        while text[pos] != "]":
            offsets.append(pos)
            _, pos = decoder.raw_decode(text, pos)
            pos = blank(pos)
            if text[pos] == ",":
                pos = blank(pos + 1)
            elif text[pos] != "]":
                return None
        return offsets
    except (ValueError, IndexError):
        return None
