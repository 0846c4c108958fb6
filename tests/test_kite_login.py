"""The daily Kite login against the fake Kite: browser, redirect, token exchange, keyring.

The "browser" is a function that does what Kite's login page does after the user logs in:
it sends the browser to the redirect URL with a fresh request token. Kite's own login page is
never contacted; the token exchange (``POST /session/token`` with the sha256 checksum) goes to
the fake through the real ``kiteconnect`` client.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from keyring.backend import KeyringBackend

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.errors import ConfigError
from position_sync.app.secrets import KEYRING_SERVICE, Secrets
from position_sync.brokers.kite import KiteAdapter
from position_sync.brokers.kite_login import LoginError, LoginResult, login, parse_request_token
from position_sync.brokers.rate_limit import SlidingWindowLimiter
from tests.fakes.kite_server import SESSION_TOKEN, FakeKiteServer, html_page, position_row, server_error

ACCOUNT = "AB1234"
SECRET = "fake_api_secret"


@pytest.fixture
def kite() -> Iterator[FakeKiteServer]:
    with FakeKiteServer(api_key=f"key{uuid.uuid4().hex[:12]}", api_secret=SECRET, user_id="AB1234") as server:
        yield server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def account_for(kite: FakeKiteServer, **options: Any) -> AccountConfig:
    return AccountConfig(
        id=ACCOUNT,
        broker="kite",
        book="book",
        timeout=2.0,
        options={"api_key": kite.api_key, "api_root": kite.url, "api_secret_env": "KITE_SECRET", **options},
    )


def context(secret: str | None = SECRET) -> AdapterContext:
    return AdapterContext(Path("."), Secrets({"KITE_SECRET": secret} if secret else {}))


def stored_token(ring: KeyringBackend) -> str | None:
    return ring.get_password(KEYRING_SERVICE, f"{ACCOUNT}:access_token")


class Browser:
    """Stands in for ``webbrowser.open`` and for the user logging in on Kite's page."""

    def __init__(self, kite: FakeKiteServer, redirect: str | None, *, status: str = "success") -> None:
        self.kite = kite
        self.redirect = redirect
        self.status = status
        self.opened: list[str] = []
        self.answers: list[requests.Response] = []
        self.request_token = ""
        self._thread: threading.Thread | None = None

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        self.request_token = self.kite.issue_request_token()
        if self.redirect is not None:
            self._thread = threading.Thread(target=self._follow_redirect, daemon=True)
            self._thread.start()
        return True

    def redirected_to(self, base: str = "https://example.com/kite/callback") -> str:
        return f"{base}?action=login&type=login&status={self.status}&request_token={self.request_token}"

    def _follow_redirect(self) -> None:
        assert self.redirect is not None
        self.answers.append(requests.get(f"{self.redirect}/favicon.ico", timeout=5))
        self.answers.append(requests.get(self.redirected_to(self.redirect), timeout=5))

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)


def no_prompt(_: str) -> str:
    raise AssertionError("the login should not ask for input here")


def run_login(
    kite: FakeKiteServer,
    browser: Callable[[str], bool],
    *,
    prompt: Callable[[str], str] = no_prompt,
    ctx: AdapterContext | None = None,
    listen_seconds: float = 5.0,
    **options: Any,
) -> tuple[LoginResult, list[str]]:
    told: list[str] = []
    result = login(
        account_for(kite, **options),
        ctx or context(),
        open_browser=browser,
        prompt=prompt,
        tell=told.append,
        listen_seconds=listen_seconds,
    )
    return result, told


async def test_listener_catches_the_redirect_and_the_token_works(
    kite: FakeKiteServer, memory_keyring: KeyringBackend
) -> None:
    redirect = f"http://127.0.0.1:{free_port()}/kite/callback"
    browser = Browser(kite, redirect)

    result, told = run_login(kite, browser, redirect_url=redirect)
    browser.join()

    assert browser.opened and f"api_key={kite.api_key}" in browser.opened[0] and "v=3" in browser.opened[0]
    assert [a.status_code for a in browser.answers] == [404, 200]
    assert "close this tab" in browser.answers[1].text
    token = stored_token(memory_keyring)
    assert token
    assert result.user_id == "AB1234"
    assert "Logged in to Kite as AB1234" in str(result)
    assert all(token not in line for line in [*told, str(result)])  # never shown, never logged

    exchange = [r for r in kite.requests if r.path == SESSION_TOKEN]
    assert len(exchange) == 1 and exchange[0].method == "POST"
    assert "checksum=" in exchange[0].body.decode()

    # The adapter reads the stored token and Kite accepts it.
    adapter = KiteAdapter(account_for(kite), context(), limiter=SlidingWindowLimiter(100, 1.0))
    try:
        kite.set_positions(
            [position_row("NIFTY25O0725150CE", quantity=75, average_price=100, last_price=100)]
        )
        assert len((await adapter.fetch()).positions) == 1
    finally:
        await adapter.close()
    assert kite.requests[-1].headers["Authorization"] == f"token {kite.api_key}:{token}"


def test_pasted_redirect_address(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    browser = Browser(kite, None)
    prompts: list[str] = []

    def paste(question: str) -> str:
        prompts.append(question)
        return "  " + browser.redirected_to() + "\n"

    result, told = run_login(kite, browser, prompt=paste)
    assert prompts and "Paste" in prompts[0]
    assert any(browser.opened[0] in line for line in told)  # the address is printed too
    assert stored_token(memory_keyring)
    assert result.account_id == ACCOUNT


def test_pasted_bare_request_token(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    browser = Browser(kite, None)
    run_login(kite, browser, prompt=lambda _: browser.request_token)
    assert stored_token(memory_keyring)


def test_redirect_url_elsewhere_means_paste(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    browser = Browser(kite, None)
    run_login(
        kite,
        browser,
        prompt=lambda _: browser.redirected_to(),
        redirect_url="https://example.com/kite/callback",
    )
    assert stored_token(memory_keyring)


def test_no_browser_still_prints_the_address(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    tokens: list[str] = []

    def broken_browser(url: str) -> bool:
        tokens.append(kite.issue_request_token())
        raise RuntimeError("no display")

    _, told = run_login(kite, broken_browser, prompt=lambda _: tokens[0])
    assert any("kite.zerodha.com/connect/login" in line for line in told)
    assert any("open the address above yourself" in line for line in told)
    assert stored_token(memory_keyring)


def test_wrong_api_secret_is_refused(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    browser = Browser(kite, None)
    with pytest.raises(LoginError, match="Kite refused the login of account AB1234"):
        run_login(kite, browser, prompt=lambda _: browser.request_token, ctx=context("not-the-secret"))
    assert stored_token(memory_keyring) is None


def test_a_request_token_works_once(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    browser = Browser(kite, None)
    run_login(kite, browser, prompt=lambda _: browser.request_token)
    first = stored_token(memory_keyring)
    with pytest.raises(LoginError, match="works once"):
        login(
            account_for(kite),
            context(),
            open_browser=lambda _: True,
            prompt=lambda _: browser.request_token,
            tell=lambda _: None,
        )
    assert stored_token(memory_keyring) == first


def test_kite_down_during_the_exchange(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    kite.script(SESSION_TOKEN, server_error(503), html_page(502))
    browser = Browser(kite, None)
    with pytest.raises(LoginError, match=r"right now \(HTTP 503, NetworkException"):
        run_login(kite, browser, prompt=lambda _: browser.request_token)
    with pytest.raises(LoginError, match="not its JSON") as raised:
        run_login(kite, browser, prompt=lambda _: browser.request_token)
    assert "<html>" not in str(raised.value)
    assert stored_token(memory_keyring) is None


def test_wrong_kite_user_is_not_stored(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    browser = Browser(kite, None)
    with pytest.raises(LoginError, match="user AB1234, but account AB1234 is set up for user ZZ9999"):
        run_login(kite, browser, prompt=lambda _: browser.request_token, user_id="ZZ9999")
    assert stored_token(memory_keyring) is None


def test_cancelled_login_at_the_listener(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    redirect = f"http://127.0.0.1:{free_port()}/"
    browser = Browser(kite, redirect.rstrip("/"), status="cancelled")
    with pytest.raises(LoginError, match="'cancelled', not 'success'"):
        run_login(kite, browser, redirect_url=redirect)
    browser.join()
    assert stored_token(memory_keyring) is None


def test_listener_gives_up_after_its_time(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    redirect = f"http://127.0.0.1:{free_port()}/kite"
    with pytest.raises(LoginError, match=r"No redirect from Kite arrived within 0\.3 s"):
        run_login(kite, lambda _: True, redirect_url=redirect, listen_seconds=0.3)


def test_listener_port_in_use(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LoginError, match=f"Cannot listen on 127.0.0.1:{port}"):
            run_login(kite, lambda _: True, redirect_url=f"http://localhost:{port}/kite")


def test_missing_api_secret_names_where_to_put_it(
    kite: FakeKiteServer, memory_keyring: KeyringBackend
) -> None:
    account = AccountConfig(
        id=ACCOUNT, broker="kite", book="book", options={"api_key": kite.api_key, "api_root": kite.url}
    )
    with pytest.raises(ConfigError, match=f"keyring entry 'position-sync' / '{ACCOUNT}:api_secret'"):
        login(account, context(None), open_browser=lambda _: True, prompt=no_prompt, tell=lambda _: None)
    assert kite.count() == 0


def test_secret_from_the_keyring(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    memory_keyring.set_password(KEYRING_SERVICE, f"{ACCOUNT}:api_secret", SECRET)
    account = AccountConfig(
        id=ACCOUNT, broker="kite", book="book", options={"api_key": kite.api_key, "api_root": kite.url}
    )
    browser = Browser(kite, None)
    login(
        account,
        context(None),
        open_browser=browser,
        prompt=lambda _: browser.request_token,
        tell=lambda _: None,
    )
    assert stored_token(memory_keyring)


@pytest.mark.parametrize(
    ("account", "field"),
    [
        pytest.param(
            AccountConfig(id=ACCOUNT, broker="simulated", book="b", options={}),
            "accounts.AB1234.broker",
            id="broker",
        ),
        pytest.param(
            AccountConfig(id=ACCOUNT, broker="kite", book="b", options={"api_secret_env": "S"}),
            "accounts.AB1234.api_key",
            id="api-key",
        ),
        pytest.param(
            AccountConfig(
                id=ACCOUNT, broker="kite", book="b", options={"api_key": "k", "access_token_env": "T"}
            ),
            "accounts.AB1234.access_token_env",
            id="token-from-env",
        ),
        pytest.param(
            AccountConfig(
                id=ACCOUNT, broker="kite", book="b", options={"api_key": "k", "redirect_url": "127.0.0.1"}
            ),
            "accounts.AB1234.redirect_url",
            id="redirect",
        ),
        pytest.param(
            AccountConfig(
                id=ACCOUNT,
                broker="kite",
                book="b",
                options={"api_key": "k", "redirect_url": "https://127.0.0.1:5000/"},
            ),
            "accounts.AB1234.redirect_url",
            id="https-local",
        ),
    ],
)
def test_config_that_cannot_work_fails_before_the_browser(
    account: AccountConfig, field: str, memory_keyring: KeyringBackend
) -> None:
    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        return True

    with pytest.raises(ConfigError) as raised:
        login(account, context(), open_browser=browser, prompt=no_prompt, tell=lambda _: None)
    assert raised.value.field == field
    assert not opened


@pytest.mark.parametrize(
    ("pasted", "token"),
    [
        ("abcDEF123456", "abcDEF123456"),
        (
            "https://example.com/cb?action=login&type=login&status=success&request_token=abcDEF123456",
            "abcDEF123456",
        ),
        ("'http://127.0.0.1:5000/?request_token=abcDEF123456&action=login&status=success'", "abcDEF123456"),
        ("request_token=abcDEF123456&status=success", "abcDEF123456"),
    ],
)
def test_parse_request_token(pasted: str, token: str) -> None:
    assert parse_request_token(pasted) == token


@pytest.mark.parametrize(
    ("pasted", "words"),
    [
        ("", "Nothing was pasted"),
        ("https://example.com/cb?action=login&status=success", "no request_token"),
        ("https://example.com/cb?request_token=abcDEF123456&status=cancelled", "'cancelled'"),
        ("not a token!", "does not look like a Kite request token"),
    ],
)
def test_parse_request_token_refuses(pasted: str, words: str) -> None:
    with pytest.raises(LoginError, match=words):
        parse_request_token(pasted)


def test_login_url_carries_the_api_key(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> None:
    browser = Browser(kite, None)
    run_login(kite, browser, prompt=lambda _: browser.request_token)
    query = parse_qs(urlsplit(browser.opened[0]).query)
    assert query == {"api_key": [kite.api_key], "v": ["3"]}


def test_the_cli_login_command(
    kite: FakeKiteServer,
    memory_keyring: KeyringBackend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``position-sync login kite --account ID`` with a pasted token stores it; a wrong broker exits 3."""
    from position_sync.cli import main

    (tmp_path / "book.json").write_text("[]")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[[books]]
id = "bot"
kind = "file"
path = "book.json"

[[accounts]]
id = "{ACCOUNT}"
broker = "kite"
book = "bot"
api_key = "{kite.api_key}"
api_root = "{kite.url}"
api_secret_env = "KITE_SECRET"
"""
    )
    monkeypatch.setenv("KITE_SECRET", SECRET)
    monkeypatch.setattr("builtins.input", lambda _prompt="": kite.issue_request_token())
    args = [
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "login",
        "kite",
        "--account",
        ACCOUNT,
    ]
    assert main([*args, "--no-browser"]) == 0
    out = capsys.readouterr().out
    assert "Log in to Kite in your browser:" in out and f"api_key={kite.api_key}" in out
    token = stored_token(memory_keyring)
    assert token and token not in out
    monkeypatch.setenv("KITE_SECRET", "wrong")
    assert main([*args, "--no-browser"]) == 2
    assert main(["--config", str(config), "login", "kite", "--account", "nobody"]) == 3
