"""No secret in any log line: a full run with every kind of secret in play, then a grep.

The run: a Mosquitto with a password for every button (`chuong registry credentials`) and the
hub's own MQTT password given through the environment; buttons pressing; notifiers with secrets
(a Telegram bot token, a webhook HMAC key and an API key header, an ntfy token) against loopback
stand-ins, the Telegram and webhook ones first answering with an error that echoes the secret, as
some services do; phone links sent, opened and used; API tokens of each role and a made-up one;
a user logging in with a password, a wrong password, and a password typed into the user name
field; a session used with its CSRF token, then logged out; a malformed message. Then the hub's
whole log (at DEBUG in text, and at INFO in JSON), its audit log and its rejected-messages log are
searched for every secret of the run. Each secret is random, so a hit is never a coincidence.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote

import httpx
import pytest

from devices.signing import new_key
from hub import cli
from hub.api.tokens import create_token
from hub.clock import SystemClock
from hub.domain.model import Role
from hub.notify.links import SECRET_META_KEY
from hub.registry.commands import set_sign_key
from hub.registry.credentials import read_passwords
from hub.registry.file import import_registry
from hub.store.db import open_sync
from hub.web.accounts import add_user
from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import SAMPLE_REGISTRY, HubProcess, wait_for
from tests.integration.notify.loopback import Answer, HttpRecorder

PUBLIC_URL: Final = "http://post.invalid:8080"
HUB_USER: Final = "hub-post"
OFFICER: Final = "trucban"
NOTIFIER_SECRETS: Final = {
    "Telegram bot token": "7391:",
    "webhook HMAC key": "",
    "webhook API key header": "",
    "webhook URL key": "",  # Slack-style: the URL's path is the credential
    "ntfy token": "tk_",
    "ntfy topic": "tb-",  # on a public ntfy server, whoever knows the topic reads the alarms
}
"""Secrets of the notifiers' configuration, by name, with the shape of their values."""
EXPECTED: Final = {
    *NOTIFIER_SECRETS,
    *(f"API token ({role.value})" for role in Role),
    *(f"broker password of {user}" for user in (HUB_USER, "bank-1", "bank-2", "clinic-1")),
    *("user password", "wrong password", "session id", "CSRF token", "made-up API token"),
    *("link key", "link signature 5"),
    "signing key of bank-1",
}
"""The kinds of secret the run must have had in play (the grep is only as good as this)."""
LINK_SIGNATURE: Final = re.compile(r"/ack/[^/\s\"]+/[^/\s\"]+/\d+/([0-9a-f]{32})")


@dataclass
class Secrets:
    """Every secret of the run, by what it is."""

    values: dict[str, str] = field(default_factory=dict)

    def new(self, name: str, prefix: str = "") -> str:
        value = prefix + secrets.token_urlsafe(24)
        self.values[name] = value
        return value

    def add(self, name: str, value: str) -> None:
        assert len(value) >= 16, f"{name} is too short to search for without false hits"
        self.values[name] = value

    def add_value(self, name: str, value: str) -> str:
        self.add(name, value)
        return value

    def found_in(self, text: str) -> list[str]:
        """The names of the secrets in `text`, as they are or URL-encoded."""
        return sorted(
            name
            for name, value in self.values.items()
            if value in text or quote(value, safe="") in text
        )


@dataclass
class Services:
    telegram: HttpRecorder
    webhook: HttpRecorder
    ntfy: HttpRecorder

    def close(self) -> None:
        for recorder in (self.telegram, self.webhook, self.ntfy):
            recorder.close()


@dataclass
class Run:
    """What the run needs from its set-up."""

    found: Secrets
    tokens: dict[Role, str]
    passwords: dict[str, str]
    services: Services


def _services(found: Secrets) -> Services:
    """Loopback stand-ins; Telegram's and the webhook's first answers echo the secret sent."""
    services = Services(HttpRecorder(), HttpRecorder(), HttpRecorder())
    bot, key = found.values["Telegram bot token"], found.values["webhook API key header"]
    services.telegram.then(Answer(500, f'{{"ok":false,"description":"no bot{bot}"}}'.encode()))
    services.webhook.then(Answer(503, f"unknown key {key}".encode()))
    return services


def _config(path: Path, found: Secrets, services: Services) -> Path:
    quick = "retry_min_s = 0.2\nretry_max_s = 1\ntimeout_s = 5"
    path.write_text(
        f"""
[hub]
id = "post"
public_url = "{PUBLIC_URL}"

[notifiers.tele]
type = "telegram"
bot_token = "{found.values["Telegram bot token"]}"
chat_id = "-1001234"
api_url = "{services.telegram.url}"
person = "chi-huy"
{quick}

[notifiers.hook]
type = "webhook"
url = "{services.webhook.url}/hooks/{found.values["webhook URL key"]}"
secret = "{found.values["webhook HMAC key"]}"
headers = {{ Authorization = "Bearer {found.values["webhook API key header"]}" }}
send_links = true
person = "doi-truong"
{quick}

[notifiers.phone]
type = "ntfy"
url = "{services.ntfy.url}"
topic = "{found.values["ntfy topic"]}"
token = "{found.values["ntfy token"]}"
person = "truc-ban"
{quick}

[[escalation.steps]]
after_s = 0
notify = ["tele", "hook", "phone"]
""",
        encoding="utf-8",
    )
    return path


def _prepare_store(db: Path, found: Secrets) -> dict[Role, str]:
    """The registry, an officer with a password, and a token per role."""
    now = SystemClock().now()
    with contextlib.closing(open_sync(db)) as conn:
        import_registry(conn, SAMPLE_REGISTRY, now)
        add_user(conn, OFFICER, Role.OFFICER, found.new("user password"), now)
        tokens = {role: create_token(conn, f"t-{role.value}", role, now) for role in Role}
    for role, token in tokens.items():
        found.add(f"API token ({role.value})", token)
    return tokens


def _broker_credentials(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch, found: Secrets
) -> tuple[Mosquitto, dict[str, str]]:
    """`chuong registry credentials`, and a Mosquitto that requires them."""
    directory = tmp_path / "creds"
    with monkeypatch.context() as env:
        env.setenv("CHUONG_STORE__PATH", str(db))
        env.setenv("CHUONG_MQTT__USERNAME", HUB_USER)
        assert cli.main(["registry", "credentials", "--dir", str(directory)]) == 0
    passwords = read_passwords(directory)
    for user, password in passwords.items():
        found.add(f"broker password of {user}", password)
    # bank-1 signs its presses (devices/signing.py): its key is a secret of the run too.
    key = found.add_value("signing key of bank-1", new_key())
    with contextlib.closing(open_sync(db)) as conn:
        set_sign_key(conn, "bank-1", key, SystemClock().now())
    broker = Mosquitto(
        tmp_path / "mosquitto", password_file=directory / "passwd", acl_file=directory / "acl"
    )
    return broker.start(), passwords


async def _press(
    broker: Mosquitto, button_id: str, password: str, sign_key: str | None = None
) -> tuple[VirtualButton, str]:
    """Connect as the button (with its password; signing, with a key) and press: the button and
    the alarm id."""
    button = VirtualButton(
        button_id,
        host=broker.host,
        port=broker.port,
        username=button_id,
        password=password,
        sign_key=sign_key,
    )
    await button.connect()
    press = await button.press()
    return button, (await button.wait_ack(press.event_id)).ack.alarm


async def _delivered(api: httpx.AsyncClient, alarm_id: str) -> set[str]:
    audit = (await api.get(f"/api/v1/alarms/{alarm_id}")).json()["audit"]
    return {e["detail"]["notifier"] for e in audit if e["action"] == "notify.delivered"}


def _links(services: Services, found: Secrets) -> dict[str, str]:
    """The ntfy links, by alarm; the signature of every link any service received (in a
    Telegram text, a webhook's `ack_url`, an ntfy action) is a secret of the run."""
    sent = "\n".join(
        request.body.decode()
        for service in (services.telegram, services.webhook, services.ntfy)
        for request in service.requests
    )
    signatures = set(LINK_SIGNATURE.findall(sent))
    for number, signature in enumerate(sorted(signatures)):
        found.add(f"link signature {number}", signature)
    assert len(signatures) >= 6, "two alarms, three people: at least six links"
    clicks = [request.json()["click"] for request in services.ntfy.requests]
    return {link.split("/")[4]: link for link in clicks}


async def _use_the_page(hub: HubProcess, found: Secrets, alarm_id: str) -> None:
    """Log in (after a wrong password, and a password typed as the user name), resolve with the
    session and its CSRF token, log out."""
    password = found.values["user password"]
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as browser:
        wrong = found.new("wrong password")
        for name, attempt in ((OFFICER, wrong), (password, password)):
            response = await browser.post("/login", json={"username": name, "password": attempt})
            assert response.status_code == 401
        response = await browser.post("/login", json={"username": OFFICER, "password": password})
        assert response.status_code == 200, response.text
        found.add("session id", browser.cookies["chuong_session"])
        csrf = response.json()["csrf_token"]
        found.add("CSRF token", csrf)
        headers = {"X-CSRF-Token": csrf}
        assert (await browser.get("/api/v1/session")).json()["csrf_token"] == csrf
        body = {"outcome": "test", "note": "kiểm tra"}
        resolve = f"/api/v1/alarms/{alarm_id}/resolve"
        assert (await browser.post(resolve, json=body, headers=headers)).status_code == 200
        assert (await browser.delete("/api/v1/session", headers=headers)).status_code == 204


async def _use_the_api(
    hub: HubProcess, tokens: dict[Role, str], found: Secrets, alarm: str
) -> None:
    """Each role's token for what it may do, and a made-up token."""
    made_up = found.new("made-up API token", "chuong_")
    for token, method, path, status in (
        (tokens[Role.VIEWER], "GET", "/api/v1/alarms", 200),
        (tokens[Role.OFFICER], "POST", f"/api/v1/alarms/{alarm}/ack", 200),
        (tokens[Role.ADMIN], "GET", "/api/v1/rejected", 200),
        (made_up, "GET", "/api/v1/alarms", 401),
    ):
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
            response = await client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == status, (path, response.text)


async def _run(hub: HubProcess, broker: Mosquitto, run: Run) -> None:
    """The whole run against a started hub (see the module docstring)."""
    found, tokens, passwords, services = run.found, run.tokens, run.passwords, run.services
    bank_key = found.values["signing key of bank-1"]
    bank, bank_alarm = await _press(broker, "bank-1", passwords["bank-1"], bank_key)
    clinic, clinic_alarm = await _press(broker, "clinic-1", passwords["clinic-1"])
    admin = httpx.AsyncClient(base_url=hub.url, timeout=10)
    admin.headers["Authorization"] = f"Bearer {tokens[Role.ADMIN]}"
    async with admin:
        for alarm_id in (bank_alarm, clinic_alarm):

            async def all_delivered(alarm_id: str = alarm_id) -> bool:
                return await _delivered(admin, alarm_id) == {"tele", "hook", "phone"}

            await wait_for(all_delivered, timeout=20)
    link = _links(services, found)[clinic_alarm].replace(PUBLIC_URL, hub.url)
    async with httpx.AsyncClient(timeout=10) as phone:
        assert (await phone.get(link)).status_code == 200
        assert "truc-ban" in (await phone.post(link)).text
    await _use_the_api(hub, tokens, found, bank_alarm)
    await _use_the_page(hub, found, bank_alarm)
    await bank.publish(bank.topics.event("bank-1"), b'{"id": "x", "type": "explode"}')
    forged = {"id": "forged", "type": "press", "seq": 10**6, "ts": 0, "sig": "00" * 32}
    await bank.publish(bank.topics.event("bank-1"), json.dumps(forged))  # refused, on record
    for button in (bank, clinic):
        await button.close()


def _store_text(db: Path) -> dict[str, str]:
    """The audit and rejected logs, and the link key, read from the store."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        audit = conn.execute("SELECT actor, action, detail FROM audit").fetchall()
        rejected = conn.execute("SELECT topic, payload, reason, detail FROM rejected").fetchall()
        key = conn.execute("SELECT value FROM meta WHERE key = ?", (SECRET_META_KEY,)).fetchone()
    return {"audit": _as_text(audit), "rejected": _as_text(rejected), "link key": key[0]}


def _as_text(rows: list[tuple[object, ...]]) -> str:
    return "\n".join(
        " | ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row)
        for row in rows
    )


@pytest.mark.parametrize(("level", "fmt"), [("DEBUG", "text"), ("INFO", "json")])
async def test_no_secret_reaches_the_log_the_audit_or_the_rejected_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, fmt: str
) -> None:
    """A full run with every kind of secret in play (broker passwords, the hub's MQTT password,
    API tokens, a user's password and a wrong one, session ids, CSRF tokens, a Telegram bot
    token, a webhook HMAC key and API key, an ntfy token and topic, phone-link signatures and
    their key): none appears in the hub's log, its audit log or its rejected-messages log."""
    found = Secrets()
    for name, prefix in NOTIFIER_SECRETS.items():
        found.new(name, prefix)
    db = tmp_path / "hub.db"
    tokens = _prepare_store(db, found)
    broker, passwords = _broker_credentials(tmp_path, db, monkeypatch, found)
    services = _services(found)
    hub = HubProcess(
        tmp_path,
        broker,
        {
            "CHUONG_CONFIG": str(_config(tmp_path / "hub.toml", found, services)),
            "CHUONG_MQTT__USERNAME": HUB_USER,
            "CHUONG_MQTT__PASSWORD": passwords[HUB_USER],
            "CHUONG_LOG__LEVEL": level,
            "CHUONG_LOG__FORMAT": fmt,
        },
    )
    try:
        hub.start()
        await hub.wait_ready()
        await _run(hub, broker, Run(found, tokens, passwords, services))
        assert hub.terminate() == 0
    finally:
        hub.close()
        services.close()
        broker.kill()
    stored = _store_text(db)
    found.add("link key", stored.pop("link key"))
    log = hub.log()
    _check_the_run_happened(log, stored, level)
    leaks = {name: found.found_in(text) for name, text in {"hub log": log, **stored}.items()}
    assert leaks == {"hub log": [], "audit": [], "rejected": []}
    assert found.values.keys() >= EXPECTED


def _check_the_run_happened(log: str, stored: dict[str, str], level: str) -> None:
    """The secrets were really in play: the failures that echoed them were logged, the logins
    and the link were on the record, the malformed and the forged messages were kept, the level
    took effect."""
    for notifier in ("tele", "hook"):
        said = [line for line in log.splitlines() if f"notify {notifier}:" in line]
        assert any("***" in line for line in said), f"{notifier}: the echo was logged, redacted"
    assert "login: wrong password for trucban" in log
    assert "login: trucban (officer)" in log
    assert "link:truc-ban" in stored["audit"]
    assert "user.login_failed" in stored["audit"]
    assert "unknown_type" in stored["rejected"]
    assert "bad_signature" in stored["rejected"], "the forged press of the keyed button was refused"
    assert ("DEBUG" in log) is (level == "DEBUG")
