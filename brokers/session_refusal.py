"""What HTTP brokers with expiring sessions share: the refused-session memory and network words.

Kite and Kotak both refuse a session until the user logs in again. Sending the refused one
again (every interval, from every ``sync --once`` that cron starts) only repeats the refusal, so
its digest is kept in the data directory and the adapter sends nothing while the stored session
is still that one, watching the keyring (no network) for the one ``position-sync login`` stores.
The network sentence names the innermost cause behind ``requests``' wrappers.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import logging
import os
import re
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from position_sync.app.broker import PushHandler
from position_sync.app.secrets import SecretUnavailable

log = logging.getLogger(__name__)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def wait_for_new_secret(
    read: Callable[[], str | None],
    executor: Executor,
    *,
    is_new: Callable[[str], bool],
    handlers: list[PushHandler],
    poll_seconds: float,
    closed: Callable[[], bool],
    owner: str,
) -> None:
    """Look at the stored session every ``poll_seconds`` (``read`` runs in ``executor``: a
    keyring may block); once ``is_new`` says it is not the refused one, push and return.

    The push makes the account sync at once after a login instead of at its next interval.
    """
    loop = asyncio.get_running_loop()
    while not closed():
        await asyncio.sleep(poll_seconds)
        try:
            stored = await loop.run_in_executor(executor, read)
        except SecretUnavailable:
            continue  # locked for now; the keyring may be unlocked at the next look
        if stored and is_new(stored):
            for handler in list(handlers):
                try:
                    handler()
                except Exception:  # one broken subscriber must not stop the others
                    log.exception("push handler of %s failed", owner)
            return


class RefusedSecret:
    """The digest of the session a broker last refused for one account, in the data directory.

    A file per account (``kite/<account>.refused-token``, ``kotak/<account>.refused-session``)
    holding a SHA-256 hex digest: enough to recognise the same session again, useless to anyone
    who reads it. Written on a refusal, removed after a read succeeds with another session. A
    file that cannot be read or written only costs the one refused request this exists to save,
    so its errors are logged, never raised: they must not turn a good read into a failed one.
    """

    def __init__(self, data_dir: Path, broker: str, account_id: str, suffix: str) -> None:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", account_id)
        self.path = data_dir / broker / f"{name}.{suffix}"

    def load(self) -> str | None:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("could not read %s: %s", self.path, exc)
            return None
        return text if re.fullmatch(r"[0-9a-f]{64}", text) else None

    def save(self, value: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_text(value + "\n", encoding="ascii")
            os.replace(partial, self.path)
        except OSError as exc:
            log.warning("could not remember the refused session in %s: %s", self.path, exc)

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", self.path, exc)


def network_cause(exc: BaseException, host: str) -> str:
    """The innermost reason behind requests' nested wrappers, in words a trader can act on."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = inner or current.__cause__ or current.__context__
    root = seen[-1]
    if isinstance(root, http.client.RemoteDisconnected):
        return f"{host} closed the connection without answering"
    if isinstance(root, ConnectionRefusedError) or "refused" in str(root).lower():
        return f"{host} refused the connection"
    if isinstance(root, ConnectionResetError):
        return f"the connection to {host} was reset"
    if isinstance(root, socket.gaierror) or "resolve" in str(root).lower():
        return f"the name in {host} could not be resolved"
    text = " ".join(str(root).split()).rstrip(".")
    text = text if len(text) <= 160 else text[:159] + "…"
    return f"the connection to {host} failed ({type(root).__name__}: {text})"
