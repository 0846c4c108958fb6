"""The codes TWS sends on its error channel, and how the IB adapter words a failed connection.

TWS uses one message for errors, warnings and plain notices alike; most of what arrives on a
healthy connection is chatter (data farms connecting, OK, idle). Which codes end a connection,
which only mean stale positions, which touch prices alone and which mean nothing is a table of
IB's, kept here apart from the connection that acts on it, together with the filter that keeps
the client library from logging the same codes at ERROR before the adapter has judged them, and
the ``Failure`` a connection carries through an outage as the one sentence the user sees.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from position_sync.app.errors import ReadErrorKind

CLIENT_ID_IN_USE = 326
CANNOT_CONNECT = 502
NOT_CONNECTED = 504
CONNECTIVITY_LOST = 1100
DATA_LOST = 1101
DATA_MAINTAINED = 1102
SOCKET_RESET = 1300
# "Connectivity between TWS and server is broken. It will be restored automatically." The same
# news as 1100 in a 21xx warning's clothes; TWS reports the restore with 1101/1102 as for 1100.
# Should it only say that its data farms are connected again, that ends a 2110 as well: the farms
# are reached through the same server link, and the positions are downloaded afresh either way.
SERVER_CONNECTIVITY_BROKEN = 2110
CONNECTIVITY_CODES = frozenset({CONNECTIVITY_LOST, SERVER_CONNECTIVITY_BROKEN})
FARM_OK_CODES = frozenset({2104, 2106, 2158})
# Notices rather than errors: data farms OK, inactive or connecting (2104, 2106, 2107, 2108, 2119,
# 2158), historical-data and scanner chatter (165), order-message notes (399), delayed or
# competing-session market data (10167, 10197). IB sends several on every connect.
NOTICE_CODES = frozenset({165, 399, 2104, 2106, 2107, 2108, 2119, 2158, 10167, 10197})


def is_notice(code: int) -> bool:
    """Codes that say all is well (or idle): logged at DEBUG, no effect on the account."""
    return code in NOTICE_CODES


def is_price_warning(code: int) -> bool:
    """The other 21xx warnings: a data farm broken (2103, 2105, 2157), an account-data stream
    unsubscribed (2100) and the like. They can leave prices missing or late but do not touch the
    position stream, so the account stays readable; each is logged once per connection."""
    return 2100 <= code < 2200 and code not in NOTICE_CODES and code not in CONNECTIVITY_CODES


class QuietLibraryLog(logging.Filter):
    """Demote the client library's own connection chatter to DEBUG.

    ib_async logs every refused reconnect, every 1100/1102 and every position at ERROR or INFO; the
    adapter reports connection life itself, once per outage, so without this IB's nightly restart
    would fill the log with one error per retry.
    """

    HANDLED = frozenset(
        {
            CLIENT_ID_IN_USE,
            CANNOT_CONNECT,
            NOT_CONNECTED,
            CONNECTIVITY_LOST,
            SERVER_CONNECTIVITY_BROKEN,
            DATA_LOST,
            DATA_MAINTAINED,
            SOCKET_RESET,
        }
    )
    _CODE = re.compile(r"^(?:Error|Warning) (\d+),")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.INFO or record.name.endswith(".client"):
            quiet = True
        else:
            match = self._CODE.match(record.getMessage())
            code = int(match[1]) if match is not None else None
            quiet = code is not None and (code in self.HANDLED or is_notice(code) or is_price_warning(code))
        if not quiet:
            return True
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # Demoting alone is not enough: handlers do not look at the logger's level again, so a
        # demoted line would still print at the default verbosity. Kept only when debugging.
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_LIBRARY_LOGGERS = ("client", "wrapper", "ib")


def quieten_library_log(library: str) -> None:
    """Put the filter on the loggers of the client library named ``library`` (once each)."""
    for name in _LIBRARY_LOGGERS:
        library_log = logging.getLogger(f"{library}.{name}")
        if not any(isinstance(f, QuietLibraryLog) for f in library_log.filters):
            library_log.addFilter(QuietLibraryLog())


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the connection is unusable, as the user is told: kind, sentence, user-fixable or not."""

    kind: ReadErrorKind
    reason: str
    needs_user: bool = False


class AttemptFailed(Exception):
    """One connection attempt failed; ``needs_user`` marks a cause only the user can remove."""

    def __init__(self, kind: ReadErrorKind, reason: str, needs_user: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.needs_user = needs_user
