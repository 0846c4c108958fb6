"""A book kept as a JSON or CSV file by the user's trading system.

The file is read whole each sync; its hash is the fingerprint that tells reconciliation the
book just changed (so a problem is not reported while the trading system is mid-write).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.books.rows import RecordError, belongs, label_lines, to_position
from app.config import BookConfig
from app.domain import BookSnapshot, Position
from app.errors import ReadError, ReadErrorKind


class FileBook:
    def __init__(self, config: BookConfig) -> None:
        assert config.path is not None
        self.id = config.id
        self.config = config
        self.path = config.path
        suffix = self.path.suffix.lower()
        self.format = config.format or ("csv" if suffix == ".csv" else "json")

    def _fail(self, where: str, cause: str) -> ReadError:
        place = f"{self.path}{' ' + where if where else ''}"
        return ReadError(ReadErrorKind.SOURCE, f"book '{self.id}': {place}: {cause}")

    # Checked four times a second: a stat is cheap, and a change must reach a sync within 1 s.
    watch_interval = 0.25

    def change_token(self) -> str | None:
        """Modification time and size: changes whenever the trading system rewrites the file."""
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    def read(self, account: str | None) -> BookSnapshot:
        try:
            data = self.path.read_bytes()
            modified = datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        except FileNotFoundError:
            raise self._fail("", "file not found") from None
        except OSError as exc:
            raise self._fail("", f"cannot be read ({exc.strerror or exc})") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise self._fail("", "is not UTF-8 text") from None
        lines = self._csv(text, account) if self.format == "csv" else self._json(text, account)
        fingerprint = hashlib.sha1(data).hexdigest()
        return BookSnapshot(tuple(label_lines(lines)), fingerprint, modified)

    def _json(self, text: str, account: str | None) -> list[tuple[str, Position]]:
        try:
            payload: Any = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise self._fail(f"line {exc.lineno}", f"is not valid JSON ({exc.msg})") from None
        list_key = self.config.options.get("list_key", "positions")
        # Entries are named by their JSON path: ``positions[3]`` inside an object, ``[3]`` in a
        # bare list (which has no ``positions`` key for the user to look for).
        prefix = ""
        if isinstance(payload, dict):
            if not isinstance(payload.get(list_key), list):
                raise self._fail("", f"expected a list of positions or an object with a '{list_key}' list")
            payload = payload[list_key]
            prefix = list_key
        if not isinstance(payload, list):
            raise self._fail("", f"expected a list of positions or an object with a '{list_key}' list")
        lines: list[tuple[str, Position]] = []
        for index, record in enumerate(payload):
            where = f"{prefix}[{index}]"
            if not isinstance(record, dict):
                raise self._fail(where, "each position must be an object")
            if not belongs(record, self.config, account):
                continue
            try:
                lines.append((f"entry {index + 1}", to_position(record, self.config)))
            except RecordError as exc:
                raise self._fail(where, str(exc)) from None
        return lines

    def _csv(self, text: str, account: str | None) -> list[tuple[str, Position]]:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            if not text.strip():
                raise self._fail("", "is empty: a CSV book needs a header line")
            raise self._fail("line 1", "has no header")
        header = [h.strip() for h in reader.fieldnames]
        for name in ("symbol", "quantity"):
            column = self.config.field_name(name)
            if column not in header:
                raise self._fail(
                    "line 1", f"the header has no '{column}' column (found: {', '.join(header)})"
                )
        lines: list[tuple[str, Position]] = []
        for record in reader:
            line = reader.line_num
            clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in record.items()}
            if not any(v for v in clean.values() if isinstance(v, str)):
                continue
            if not belongs(clean, self.config, account):
                continue
            try:
                lines.append((f"line {line}", to_position(clean, self.config)))
            except RecordError as exc:
                raise self._fail(f"line {line}", str(exc)) from None
        return lines
