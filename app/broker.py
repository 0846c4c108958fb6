"""What the core asks of a broker adapter, and how it reaches the catalogue of brokers.

The core (the sync worker, the config parser) works with any broker without naming one: an
adapter meets ``BrokerAdapter``, is built with an ``AdapterContext``, and the broker names and
their defaults come from a ``BrokerCatalog`` that the adapters' registry hands to the core when
it is imported (``use_brokers``). So the dependency points from the adapters to the core, never
back, and a new broker is a module of its own plus a line in the registry.

Adapters are read-only towards the broker: they fetch what it holds and may announce that
something changed; placing, modifying or cancelling orders is outside this protocol on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from position_sync.app.domain import BrokerSnapshot
from position_sync.app.options import Option
from position_sync.app.secrets import Secrets

PushHandler = Callable[[], None]


@runtime_checkable
class BrokerAdapter(Protocol):
    """What the sync worker needs of a broker.

    ``fetch`` returns the whole current picture or raises ``app.errors.ReadError`` (or its
    ``LoginRequired``); it never returns an empty snapshot for a failed read. ``on_push`` lets an
    adapter with a live feed ask for a sync of its account at once.
    """

    account_id: str

    async def fetch(self) -> BrokerSnapshot: ...

    def on_push(self, handler: PushHandler) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class AdapterContext:
    """What every adapter is built with besides its account: where to keep files, secrets, and
    what the adapters of one runtime share.

    ``shared`` holds resources the adapters of one runtime share, keyed by the broker module's
    name (``ibkr`` keeps its connections there, one per host, port and client id). A runtime
    builds one context for all its adapters, so they share; another runtime, even in the same
    process (the window rebuilding its runtime on new settings, a test), builds its own, so
    nothing of one outlives it in the other.
    """

    data_dir: Path
    secrets: Secrets
    shared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class LoginFailed(Exception):
    """A login that did not complete (no redirect in time, a refused request token): one sentence."""


@dataclass(frozen=True)
class LoginQuestion:
    """Something a broker's login asks the user to type (Kotak's TOTP, its MPIN).

    A login module may list its questions (``questions(account)``) in the order its ``login``
    asks them, so the window can ask them in a dialog and write the answers to the login
    command's input, one a line; ``secret`` answers are typed hidden and never shown again.
    """

    label: str
    secret: bool = False


@dataclass(frozen=True)
class BrokerSpec:
    """What a broker module declares about itself (its ``SPEC``), read by everything else.

    The parser checks an account's keys against ``options`` and starts from ``defaults``; the
    settings dialog, the self-check, the frozen build's hidden imports and the README's
    configuration reference are derived from it, so adding a broker is its module plus one line
    in ``brokers.registry``. ``defaults`` are account settings (``interval``...) this broker
    needs set differently from the general default. ``login`` names the module holding an
    interactive ``login(account, context, **io)`` and its ``LoginError``, for brokers whose
    sessions expire. ``hidden_imports`` are modules imported by name at run time, which the
    frozen build must be told about. ``refused`` names keys an account of this broker must never
    hold, each with the sentence saying why (a DEX account refuses a private key: the client
    library would sign with it on its own); the parser refuses them before anything else, for
    every command.
    """

    name: str
    title: str
    options: tuple[Option, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    login: str | None = None
    hidden_imports: tuple[str, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)

    @property
    def what(self) -> str:
        """How a sentence names one of its accounts: "a kite account", "an ibkr account"."""
        return f"{'an' if self.name[:1] in 'aeiou' else 'a'} {self.name} account"


class BrokerCatalog(Protocol):
    """The broker names the config may use and each one's declaration (the adapters' registry)."""

    def known_brokers(self) -> list[str]: ...

    def broker_spec(self, name: str) -> BrokerSpec: ...


_catalog: BrokerCatalog | None = None


def use_brokers(catalog: BrokerCatalog) -> None:
    """Called by the adapters' registry as it is imported; the entry point imports it first."""
    global _catalog
    _catalog = catalog


def broker_catalog() -> BrokerCatalog:
    if _catalog is None:
        raise RuntimeError(
            "no broker catalogue: import position_sync.brokers.registry before reading a config"
        )
    return _catalog
