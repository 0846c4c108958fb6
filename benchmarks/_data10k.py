"""A 10,000-position account for the window benchmarks: scenario, book and config in a folder.

Step 1 and step 2 differ only in last prices (every row changes, none moves between statuses);
about 1 % of the instruments are problems (phantom, untracked, quantity mismatch), as on a real
book, so the table has both loud and calm rows.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

COUNT = 10_000


def write(folder: Path, count: int = COUNT, steps: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    symbols = [f"NSE:SYM{i:05d}" for i in range(count)]
    qty = {s: rng.randint(1, 500) for s in symbols}
    avg = {s: round(rng.uniform(50, 5000), 2) for s in symbols}
    phantom = set(symbols[:20])
    untracked = set(symbols[20:40])
    mismatch = set(symbols[40:70])
    book = [
        {"symbol": s, "quantity": qty[s] + (5 if s in mismatch else 0), "average_price": avg[s]}
        for s in symbols
        if s not in untracked
    ]
    (folder / "book.json").write_text(json.dumps({"positions": book}), encoding="utf-8")
    lines = []
    for step in range(steps):
        lines.append("[[steps]]\npositions = [")
        for s in symbols:
            if s in phantom:
                continue
            price = round(avg[s] * (1 + 0.001 * (step + 1)), 2)
            lines.append(
                f'  {{ symbol = "{s}", quantity = "{qty[s]}", average_price = "{avg[s]}", last_price = "{price}" }},'
            )
        lines.append("]\n")
    (folder / "scenario.toml").write_text("\n".join(lines), encoding="utf-8")
    config = folder / "config.toml"
    config.write_text(
        """
[[books]]
id = "book"
kind = "file"
path = "book.json"

[[accounts]]
id = "big"
broker = "simulated"
scenario = "scenario.toml"
book = "book"
currency = "INR"
interval = 3600
confirm_syncs = 1
settle_seconds = 0
mass_change_min = 100000
""",
        encoding="utf-8",
    )
    return config
