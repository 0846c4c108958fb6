"""The one connection that hears a shared store's hints: ``LISTEN`` on its own, outside the pool.

A ``LISTEN`` belongs to a database session: a connection borrowed from SQLAlchemy's pool goes
back to it (and may be reset, recycled or handed to a statement in a transaction), and the
subscription silently goes with it. So the listener owns one psycopg 3 connection in autocommit
mode on a daemon thread of its own, and nothing else ever uses it.

A notification is a hint and nothing more: PostgreSQL does not keep it for a listener that was
away. So whenever the connection is lost (the server restarted, a network drop, an idle backend
terminated by an administrator) the listener reconnects with a backoff, listens again, and only
then calls ``on_reconnect``: its consumer re-reads everything, because whatever changed while it
was away was announced to nobody. ``on_reconnect`` is called after the first connection too, so
what changed between the consumer's first read and the first ``LISTEN`` is not missed either.

A connection can also die without a word (a cable pulled, a NAT forgetting it): TCP keepalives
and a ``SELECT 1`` every ``health_seconds`` notice it within a bounded time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from position_sync.app.backoff import Backoff
from position_sync.app.store.revisions import Hint, decode

log = logging.getLogger(__name__)

# Reconnecting after a loss: quickly at first, then at most every 30 s.
RECONNECT = Backoff(initial=0.5, cap=30.0)
# How often the quiet connection proves it is alive, and how long one wait for hints lasts (also
# how soon ``close`` is noticed).
HEALTH_SECONDS = 15.0
WAIT_SECONDS = 0.25
CONNECT_TIMEOUT = 10

HintCallback = Callable[[Hint], object]
StateCallback = Callable[[bool, str | None], object]


def conninfo(url: str, application_name: str) -> str:
    """What ``psycopg.connect`` takes, from the store's SQLAlchemy URL (``postgresql+psycopg2``,
    ``postgresql+psycopg`` or plain ``postgresql``), with the connection named and kept alive."""
    from psycopg.conninfo import make_conninfo
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"only a PostgreSQL store can be listened to, not {parsed.get_backend_name()}")
    values: dict[str, Any] = {
        k: v
        for k, v in parsed.translate_connect_args(username="user", database="dbname").items()
        if v is not None
    }
    for key, value in parsed.query.items():
        values[key] = value[-1] if isinstance(value, tuple) else value
    values.update(
        application_name=application_name[:63],
        connect_timeout=values.get("connect_timeout", CONNECT_TIMEOUT),
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )
    return make_conninfo("", **{k: str(v) for k, v in values.items()})


class HintListener:
    """Hears ``channels`` of the store at ``url`` and hands each decoded hint to ``on_hint``.

    Every callback runs on the listener's own thread: a consumer on an asyncio loop hops over
    with ``loop.call_soon_threadsafe``. ``on_state(connected, reason)`` follows the connection
    (``reason`` is the failure's sentence when it is lost). A payload this version cannot read
    (a newer writer's, or garbage) is logged and dropped: the revision poll still catches up.
    """

    def __init__(
        self,
        url: str,
        channels: Sequence[str],
        on_hint: HintCallback,
        *,
        on_reconnect: Callable[[], object] | None = None,
        on_state: StateCallback | None = None,
        application_name: str = "position-sync listener",
        reconnect: Backoff = RECONNECT,
        health_seconds: float = HEALTH_SECONDS,
    ) -> None:
        if not channels:
            raise ValueError("a listener needs at least one channel")
        self._conninfo = conninfo(url, application_name)
        self.channels = tuple(channels)
        self._on_hint = on_hint
        self._on_reconnect = on_reconnect
        self._on_state = on_state
        self._reconnect = reconnect
        self._health = health_seconds
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.backend_pid: int | None = None
        self.connections = 0  # how many times LISTEN was put in place (1 + reconnects)
        self.dropped = 0  # payloads that were not a hint this version reads

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="position-sync-listener", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        """Whether the listener is listening within ``timeout`` seconds (tests, start-up)."""
        return self._connected.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening; returns within about ``WAIT_SECONDS`` unless a connect is under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._listen_until_lost()
                return  # stopped
            except Exception as exc:  # any loss: the server, the network, the session killed
                reason = _sentence(exc)
                was = self._connected.is_set()
                self._connected.clear()
                self.backend_pid = None
                attempt = 1 if was else attempt + 1
                if was:
                    log.warning("the store's change hints stopped (%s); reconnecting", reason)
                else:
                    log.debug("listening to the store failed again (%s)", reason)
                self._state(False, reason)
            delay = self._reconnect.delay(attempt, random.random)
            self._stop.wait(delay)

    def _listen_until_lost(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            for channel in self.channels:
                connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.backend_pid = connection.info.backend_pid
            self.connections += 1
            self._connected.set()
            log.info("listening to the store's hints on %s", ", ".join(self.channels))
            self._state(True, None)
            if self._on_reconnect is not None:
                self._guard("on_reconnect", self._on_reconnect)
            checked = time.monotonic()
            while not self._stop.is_set():
                for note in connection.notifies(timeout=WAIT_SECONDS):
                    self._deliver(note.channel, note.payload)
                    if self._stop.is_set():
                        break
                if time.monotonic() - checked >= self._health:
                    connection.execute("SELECT 1")
                    checked = time.monotonic()
        self._connected.clear()

    def _deliver(self, channel: str, payload: str) -> None:
        hint = decode(channel, payload)
        if hint is None:
            self.dropped += 1
            log.warning("a hint on %s was not understood and is ignored: %.200r", channel, payload)
            return
        self._guard("on_hint", lambda: self._on_hint(hint))

    def _state(self, connected: bool, reason: str | None) -> None:
        if self._on_state is not None:
            self._guard("on_state", lambda: self._on_state(connected, reason) if self._on_state else None)

    @staticmethod
    def _guard(name: str, call: Callable[[], object]) -> None:
        """A consumer's failure is logged, never taken for a lost connection."""
        try:
            call()
        except Exception:
            log.exception("the listener's %s callback failed", name)


def _sentence(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
