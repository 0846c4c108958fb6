"""One import package: Position Sync never takes the names ``app``, ``ui``, ``brokers`` or
``resources`` from a trading system installed in the same environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import importlib, pkgutil, sys
import app  # the trader's own package, first on the path
import position_sync
failed = []
for module in pkgutil.walk_packages(position_sync.__path__, "position_sync."):
    if module.name.endswith("__main__"):
        continue
    importlib.import_module(module.name)
assert app.WHO == "trader", app.__file__
ours = sorted(n for n in sys.modules if n.split(".")[0] in {"ui", "brokers", "resources"})
assert not ours, ours
assert sys.modules["app"] is app
print("ok", len([n for n in sys.modules if n.startswith("position_sync.")]))
"""


def test_a_traders_own_app_package_is_never_shadowed(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text('WHO = "trader"\n')
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok ")
    assert int(done.stdout.split()[1]) > 40, "every module of the core and the adapters was imported"
