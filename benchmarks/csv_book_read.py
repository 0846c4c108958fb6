"""Reading a 100,000-line CSV book (``FileBook.read``) vs its floor.

The floor, in the same run on the same file: read the bytes, split them with ``csv.reader`` and
build a dict of Decimals (symbol to quantity and average price), the cyclic GC paused as the
book pauses it. Floor and book alternate, each a fresh ``FileBook`` so that every read parses;
the medians and their ratio are printed. Asserts nothing.
"""

from __future__ import annotations

import csv
import gc
import io
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from position_sync.app.books import FileBook
from position_sync.app.config import BookConfig

N = 100_000
ROUNDS = 5


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="position-sync-book-") as temporary:
        path = Path(temporary) / "book.csv"
        lines = [f"NSE:SYM{i:06d},{i % 500 + 1},{100 + i % 997}.{i % 100:02d}\n" for i in range(N)]
        path.write_text("symbol,quantity,average_price\n" + "".join(lines), encoding="utf-8")
        config = BookConfig("bot", "file", path=path)
        floors, reads = [], []
        count = 0
        for _ in range(ROUNDS):
            gc.disable()  # as the book pauses it while it parses: like is compared with like
            start = time.perf_counter()
            rows = csv.reader(io.StringIO(path.read_bytes().decode()))
            next(rows)
            table = {row[0]: (Decimal(row[1]), Decimal(row[2])) for row in rows}
            floors.append(time.perf_counter() - start)
            gc.enable()
            del table
            book = FileBook(config)
            start = time.perf_counter()
            count = len(book.read(None).positions)
            reads.append(time.perf_counter() - start)
    f, r = statistics.median(floors), statistics.median(reads)
    print(f"lines:                                 {count:,} ({path.name}, {N:,} rows)")
    print(f"floor (csv.reader + dict of Decimals): {f * 1000:7.1f} ms")
    print(f"FileBook.read, parsing:                {r * 1000:7.1f} ms   {r / f:4.2f}x the floor")


if __name__ == "__main__":
    main()
