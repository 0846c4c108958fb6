"""A book kept as a JSON or CSV file by the user's trading system.

The file is read whole each sync, and parsed again only when its bytes changed. Its fingerprint is a digest of the positions it holds (see
``app.books.rows.LineReader.fingerprint``), not of its bytes: a trading system that rewrites the same
positions every second, or stamps the file with the time, has not changed its book, and must not
keep reconciliation from ever reporting a problem.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat as stat_module
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

from position_sync.app.books.generations import built_to_stay
from position_sync.app.books.kinds import BookKind
from position_sync.app.books.payload import PayloadError, entry_line, list_key, positions_from_json
from position_sync.app.books.rows import LineReader, RecordError, belongs, line_labels
from position_sync.app.config import BookConfig
from position_sync.app.domain import BookSnapshot
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.app.secrets import Secrets

# What a path that is not a regular file is, in the sentence that refuses it.
_FILE_KINDS = (
    (stat_module.S_ISDIR, "a directory"),
    (stat_module.S_ISFIFO, "a FIFO (named pipe)"),
    (stat_module.S_ISSOCK, "a socket"),
    (stat_module.S_ISCHR, "a character device"),
    (stat_module.S_ISBLK, "a block device"),
)


class NotRegularFile(OSError):
    """The book path names something that is not a regular file; ``kind`` says what it is."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def read_regular_file(path: os.PathLike[str] | str) -> tuple[bytes, os.stat_result]:
    """The bytes and stat of a regular file, refusing anything else before reading it.

    Opening a FIFO for reading blocks until some process opens it for writing, and a character
    device such as ``/dev/zero`` never ends: either would hang the read past every timeout. So
    the path is opened without blocking and checked on the descriptor itself (no window between
    a check and the open for the path to be swapped), and only a regular file is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    try:
        status = os.fstat(descriptor)
        if not stat_module.S_ISREG(status.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(status.st_mode)), "not a regular file")
            raise NotRegularFile(kind)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(), status
    finally:
        os.close(descriptor)


class FileBook:
    def __init__(self, config: BookConfig) -> None:
        assert config.path is not None
        self.id = config.id
        self.config = config
        self.path = config.path
        suffix = self.path.suffix.lower()
        self.format = config.format or ("csv" if suffix == ".csv" else "json")
        self._stat: str | None = None
        self._token: str | None = None
        # The last snapshot read for each account (None: the whole file), with what it was read
        # from; ``parses`` counts the reads that had to parse (a test counts them).
        self._snapshots: dict[str | None, tuple[tuple[int, int, bytes, str | None], BookSnapshot]] = {}
        self.parses = 0

    def missing_source(self) -> str | None:
        """Why the book cannot be there at all (its file does not exist), or None.

        Asked before the first sync of its accounts: a file missing then is a mistake in the
        config (a typo in ``path``), not an outage; once an account was read, a vanished file is
        a failed read like any other (the account goes stale, nothing is judged on it).
        """
        if self.path.exists():
            return None
        return f"names {self.path}, which does not exist"

    def _fail(self, where: str, cause: str) -> ReadError:
        place = f"{self.path}{' ' + where if where else ''}"
        return ReadError(ReadErrorKind.SOURCE, f"book '{self.id}': {place}: {cause}")

    # Checked four times a second: a stat is cheap, and a change must reach a sync within 1 s.
    watch_interval = 0.25

    def change_token(self) -> str | None:
        """The fingerprint of every position in the file, re-read only when its stat changed.

        A rewrite with the same positions keeps the token, so it triggers no sync (and no
        follow-up "book settled" sync); a file that does not parse (half written) gets a digest of
        its bytes, so the sync that reports it still happens.
        """
        try:
            stat = self.path.stat()
        except OSError:
            return None
        signature = f"{stat.st_mtime_ns}:{stat.st_size}"
        if signature != self._stat:
            try:
                data, status = read_regular_file(self.path)
            except OSError:
                return None
            try:
                token = self._parsed(data, status, None).fingerprint
            except ReadError:
                token = "bytes:" + hashlib.sha1(data).hexdigest()
            self._stat, self._token = signature, token
        return self._token

    def read(self, account: str | None) -> BookSnapshot:
        try:
            data, status = read_regular_file(self.path)
        except FileNotFoundError:
            raise self._fail("", "file not found") from None
        except NotRegularFile as exc:
            raise self._fail("", f"is {exc.kind}, not a regular file: a book must be a file") from None
        except OSError as exc:
            raise self._fail("", f"cannot be read ({exc.strerror or exc})") from None
        return self._parsed(data, status, account)

    def _parsed(self, data: bytes, status: os.stat_result, account: str | None) -> BookSnapshot:
        """The snapshot of these bytes, parsed once: the same file read again is not parsed again.

        Keyed on the file's size, modification time and a digest of its content, so a rewrite
        within the clock's granularity that keeps the size is a change all the same. The watcher
        (``account`` None) and a sync share a parse when the book has no account column.
        """
        if "account" not in self.config.fields:
            account = None
        key = (status.st_size, status.st_mtime_ns, hashlib.sha1(data).digest(), account)
        cached = self._snapshots.get(account)
        if cached is not None and cached[0] == key:
            return cached[1]
        self.parses += 1
        with built_to_stay():
            snapshot = self._lines(data, account).snapshot(datetime.fromtimestamp(status.st_mtime, UTC))
        if len(self._snapshots) > 64:  # one per account of the book; a bound all the same
            self._snapshots.clear()
        self._snapshots[account] = (key, snapshot)
        return snapshot

    def _lines(self, data: bytes, account: str | None) -> LineReader:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise self._fail("", "is not UTF-8 text") from None
        return self._csv(text, account) if self.format == "csv" else self._json(text, account)

    def _json(self, text: str, account: str | None) -> LineReader:
        try:
            payload: Any = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise self._fail(f"line {exc.lineno}", f"is not valid JSON ({exc.msg})") from None
        try:
            return positions_from_json(payload, self.config, account)
        except PayloadError as exc:
            where = exc.where
            if exc.index is not None:
                # "line 7 (positions[1])": the line to open the file at, and the entry's path.
                key = list_key(self.config) if isinstance(payload, dict) else ""
                line = entry_line(text, key, exc.index)
                if line is not None:
                    where = f"line {line} ({exc.where})"
            raise self._fail(where, exc.cause) from None

    def _csv(self, text: str, account: str | None) -> LineReader:
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
        lines = LineReader(self.config)
        by_account = account is not None and "account" in self.config.fields
        if not by_account and self._csv_at_once(text, reader.fieldnames, lines):
            return lines
        for record in reader:
            line = reader.line_num
            clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in record.items()}
            if not any(v for v in clean.values() if isinstance(v, str)):
                continue
            if not belongs(clean, self.config, account):
                continue
            try:
                lines.add(clean, f"line {line}")
            except RecordError as exc:
                raise self._fail(f"line {line}", str(exc)) from None
        return lines

    def _csv_at_once(self, text: str, header: Sequence[str], lines: LineReader) -> bool:
        """Read the usual CSV book a column at a time (``LineReader.add_columns``); False if not.

        Only when each record is one physical line, so that record ``n`` is line ``n + 1``, the
        line the line-by-line read names: no quote character (a quoted field may span lines), no
        blank line inside (the reader skips it), every row as wide as the header. Anything else,
        and anything ``add_columns`` refuses, is left to the line-by-line read, untouched.
        """
        if '"' in text:
            return False
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error:
            return False
        while rows and not rows[-1]:
            rows.pop()  # blank lines at the end hold no record
        body = rows[1:]
        if set(map(len, body)) != {len(header)}:
            return False
        # A record's columns by name as the line-by-line read sees them: a ``dict`` over the
        # header (a repeated name keeps its first place and its last value), then names stripped.
        placed = {name: index for index, name in enumerate(header)}
        columns = {name.strip(): index for name, index in placed.items()}
        symbol, quantity = (
            columns[self.config.field_name("symbol")],
            columns[self.config.field_name("quantity")],
        )
        price = columns.get(self.config.field_name("average_price"))
        return lines.add_columns(
            list(map(itemgetter(symbol), body)),
            list(map(itemgetter(quantity), body)),
            [None] * len(body) if price is None else list(map(itemgetter(price), body)),
            line_labels(len(body)),
        )


def open_file_book(config: BookConfig, secrets: Secrets, config_path: Path | None) -> FileBook:
    return FileBook(config)


KIND = BookKind(
    name="file",
    label="file (JSON or CSV)",
    what="a file book",
    options=(
        Option(
            "path",
            Path,
            "the JSON or CSV file your system writes, relative to the config file",
            required=True,
            example="positions.json",
        ),
        Option(
            "format",
            str,
            "only when the file's extension does not say",
            choices=("json", "csv"),
            example="from the file name",
        ),
        Option(
            "list_key", str, "for a JSON object: the key holding the list of positions", default="positions"
        ),
    ),
    location="path",
    open=open_file_book,
)
