"""Which of ccxt's modules the desktop bundle ships: the registered exchanges', not ccxt's 110.

ccxt's two package ``__init__`` files import every exchange it supports, sync and async, and
PyInstaller's analysis follows them: ~430 modules and 9 MB of the archive for the two or three
exchanges the brokers use. The program never runs those ``__init__`` files (``brokers/
ccxt_import.py`` registers the packages without executing them and imports one exchange's module),
so the bundle needs only what that import path loads. This module works that set out from the
brokers' own hidden imports, so an exchange broker added to the registry needs no spec change:

* **kept** (allowed in the bundle; PyInstaller ships those of them its analysis reaches): every
  ``ccxt.*`` module that importing the named modules loads, the way the program imports them
  (``exchange_class(id)`` for ``ccxt.async_support.<id>``, in a child process so the build's
  interpreter is not touched); that brings the exchange's ``ccxt.abstract.<id>``, a parent
  class (``binanceusdm`` is a ``binance``) and whatever ``static_dependencies`` they import.
  All of ``ccxt.base`` and ``ccxt.async_support.base`` too, whether the import loaded them or
  not: base methods import some helpers inside functions, and the packages are small (0.3 MB).
* **excluded**: every other module of the installed package, as few names as cover them (a whole
  unused package such as ``ccxt.pro`` is one name), for the spec's ``excludes``.

A program that then asks a ccxt package for a name it has not loaded (``ccxt.exchanges``, say)
runs the real ``__init__``, which fails in the bundle on the first exchange left out: only the
``exchange_class`` path is supported frozen, and the self-check walks it for every exchange.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from position_sync.self_check import CCXT_EXCHANGES
from position_sync.self_check import ccxt_exchange_ids as exchange_ids

TOP = "ccxt"
# Shipped with any exchange: the packages the exchange modules live in (their __init__ files are
# kept but never run) and, whole, the base classes with every helper their methods import late.
PACKAGES = ("ccxt", "ccxt.async_support", "ccxt.abstract")
WHOLE = ("ccxt.base", "ccxt.async_support.base")

# Run in a child process with the checkout first on sys.path: import the exchanges' classes and
# the other named ccxt modules the way the program does; print every ccxt module that came along.
_CLOSURE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
from position_sync.brokers.ccxt_import import exchange_class
for exchange_id in json.loads(sys.argv[2]):
    exchange_class(exchange_id)
for name in json.loads(sys.argv[3]):
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m == "ccxt" or m.startswith("ccxt."))))
"""


@dataclass(frozen=True)
class Selection:
    """The ccxt modules the bundle may ship and the names that exclude the rest."""

    kept: frozenset[str]
    excludes: tuple[str, ...]


def named_ccxt(named: Iterable[str]) -> list[str]:
    """The ccxt modules among a list of hidden imports, in their order."""
    return [name for name in named if name == TOP or name.startswith(TOP + ".")]


def installed_modules(top: str = TOP) -> set[str]:
    """Every module and package of the installed ``top``, read from its files: importing the
    package to walk it would run the ``__init__`` this whole exercise avoids."""
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return set()
    found = {top}
    for location in spec.submodule_search_locations:
        folder = Path(location)
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if "__pycache__" in parts or not all(part.isidentifier() for part in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            for depth in range(1, len(parts) + 1):  # folders without __init__ are namespace packages
                found.add(".".join((top, *parts[:depth])))
    return found


def imported_closure(named: list[str], root: Path, python: str = sys.executable) -> set[str]:
    """The ccxt modules that importing ``named`` the program's way loads (child process)."""
    ids = exchange_ids(named)
    others = [name for name in named if name.removeprefix(CCXT_EXCHANGES) not in ids]
    result = subprocess.run(
        [python, "-c", _CLOSURE, str(root), json.dumps(ids), json.dumps(others)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {', '.join(named)} failed:\n{result.stderr}")
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _under(name: str, packages: Iterable[str]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def minimal_excludes(installed: set[str], kept: set[str]) -> list[str]:
    """The fewest names that exclude every installed module outside ``kept``: a package is named
    once when nothing under it is kept, its modules one by one otherwise."""
    parents_of_kept = {".".join(k.split(".")[:depth]) for k in kept for depth in range(1, k.count(".") + 2)}
    excludes = []
    for name in sorted(installed - kept):
        if name in parents_of_kept:
            continue  # a package something kept lives in: exclude below it instead
        parent = name.rpartition(".")[0]
        if parent and parent not in parents_of_kept:
            continue  # its package is excluded whole
        excludes.append(name)
    return excludes


def select(named: Iterable[str], root: Path, python: str = sys.executable) -> Selection:
    """What to ship of ccxt for the brokers' hidden imports ``named`` (the registry's list)."""
    wanted = named_ccxt(named)
    installed = installed_modules()
    if not wanted:
        return Selection(frozenset(), (TOP,) if installed else ())
    closure = imported_closure(wanted, root, python)
    kept = {m for m in installed if m in PACKAGES or _under(m, WHOLE)} | (closure & installed)
    return Selection(frozenset(kept), tuple(minimal_excludes(installed, kept)))


def unless_named(excludes: Iterable[str], named: Iterable[str]) -> list[str]:
    """``excludes`` without any a broker asks for by name (itself or a module inside it): a
    broker that needs an excluded optional library (coincurve for secp256k1 signing, say)
    declares it in its hidden imports and gets it."""
    asked = list(named)
    return [e for e in excludes if not any(n == e or n.startswith(e + ".") for n in asked)]
