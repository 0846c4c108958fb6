"""``position-sync login kotak``: TOTP and MPIN against the fake Kotak, the session in the keyring.

Also the claim the thin client rests on: the requests it sends are the ones the official SDK
sends (``tests/fixtures/kotak/sdk_requests.json``, recorded from ``kotakneoapi`` 3.0.9).
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.errors import ConfigError
from position_sync.app.secrets import Secrets
from position_sync.brokers.kotak import create
from position_sync.brokers.kotak_login import (
    MPIN_QUESTION,
    TOTP_QUESTION,
    LoginError,
    login,
    questions,
    totp_now,
)
from tests.conftest import MemoryKeyring
from tests.fakes.kotak_server import (
    POSITIONS,
    VALIDATE,
    FakeKotakServer,
    Reply,
    fixture,
    login_error,
    position_row,
    server_error,
)
from tests.fixtures.kotak.record_sdk_requests import recorded

ACCOUNT = "KT1"
SDK_RECORD = Path(__file__).resolve().parent / "fixtures" / "kotak" / "sdk_requests.json"


@pytest.fixture
def kotak() -> Iterator[FakeKotakServer]:
    with FakeKotakServer(consumer_key=f"ck-{uuid.uuid4().hex[:12]}") as server:
        yield server


def account_for(kotak: FakeKotakServer, **options: Any) -> AccountConfig:
    return AccountConfig(
        id=ACCOUNT,
        broker="kotak",
        book="book",
        timeout=3.0,
        options={
            "consumer_key": kotak.consumer_key,
            "api_root": kotak.url,
            "mobile_number": "+919876543210",
            "ucc": "AB123",
            **options,
        },
    )


def typed(*answers: str) -> Any:
    """A prompt that answers in order and remembers what it was asked."""
    asked: list[str] = []
    queue = list(answers)

    def prompt(label: str) -> str:
        asked.append(label)
        return queue.pop(0)

    prompt.asked = asked  # type: ignore[attr-defined]
    return prompt


def run_login(kotak: FakeKotakServer, tmp_path: Path, totp: str, mpin: str, **options: Any) -> Any:
    return login(
        account_for(kotak, **options),
        AdapterContext(tmp_path, Secrets()),
        prompt=typed(totp),
        secret_prompt=typed(mpin),
        tell=lambda _text: None,
    )


def stored_session(keyring: MemoryKeyring) -> dict[str, str] | None:
    text = keyring.get_password("position-sync", f"{ACCOUNT}:session")
    return json.loads(text) if text else None


async def test_login_with_totp_and_mpin_stores_a_session_that_reads(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    result = run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
    assert str(result) == (
        f"Logged in to Kotak Neo as AB123 (TEST TRADER) for account {ACCOUNT}; the session is in the "
        f"keyring entry 'position-sync' / '{ACCOUNT}:session'."
    )
    session = stored_session(memory_keyring)
    assert session is not None and set(session) == {"token", "sid", "base_url"}
    assert session["base_url"] == kotak.url  # the validate step's baseUrl
    # The MPIN and the TOTP are kept nowhere: not in the keyring, not in the data directory.
    kept = " ".join(memory_keyring.entries.values())
    assert kotak.mpin not in kept
    assert not any(kotak.mpin in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    # The stored session reads.
    kotak.set_positions([position_row("TCS26NOVFUT", fl_buy=175, buy_price=4100, ltp=4110)])
    adapter = create(account_for(kotak), AdapterContext(tmp_path, Secrets()))
    try:
        (leg,) = (await adapter.fetch()).positions
    finally:
        await adapter.close()
    assert leg.quantity == 175


async def test_reads_go_to_the_base_url_the_validate_step_returned(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    """``api_root`` replaces the login host only; the data host comes from ``baseUrl``."""
    with FakeKotakServer(consumer_key=kotak.consumer_key) as data_host:
        issued = json.loads(data_host.issue_session())
        answer = fixture("totp_validate.json")
        answer["data"].pop("dataCenter")
        answer["data"].update(token=issued["token"], sid=issued["sid"], baseUrl=data_host.url + "/")
        kotak.script(VALIDATE, Reply(200, answer))
        run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
        session = stored_session(memory_keyring)
        assert session is not None and session["base_url"] == data_host.url
        kotak.clear_requests()
        adapter = create(account_for(kotak), AdapterContext(tmp_path, Secrets()))
        try:
            await adapter.fetch()
        finally:
            await adapter.close()
        assert kotak.count() == 0
        assert data_host.count(POSITIONS) == 1


def test_our_requests_are_the_sdks(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    """Method, path, the headers that matter and the body of each of the four requests, as the
    SDK sends them (recorded from ``kotakneoapi`` 3.0.9 by ``record_sdk_requests.py``)."""
    run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
    import asyncio

    adapter = create(account_for(kotak), AdapterContext(tmp_path, Secrets()))

    async def read() -> None:
        try:
            await adapter.fetch()
        finally:
            await adapter.close()

    asyncio.run(read())
    ours = recorded(kotak.requests)
    for entry in ours:
        for name in ("sid", "auth"):
            if name in entry["headers"]:
                entry["headers"][name] = f"<{name}>"
        if isinstance(entry["body"], dict) and "totp" in entry["body"]:
            entry["body"]["totp"] = "<totp>"
        entry["headers"]["authorization"] = entry["headers"].get("authorization") and "<consumer key>"
    sdk = json.loads(SDK_RECORD.read_text())["requests"]
    for entry in sdk:
        entry["headers"]["authorization"] = entry["headers"].get("authorization") and "<consumer key>"
    by_path = {e["path"]: e for e in ours}
    assert len(ours) == len(sdk) == 4
    assert set(by_path) == {e["path"] for e in sdk}
    for expected in sdk:
        assert by_path[expected["path"]] == expected, expected["path"]


@pytest.mark.parametrize(
    ("totp", "mpin", "words"),
    [
        ("000000", None, "refused the login"),
        (None, "999999", "refused the MPIN check"),
        ("12345", None, "6 digits"),
        (None, "12", "4 to 6 digits"),
    ],
)
def test_wrong_codes_are_one_sentence_and_store_nothing(
    kotak: FakeKotakServer,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    totp: str | None,
    mpin: str | None,
    words: str,
) -> None:
    good_totp = kotak.totp()
    if totp == "000000" and good_totp == "000000":
        totp = "111111"
    with pytest.raises(LoginError, match=words) as caught:
        run_login(kotak, tmp_path, totp or good_totp, mpin or kotak.mpin)
    assert "\n" not in str(caught.value)
    assert stored_session(memory_keyring) is None


def test_kotak_down_during_the_login(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    kotak.script(VALIDATE, server_error(503))
    with pytest.raises(LoginError, match=r"right now \(HTTP 503"):
        run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
    kotak.script(VALIDATE, login_error("Invalid MPIN", "10523"))
    with pytest.raises(LoginError, match="Invalid MPIN"):
        run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
    no_base = fixture("totp_validate.json")
    del no_base["data"]["baseUrl"]
    kotak.script(VALIDATE, Reply(200, no_base))
    with pytest.raises(LoginError, match="baseUrl"):
        run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
    assert stored_session(memory_keyring) is None
    gone = account_for(kotak)
    kotak.stop()
    with pytest.raises(LoginError, match="refused the connection"):
        login(
            gone,
            AdapterContext(tmp_path, Secrets()),
            prompt=typed("123456"),
            secret_prompt=typed("123456"),
            tell=lambda _text: None,
        )


def test_totp_from_the_keyring_only_when_opted_in(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    plain = account_for(kotak)
    opted = account_for(kotak, totp_from_keyring=True)
    assert questions(plain) == (TOTP_QUESTION, MPIN_QUESTION)
    assert questions(opted) == (MPIN_QUESTION,)
    with pytest.raises(ConfigError, match=f"{ACCOUNT}:totp_secret"):
        login(opted, AdapterContext(tmp_path, Secrets()), prompt=typed(), secret_prompt=typed(kotak.mpin))
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:totp_secret", kotak.totp_secret.lower())
    prompt = typed()
    login(
        opted, AdapterContext(tmp_path, Secrets()), prompt=prompt, secret_prompt=typed(kotak.mpin), tell=print
    )
    assert prompt.asked == []  # the TOTP was computed, not asked
    assert stored_session(memory_keyring) is not None


def test_totp_follows_rfc_6238() -> None:
    """The RFC's SHA-1 test vectors, cut to 6 digits (its secret is ASCII "1234567890" twice)."""
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp_now(secret, 59) == "287082"
    assert totp_now(secret, 1111111109) == "081804"
    assert totp_now(secret, 2000000000) == "279037"


def test_config_that_cannot_work_is_a_config_error(kotak: FakeKotakServer, tmp_path: Path) -> None:
    context = AdapterContext(tmp_path, Secrets())
    for missing in ("mobile_number", "ucc"):
        account = account_for(kotak)
        del account.options[missing]
        with pytest.raises(ConfigError, match=missing):
            login(account, context, prompt=typed("123456"), secret_prompt=typed("123456"))
    with pytest.raises(ConfigError, match="not 'kotak'"):
        login(
            AccountConfig(id="x", broker="kite", book="b", options={}),
            context,
            prompt=typed(),
            secret_prompt=typed(),
        )
    assert kotak.count() == 0


def test_the_cli_login_command_reads_totp_and_mpin_from_its_input(
    kotak: FakeKotakServer,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the window does: the answers one a line on the command's input (not a terminal)."""
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
broker = "kotak"
book = "bot"
consumer_key = "{kotak.consumer_key}"
api_root = "{kotak.url}"
mobile_number = "+919876543210"
ucc = "AB123"
"""
    )
    args = [
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "login",
        "kotak",
        "--account",
        ACCOUNT,
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{kotak.totp()}\n{kotak.mpin}\n"))
    assert main([*args, "--no-browser"]) == 0
    out, err = capsys.readouterr()
    assert "Logged in to Kotak Neo as AB123" in out
    assert kotak.mpin not in out + err
    assert stored_session(memory_keyring) is not None
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{kotak.totp()}\n000000\n"))
    assert main(args) == 2
    assert "refused the MPIN check" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(args) == 2
    assert "No TOTP" in capsys.readouterr().err
    assert main(["--config", str(config), "login", "kite", "--account", ACCOUNT]) == 3


def test_an_expired_session_then_a_login_reads_again(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    import asyncio

    from position_sync.app.errors import LoginRequired

    run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
    kotak.set_positions([position_row("TCS26NOVFUT", fl_buy=175, buy_price=4100, ltp=4110)])
    kotak.expire_sessions()

    async def fetch_twice() -> None:
        adapter = create(account_for(kotak), AdapterContext(tmp_path, Secrets()))
        try:
            with pytest.raises(LoginRequired):
                await adapter.fetch()
            kotak.clear_requests()
            run_login(kotak, tmp_path, kotak.totp(), kotak.mpin)
            assert (await adapter.fetch()).positions
        finally:
            await adapter.close()

    asyncio.run(fetch_twice())
    assert kotak.count(POSITIONS) == 1


def test_the_window_asks_the_logins_questions_before_it_starts(
    kotak: FakeKotakServer, tmp_path: Path
) -> None:
    """The window's Login action: the CLI command, and the TOTP and MPIN to ask first (the MPIN
    hidden); with the TOTP from the keyring, only the MPIN."""
    from position_sync.app.config import Settings
    from position_sync.ui.login import login_support

    settings = Settings(path=tmp_path / "config.toml", accounts=(account_for(kotak),), books={})
    support = login_support(settings, account_for(kotak))
    assert support.possible
    assert support.command[-4:] == ["login", "kotak", "--account", ACCOUNT]
    assert [(q.label, q.secret) for q in support.questions] == [
        ("TOTP from your authenticator app", False),
        ("Kotak MPIN", True),
    ]
    opted = login_support(settings, account_for(kotak, totp_from_keyring=True))
    assert opted.questions == (MPIN_QUESTION,)
