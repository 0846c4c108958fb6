"""What may be shown of a URL: every sentence and log line that names one goes through here.

URLs reach messages from many places (a book's address, a broker's ``api_root``, the HTTP
client libraries' own debug lines), and those messages end up on screen, in log files and in
stored ``sync_failed`` events. Refusing credentials at config check is the first line; masking
them wherever a URL is written is the second, for anything the first let through.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"
# Query parameters whose value is a credential by name (api_key, access_token, sig, X-Amz-...).
_SECRET_PARAM = re.compile(r"token|key|secret|pass|pwd|auth|sig|session|credential|jwt|code", re.I)
# A URL inside free text, up to the first character that cannot be part of it in a log line.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
# urllib3's debug line names the path and query without the host: "GET /path?token=x HTTP/1.1".
_REQUEST_LINE = re.compile(r'(\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) )(/[^\s"]*)')


def url_has_credentials(url: str) -> bool:
    """True when a URL carries a user name or password (``http://user:pw@host/``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.username is not None or parts.password is not None


def _mask_query(query: str) -> str:
    # Parameter by parameter, as written: only the values of secret-looking names change.
    return "&".join(
        f"{name}={MASK}" if sep and _SECRET_PARAM.search(unquote_plus(name)) else f"{name}{sep}{value}"
        for name, sep, value in (part.partition("=") for part in query.split("&"))
    )


def mask_url(url: str) -> str:
    """The URL as it may be shown: user information and secret-looking query values replaced."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
        query = _mask_query(parts.query) if parts.query else ""
        # The fragment is never sent to the server, and may hold a token (#access_token=...).
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "(a URL that cannot be parsed)"


def _mask_path(path: str) -> str:
    route, sep, query = path.partition("?")
    return f"{route}?{_mask_query(query)}" if sep else route


def mask_urls_in(text: str) -> str:
    """Free text with every URL in it, and every HTTP request line, masked."""
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _REQUEST_LINE.sub(lambda m: m.group(1) + _mask_path(m.group(2)), text)


class RedactingFilter(logging.Filter):
    """Masks URLs in every record a handler writes, our own and the HTTP libraries' alike.

    Set on the handlers, not on loggers: a filter on a logger does not see records that
    ``urllib3`` or ``requests`` log through their own loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: leave it to the handler
            return True
        masked = mask_urls_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def redact_logging(logger: logging.Logger | None = None) -> None:
    """Put one ``RedactingFilter`` on every handler of ``logger`` (the root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
