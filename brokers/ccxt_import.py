"""ccxt's class for one exchange, without importing the other hundred.

``import ccxt.async_support`` runs two package ``__init__`` files that import every exchange ccxt
supports, sync and async: half a second and a few hundred modules before the first request,
and a frozen desktop build that must ship all of them. An account needs one exchange. So the
two packages are first registered empty (a module made from their spec, with their search
path, but not executed), the names ccxt's own modules import from the top package (its errors,
``Exchange``, ``__version__``) are put on it, and only the exchange's module is imported.

Nothing is lost for other code in the process: the first time anyone asks either package for a
name it does not have yet (``ccxt.async_support.bybit``, ``ccxt.exchanges``), the package's real
``__init__`` runs in place and the name is there, as if it had been imported the usual way.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

# Reentrant: an import hook may look a name up on a deferred package while exchange_class holds it.
_lock = threading.RLock()


def _deferred_package(name: str) -> ModuleType:
    """The package ``name`` registered with its search path, its ``__init__`` run on demand."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not installed as a package")
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    state = {"run": False}

    def complete(attribute: str) -> Any:
        """PEP 562: called only for names the module lacks; runs the real ``__init__`` once.

        Not for dunder names: tools probe modules for those (PySide6's import hook unwraps
        every imported module through ``inspect``, asking for ``__wrapped__``), and answering
        one by importing every exchange ccxt has, or waiting on the lock ``exchange_class``
        holds while it imports, would be wrong either way (the latter hung the window)."""
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        with _lock:
            if state["run"]:
                raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
            state["run"] = True
            loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules[name] = module
    return module


def _prepared() -> ModuleType:
    """The deferred ``ccxt`` package with the names ccxt's own modules import from it."""
    with _lock:
        top = _deferred_package("ccxt")
        if "Exchange" not in vars(top):
            errors = importlib.import_module("ccxt.base.errors")
            for name, value in vars(errors).items():
                if isinstance(value, type) and issubclass(value, Exception):
                    setattr(top, name, value)
            top.errors = errors  # type: ignore[attr-defined]
            try:
                top.__version__ = version("ccxt")  # type: ignore[attr-defined]
            except PackageNotFoundError:  # a frozen build without the distribution's metadata
                top.__version__ = "unknown"  # type: ignore[attr-defined]
            top.Exchange = importlib.import_module("ccxt.base.exchange").Exchange  # type: ignore[attr-defined]
        _deferred_package("ccxt.async_support")
        return top


def exchange_class(exchange_id: str) -> type[Any]:
    """``ccxt.async_support.<exchange_id>``'s class, importing only what that exchange needs."""
    _prepared()
    module = importlib.import_module(f"ccxt.async_support.{exchange_id}")
    exchange: type[Any] = getattr(module, exchange_id)
    return exchange


def ccxt_errors() -> ModuleType:
    """ccxt's exception classes (``ccxt.base.errors``), without loading any exchange."""
    _prepared()
    return importlib.import_module("ccxt.base.errors")
