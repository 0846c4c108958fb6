"""One attempt at the API handshake with TWS, and the sentence for each way it can fail.

``connectAsync`` alone cannot tell a refusal from slowness: TWS answers a client id in use with
an error message, and a host it does not trust by closing the socket before its handshake reply,
while the call itself just waits out its timeout. So the handshake is raced against ``refused``,
a future the connection's error handlers complete, and the failure is named by what came first;
the user then reads "client_id in use" or "not among its trusted IPs", not "timed out".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from position_sync.app.errors import ReadErrorKind
from position_sync.brokers.ibkr_errors import AttemptFailed, Failure


async def handshake(
    ib: Any,
    host: str,
    port: int,
    client_id: int,
    timeout: float,
    refused: asyncio.Future[None],
    refusal: Callable[[], Failure | None],
) -> None:
    """Connect ``ib`` read-only within ``timeout``, or raise ``AttemptFailed`` saying why not.

    ``refusal`` gives what the error handlers made of a refusal seen meanwhile, if anything.
    """
    where = f"{host}:{port}"
    connect = asyncio.ensure_future(
        ib.connectAsync(
            host,
            port,
            clientId=client_id,
            timeout=timeout,
            readonly=True,
        )
    )
    closed_early = False
    try:
        await asyncio.wait({connect, refused}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        # read before cancelling: cancelling closes the socket and would look the same
        closed_early = refused.done()
    finally:
        if not connect.done():
            connect.cancel()
            # Wait for it to unwind without taking on its outcome: awaiting it under
            # suppress(BaseException) would also swallow a cancellation of this task (close),
            # leaving the supervisor reconnecting and close waiting forever.
            await asyncio.wait({connect})
    error = refusal()
    if error is not None:
        raise AttemptFailed(error.kind, error.reason, error.needs_user)
    if connect.cancelled() or not connect.done():
        if closed_early:
            raise AttemptFailed(
                ReadErrorKind.NETWORK,
                f"TWS/IB Gateway at {where} closed the connection during the API handshake "
                f"(is client_id {client_id} already in use, or this computer not among its "
                f"trusted IPs?)",
            )
        raise AttemptFailed(
            ReadErrorKind.TIMEOUT,
            f"TWS/IB Gateway at {where} did not complete the connection and the first "
            f"position download within {timeout:g} s",
        )
    failure = connect.exception()
    if failure is not None:
        raise AttemptFailed(*connect_failure(failure, where, timeout))


def connect_failure(error: BaseException, where: str, timeout: float) -> tuple[ReadErrorKind, str]:
    """The kind and sentence of an error ``connectAsync`` raised itself."""
    if isinstance(error, ConnectionRefusedError):
        return (
            ReadErrorKind.NETWORK,
            f"cannot connect to TWS/IB Gateway at {where} (connection refused; is it running "
            f"with the API enabled on that port?)",
        )
    if isinstance(error, TimeoutError):
        return (
            ReadErrorKind.TIMEOUT,
            f"TWS/IB Gateway at {where} did not answer within {timeout:g} s",
        )
    if isinstance(error, OSError):
        return (ReadErrorKind.NETWORK, f"cannot connect to TWS/IB Gateway at {where}: {error}")
    return (ReadErrorKind.NETWORK, f"connecting to TWS/IB Gateway at {where} failed: {error!r}")
