"""Reading a 100,000-line JSON book (``FileBook.read``) vs its floor, and reading it unchanged.

The floor, in the same run on the same file: read the bytes, ``json.loads`` them and build a
dict of Decimals (symbol to quantity and average price), the cyclic GC paused as the book
pauses it. Floor and book alternate, each a fresh
``FileBook`` so that every read parses; the medians and their ratio are printed. Goal: at most
2x. Then the read of an unchanged file by the same book: no parse at all, only the bytes read
and hashed (the content hash that keeps a same-size rewrite within the clock's granularity from
passing for no change). Asserts nothing.
"""

from __future__ import annotations

import gc
import json
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
        path = Path(temporary) / "book.json"
        lines = [
            {
                "symbol": f"NSE:SYM{i:06d}",
                "quantity": i % 500 + 1,
                "average_price": f"{100 + i % 997}.{i % 100:02d}",
            }
            for i in range(N)
        ]
        path.write_text(json.dumps({"positions": lines}), encoding="utf-8")
        config = BookConfig("bot", "file", path=path)
        floors, reads, again = [], [], []
        count = 0
        for _ in range(ROUNDS):
            gc.disable()  # as the book pauses it while it parses: like is compared with like
            start = time.perf_counter()
            document = json.loads(path.read_bytes())
            table = {
                p["symbol"]: (Decimal(p["quantity"]), Decimal(p["average_price"]))
                for p in document["positions"]
            }
            floors.append(time.perf_counter() - start)
            gc.enable()
            del document, table
            book = FileBook(config)
            start = time.perf_counter()
            count = len(book.read(None).positions)
            reads.append(time.perf_counter() - start)
            start = time.perf_counter()
            book.read(None)
            again.append(time.perf_counter() - start)
    f, r, a = statistics.median(floors), statistics.median(reads), statistics.median(again)
    print(f"lines:                                {count:,} ({path.name}, {N:,} entries)")
    print(f"floor (json.loads + dict of Decimals): {f * 1000:7.1f} ms")
    print(
        f"FileBook.read, parsing:               {r * 1000:7.1f} ms   {r / f:4.2f}x the floor (goal: at most 2x)"
    )
    print(f"FileBook.read, file unchanged:        {a * 1000:7.1f} ms   {a / f:4.2f}x the floor (not parsed)")


if __name__ == "__main__":
    main()
