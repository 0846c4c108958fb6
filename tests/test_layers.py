"""The layers of the design hold, checked on every import statement of the source.

- the core (``app``) imports neither the window, nor an adapter, nor the entry point;
- an adapter imports the core and its own broker family only (``kite``, ``kite_login`` and
  ``kite_payloads`` are one family), never the window, another broker or the entry point; the
  shared adapter modules (rate limiting, raw exchange rows, the refused-session memory of the
  HTTP brokers, and the ``ccxt_*`` base every exchange on ccxt is a venue of) are open to all;
- the window imports the core and, of the adapters, only their registry;
- the entry point and the wiring (``position_sync.cli``, ``position_sync.wiring``, ...) sit above
  all three and may import any of them.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "position_sync"
FOLDERS = {"app": "core", "brokers": "adapters", "ui": "window"}
SHARED_ADAPTER_MODULES = frozenset({"answer_memo", "rate_limit", "raw_fields", "session_refusal"})
SHARED_ADAPTER_FAMILIES = frozenset({"ccxt"})


def module_name(path: Path) -> str:
    """``app/store/models.py`` -> ``position_sync.app.store.models``; entry modules as they are."""
    relative = path.relative_to(REPO).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    if parts[0] == PACKAGE:
        return ".".join(parts)
    return ".".join([PACKAGE, *parts])


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in FOLDERS:
        return FOLDERS[parts[1]]
    return "entry"


def family_of(module: str) -> str:
    """The broker a module of ``brokers`` belongs to: the part of its name before ``_``."""
    return module.split(".")[2].split("_")[0] if len(module.split(".")) > 2 else ""


def imported(source: str, module: str) -> set[str]:
    """Every module of ours that ``source`` imports, at any depth, resolved to full names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            base = node.module
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, node.module])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == PACKAGE}


def broken_rule(importer: str, target: str) -> str | None:
    """Why ``importer`` may not import ``target``, or None when it may."""
    source_layer, target_layer = layer_of(importer), layer_of(target)
    if target == PACKAGE or source_layer == "entry" or source_layer == target_layer == "core":
        return None
    if target_layer == "entry":
        return "only the entry point may import the entry point"
    if source_layer == "core":
        return f"the core imports neither the window nor an adapter ({target_layer})"
    if source_layer == "adapters":
        if target_layer == "window":
            return "an adapter never imports the window"
        if target_layer == "adapters":
            name = target.split(".")[2] if len(target.split(".")) > 2 else ""
            if name in SHARED_ADAPTER_MODULES or family_of(target) in SHARED_ADAPTER_FAMILIES:
                return None
            if family_of(target) == family_of(importer):
                return None
            return "an adapter imports no other broker (and the registry imports none statically)"
        return None
    # the window
    if target_layer == "adapters" and not target.startswith(f"{PACKAGE}.brokers.registry"):
        return "the window reaches the adapters through their registry only"
    return None


def sources() -> list[Path]:
    files = [p for folder in FOLDERS for p in sorted((REPO / folder).rglob("*.py"))]
    files += sorted(p for p in (REPO / PACKAGE).glob("*.py") if not p.is_symlink())
    return [p for p in files if "migrations" not in p.parts]


def violations(files: dict[str, str]) -> list[str]:
    """``module name -> source`` in, one line per import that breaks a rule out."""
    found = []
    for module, source in files.items():
        for target in sorted(imported(source, module)):
            # ``from position_sync.app import domain`` names a module; a class name is harmless
            reason = broken_rule(module, target)
            if reason is not None:
                found.append(f"{module} imports {target}: {reason}")
    return found


def test_the_layers_hold() -> None:
    files = {module_name(path): path.read_text(encoding="utf-8") for path in sources()}
    assert len(files) > 80, "every module of the core, the adapters and the window was read"
    assert violations(files) == []


@pytest.mark.parametrize(
    ("module", "source", "words"),
    [
        ("position_sync.app.sync", "from position_sync.brokers.kite import KiteAdapter", "the core"),
        ("position_sync.app.config", "def f():\n    from position_sync.ui import window", "the core"),
        ("position_sync.app.cli2", "import position_sync.wiring", "entry point"),
        ("position_sync.brokers.kite", "from position_sync.brokers.ibkr import create", "no other broker"),
        ("position_sync.brokers.registry", "from position_sync.brokers import simulated", "no other broker"),
        ("position_sync.brokers.ibkr", "from position_sync.ui.window import MainWindow", "window"),
        ("position_sync.ui.screenshot", "from position_sync.brokers.simulated import x", "registry only"),
        ("position_sync.ui.controller", "from position_sync.wiring import build_runtime", "entry point"),
    ],
)
def test_each_rule_catches_its_violation(module: str, source: str, words: str) -> None:
    found = violations({module: source})
    assert found and words in found[0], found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("position_sync.brokers.kite", "from position_sync.brokers.kite_payloads import parse_orders"),
        ("position_sync.brokers.ibkr", "from position_sync.brokers.rate_limit import x"),
        ("position_sync.ui.settings_dialog", "from position_sync.brokers.registry import known_brokers"),
        ("position_sync.cli", "from position_sync.ui.main import run_window"),
        ("position_sync.app.sync", "from position_sync.app.broker import BrokerAdapter"),
    ],
)
def test_what_the_design_allows_passes(module: str, source: str) -> None:
    assert violations({module: source}) == []
