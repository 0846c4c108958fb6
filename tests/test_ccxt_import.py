"""``ccxt_import.exchange_class`` in a process that has Qt: the desktop window's situation.

PySide6 hooks every import and inspects each imported module (``inspect.unwrap`` asks it for
``__wrapped__``). Asked of ccxt's deferred package while ``exchange_class`` held its lock, that
hung the process on the first exchange account's sync. Each case runs in a fresh interpreter:
which ccxt modules are loaded is process-wide state the rest of the suite changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import PySide6.QtCore
from position_sync.brokers.ccxt_import import exchange_class
exchange = exchange_class("bybit")({"enableRateLimit": True})
loaded = sorted(m for m in sys.modules if m.startswith("ccxt."))
print(json.dumps({"id": exchange.id, "loaded": loaded}))
"""


def test_exchange_class_with_qt_imported_loads_one_exchange() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["id"] == "bybit"
    assert "ccxt.async_support.bybit" in found["loaded"]
    assert "ccxt.async_support.kraken" not in found["loaded"] and "ccxt.kraken" not in found["loaded"]
    assert len(found["loaded"]) < 60, found["loaded"]
