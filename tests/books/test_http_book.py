"""The HTTP book against a local HTTP server: shapes, bearer token, every error."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.books.http import HttpBook, mask_url
from position_sync.app.config import BookConfig, parse_settings
from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.app.secrets import Secrets


class PositionsServer:
    """Serves ``GET /api/v1/positions``; the test sets status, body, delay and the expected token."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b"[]"
        self.content_type = "application/json"
        self.delay = 0.0
        self.token: str | None = None
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                time.sleep(server.delay)
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", server.content_type)
                    self.send_header("Content-Length", str(len(server.body)))
                    self.end_headers()
                    self.wfile.write(server.body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (the timeout test)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/positions"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, payload: Any) -> None:
        self.body = json.dumps(payload).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[PositionsServer]:
    s = PositionsServer()
    yield s
    s.close()


def make(server: PositionsServer, secrets: Secrets | None = None, **options: Any) -> HttpBook:
    return HttpBook(
        BookConfig("svc", "http", url=server.url, options=options), secrets or Secrets(environ={})
    )


def test_object_with_positions_list(server: PositionsServer) -> None:
    server.serve(
        {"positions": [{"symbol": "NSE:INFY", "quantity": 100, "average_price": 1500.25}], "as_of": "now"}
    )
    positions = make(server).read(None).positions
    assert [(p.instrument, p.quantity, p.average_price) for p in positions] == [
        ("NSE:INFY", Decimal(100), Decimal("1500.25"))
    ]
    assert server.requests[0]["path"] == "/api/v1/positions"
    assert server.requests[0]["accept"] == "application/json"


def test_plain_list_and_list_key(server: PositionsServer) -> None:
    server.serve([{"symbol": "A", "quantity": "0.1"}, {"symbol": "A", "quantity": "0.2"}])
    assert sum(p.quantity for p in make(server).read(None).positions) == Decimal("0.3")
    server.serve({"data": {"x": 1}, "items": [{"symbol": "B", "quantity": -3}]})
    assert [p.quantity for p in make(server, list_key="items").read(None).positions] == [Decimal(-3)]


def test_bearer_token_from_environment(server: PositionsServer) -> None:
    server.token = "s3cret"
    server.serve([{"symbol": "A", "quantity": 1}])
    book = make(server, Secrets(environ={"SVC_TOKEN": "s3cret"}), token_env="SVC_TOKEN")
    assert len(book.read(None).positions) == 1
    with pytest.raises(ReadError, match=r"no bearer token in the environment variable SVC_TOKEN"):
        make(server, Secrets(environ={}), token_env="SVC_TOKEN").read(None)
    with pytest.raises(ReadError, match="HTTP 401"):
        make(server, Secrets(environ={"SVC_TOKEN": "wrong"}), token_env="SVC_TOKEN").read(None)


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (500, b"{}", ReadErrorKind.HTTP, "HTTP 500"),
        (200, b"<html>Bad Gateway</html>", ReadErrorKind.MALFORMED, "not JSON"),
        (200, b'{"rows": []}', ReadErrorKind.MALFORMED, "'positions' list"),
        (
            200,
            b'[{"symbol": "A", "quantity": "many"}]',
            ReadErrorKind.MALFORMED,
            r"\[0\]: 'quantity' 'many' of A is not a number",
        ),
    ],
)
def test_errors_are_one_sentence(
    server: PositionsServer, status: int, body: bytes, kind: ReadErrorKind, text: str
) -> None:
    server.status, server.body = status, body
    with pytest.raises(ReadError, match=rf"book 'svc' \(GET {server.url}\): .*{text}") as caught:
        make(server).read(None)
    assert caught.value.kind is kind


def test_timeout_and_refused(server: PositionsServer) -> None:
    server.delay = 0.6
    with pytest.raises(ReadError, match=r"no answer within 0.2 s") as caught:
        make(server, timeout=0.2).read(None)
    assert caught.value.kind is ReadErrorKind.TIMEOUT
    refused = HttpBook(BookConfig("svc", "http", url="http://127.0.0.1:1/x"), Secrets(environ={}))
    with pytest.raises(ReadError, match="connection refused"):
        refused.read(None)


def test_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match=r"books\.svc\.url"):
        HttpBook(BookConfig("svc", "http", url="ftp://x/y"), Secrets(environ={}))


def test_https_verifies_certificates() -> None:
    book = HttpBook(BookConfig("svc", "http", url="https://127.0.0.1:1/x"), Secrets(environ={}))
    assert book._session.verify is True


# -- the positions are the book, not the body ---------------------------------------------


def test_a_new_generated_at_is_no_change(server: PositionsServer) -> None:
    book = make(server)
    positions = [{"symbol": "NSE:INFY", "quantity": 100, "average_price": 1500}]
    server.serve({"generated_at": "2026-11-20T09:15:00Z", "positions": positions})
    first, token = book.read(None).fingerprint, book.change_token()
    server.serve({"positions": list(reversed(positions)), "generated_at": "2026-11-20T09:15:01Z"})
    assert book.read(None).fingerprint == first
    assert book.change_token() == token is not None
    server.serve({"generated_at": "2026-11-20T09:15:02Z", "positions": [{**positions[0], "quantity": 90}]})
    assert book.read(None).fingerprint != first
    assert book.change_token() != token


# -- credentials never show --------------------------------------------------------------


def test_credentials_in_the_url_are_refused_at_config(tmp_path: Path) -> None:
    raw = {
        "books": [{"id": "svc", "kind": "http", "url": "https://bot:hunter2@bot.local/api/v1/positions"}],
        "accounts": [{"id": "sim", "broker": "simulated", "book": "svc"}],
    }
    with pytest.raises(
        ConfigError, match=r"'books\.svc\.url' must not hold a user name or password"
    ) as caught:
        parse_settings(raw, tmp_path / "config.toml")
    assert "token_env" in str(caught.value) and "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="token_env"):
        HttpBook(BookConfig("svc", "http", url="http://bot:hunter2@127.0.0.1:1/x"), Secrets(environ={}))


def test_error_sentences_mask_credentials_and_query_tokens() -> None:
    url = "http://127.0.0.1:1/api/v1/positions?account=AB1234&access_token=s3cr3t&apiKey=k3y"
    book = HttpBook(BookConfig("svc", "http", url=url), Secrets(environ={}))
    with pytest.raises(ReadError) as caught:
        book.read(None)
    message = str(caught.value)
    assert "s3cr3t" not in message and "k3y" not in message
    assert "?account=AB1234&access_token=***&apiKey=***" in message
    # And whatever reaches the sentences, user information never shows.
    assert mask_url("https://bot:hunter2@bot.local:8443/p?sig=abc#access_token=x") == (
        "https://***@bot.local:8443/p?sig=***"
    )
    assert mask_url("https://bot.local/api/v1/positions") == "https://bot.local/api/v1/positions"


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ({"auth": "Bearer"}, "books.svc.auth", 'must be "bearer"'),
        ({"tokn_env": "X"}, "books.svc.tokn_env", "did you mean 'token_env'"),
        ({"table": "positions"}, "books.svc.table", "is not a key of an HTTP book"),
    ],
)
def test_http_book_keys_are_checked(tmp_path: Path, entry: dict[str, Any], field: str, words: str) -> None:
    raw = {
        "books": [{"id": "svc", "kind": "http", "url": "https://bot.local/p", **entry}],
        "accounts": [{"id": "sim", "broker": "simulated", "book": "svc"}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, tmp_path / "config.toml")
    assert f"'{field}'" in str(caught.value) and words in str(caught.value)


def test_the_http_librarys_debug_lines_never_show_a_query_token(
    server: PositionsServer, tmp_path: Path
) -> None:
    """``-vv`` turns on urllib3's request lines ("GET /api/v1/positions?token=..."): masked."""
    from tests.test_cli import cli

    server.serve([{"symbol": "INFY", "quantity": 5}])
    (tmp_path / "scenario.toml").write_text('[[steps]]\npositions = [{symbol = "INFY", quantity = 5}]\n')
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[books]]\nid = "svc"\nkind = "http"\nurl = "{server.url}?account=1&token=hunter2-secret"\n\n'
        '[[accounts]]\nid = "sim"\nbroker = "simulated"\nscenario = "scenario.toml"\nbook = "svc"\n'
        'exchange = "NSE"\n'
    )
    run = cli("--config", config, "--data-dir", tmp_path / "data", "-vv", "sync", "--once")
    assert "GET /api/v1/positions?account=1&token=***" in run.stderr, run.stderr[-3000:]
    assert "hunter2" not in run.stderr + run.stdout
    assert server.requests and "token=hunter2-secret" in server.requests[0]["path"]  # sent as written
