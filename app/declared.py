"""Reading an extension's declaration from its module, the same way for brokers and book kinds.

A registry is a dict of names to module paths, one line per extension; the module declares
itself in one attribute (``SPEC`` for a broker, ``KIND`` for a book kind). The module is imported
only when its name is asked for, so an unused broker's client library is never loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


D = TypeVar("D", bound=Named)


def declaration(registry: Mapping[str, str], name: str, attribute: str, kind: type[D]) -> D:
    """``registry[name]``'s ``attribute``; ``KeyError`` carrying the config's sentence for an
    unknown name, ``TypeError`` for a module that declares something else."""
    if name not in registry:
        raise KeyError(f"must be one of {', '.join(sorted(registry))}, not '{name}'")
    declared = getattr(importlib.import_module(registry[name]), attribute, None)
    if not isinstance(declared, kind) or declared.name != name:
        raise TypeError(f"{registry[name]}.{attribute} must be a {kind.__name__} named '{name}'")
    return declared
