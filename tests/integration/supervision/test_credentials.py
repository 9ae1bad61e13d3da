"""`chuong registry credentials` against a real Mosquitto: the generated password file and ACL
keep every button to its own topics (MQTT v5: a denial is PUBACK 0x87), and the hub works."""

from __future__ import annotations

import grp
import os
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hub import cli
from hub.app import Hub
from hub.config import MqttSection, StoreSection, SupervisionSection
from hub.registry.credentials import read_passwords
from simulator.broker import Mosquitto
from simulator.button import ButtonError, VirtualButton
from simulator.vendors import VirtualShellyGen1
from tests.conftest import RunningHub, make_config, wait_for
from tests.integration.supervision.conftest import (
    REGISTRY,
    RawClient,
    command_line_on,
    registry_store,
)
from tests.integration.supervision.shipped import ShippedMosquitto

NOT_AUTHORIZED = 0x87
StartHub = Callable[..., Awaitable[RunningHub]]
Raw = Callable[..., Awaitable[RawClient]]


@pytest.fixture
def secured(tmp_path: Path, credentials: tuple[Path, dict[str, str]]) -> Mosquitto:
    directory, _ = credentials
    broker = Mosquitto(
        tmp_path / "secured", password_file=directory / "passwd", acl_file=directory / "acl"
    ).start()
    yield broker  # type: ignore[misc]
    broker.kill()


def test_the_files_are_written_private_and_hashed(credentials: tuple[Path, dict[str, str]]) -> None:
    """Passwords in clear only in credentials.toml (0600); passwd holds pbkdf2 hashes; every
    contract button, every vendor button and the Zigbee2MQTT bridge has a user, and the hub and
    its telemetry connection."""
    directory, passwords = credentials
    buttons = ["bank-1", "bank-2", "bank-bat", "quay-shelly", "quay-plus", "quay-tasmota"]
    hub = ["hub-post", "hub-post-telemetry"]
    assert sorted(passwords) == sorted([*buttons, "quay-esphome", *hub, "zigbee2mqtt"])
    assert (directory / "credentials.toml").stat().st_mode & 0o777 == 0o600
    hashed = (directory / "passwd").read_text()
    assert all(f"{user}:$7$" in hashed for user in passwords)
    assert not any(password in hashed for password in passwords.values())
    acl = (directory / "acl").read_text()
    assert "pattern write chuong/v1/dev/%u/event" in acl
    assert "%u/#" not in acl


def test_running_it_again_keeps_the_passwords_unless_rotated(
    credentials: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    store_url: str | None,
) -> None:
    directory, first = credentials
    command_line_on(monkeypatch, StoreSection(path=directory.parent / "hub.db", url=store_url))
    monkeypatch.setenv("CHUONG_MQTT__USERNAME", "hub-post")
    assert cli.main(["registry", "credentials", "--dir", str(directory)]) == 0
    assert read_passwords(directory) == first
    assert cli.main(["registry", "credentials", "--dir", str(directory), "--rotate", "bank-1"]) == 0
    again = read_passwords(directory)
    assert again["bank-1"] != first["bank-1"]
    assert {k: v for k, v in again.items() if k != "bank-1"} == {
        k: v for k, v in first.items() if k != "bank-1"
    }
    assert cli.main(["registry", "credentials", "--dir", str(directory), "--rotate", "nobody"]) == 1


async def test_each_button_writes_only_its_own_topics_and_the_hub_hears_it(
    secured: Mosquitto,
    credentials: tuple[Path, dict[str, str]],
    start_hub: StartHub,
    raw: Raw,
) -> None:
    """bank-1 may publish its own event (the hub, logged in as its own user, raises the alarm and
    acks it), but not bank-2's event, nor its own ack (no forged "help is coming"): PUBACK 0x87.
    A wrong password is refused at CONNECT."""
    _, passwords = credentials
    running = await start_hub(
        REGISTRY,
        mqtt=MqttSection(
            port=secured.port,
            username="hub-post",
            password=passwords["hub-post"],
            reconnect_min_s=0.1,
            reconnect_max_s=1.0,
        ),
        supervision=SupervisionSection(offline_after_s=3600),
    )
    button = VirtualButton(
        "bank-1",
        host=secured.host,
        port=secured.port,
        username="bank-1",
        password=passwords["bank-1"],
    )
    await button.connect()
    try:
        press = await button.press()
        assert press.acked_by_broker
        await button.wait_ack(press.event_id)
        assert len(await running.alarms()) == 1

        as_bank_1 = await raw("bank-1", passwords["bank-1"], to=secured)
        forged = '{"id": "forged-1", "type": "press"}'
        assert await as_bank_1.publish("chuong/v1/dev/bank-2/event", forged) == NOT_AUTHORIZED
        ack = '{"event": "x", "alarm": "post-1", "state": "acknowledged"}'
        assert await as_bank_1.publish("chuong/v1/dev/bank-1/ack", ack) == NOT_AUTHORIZED
        assert await as_bank_1.publish("chuong/v1/alarms/post-1", "{}") == NOT_AUTHORIZED
        assert await as_bank_1.publish("chuong/v1/dev/bank-1/heartbeat", "{}") < 0x80
        assert len(await running.alarms()) == 1

        intruder = VirtualButton(
            "bank-2", host=secured.host, port=secured.port, username="bank-2", password="guess"
        )
        with pytest.raises(ButtonError, match="refused"):
            await intruder.connect()
    finally:
        await button.close()


async def test_a_vendor_button_writes_only_its_own_vendor_topics(
    secured: Mosquitto, credentials: tuple[Path, dict[str, str]], raw: Raw
) -> None:
    """The Shelly's user writes under shellies/<its id>/, not under another Shelly's, and not the
    contract's topics of another button."""
    _, passwords = credentials
    shelly = await raw("quay-shelly", passwords["quay-shelly"], to=secured)
    own = "shellies/shellybutton1-A4CF12/input_event/0"
    assert await shelly.publish(own, '{"event":"S","event_cnt":1}') < 0x80
    other = "shellies/shellybutton1-FFFFFF/input_event/0"
    assert await shelly.publish(other, '{"event":"S","event_cnt":1}') == NOT_AUTHORIZED
    assert await shelly.publish("chuong/v1/dev/bank-1/event", "{}") == NOT_AUTHORIZED
    bridge = await raw("zigbee2mqtt", passwords["zigbee2mqtt"], to=secured)
    assert await bridge.publish("zigbee2mqtt/sos-quay", '{"action":"emergency"}') < 0x80
    assert await bridge.publish("shellies/shellybutton1-A4CF12/online", "true") == NOT_AUTHORIZED
    device = VirtualShellyGen1(
        "shellybutton1-A4CF12",
        host=secured.host,
        port=secured.port,
        username="quay-shelly",
        password=passwords["quay-shelly"],
    )
    await device.connect()  # its last will's topic is allowed too
    await device.go_offline()


def test_a_directory_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHUONG_STORE__PATH", str(tmp_path / "hub.db"))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert cli.main(["registry", "credentials", "--dir", str(blocker / "creds")]) == 1
    assert "cannot write the credentials" in capsys.readouterr().err


async def test_readyz_says_the_broker_refused_the_hubs_credentials(
    secured: Mosquitto, tmp_path: Path, store_url: str | None
) -> None:
    """A wrong hub password: /readyz names the cause the broker gave ("Not authorized"), as the
    log does, not the disconnect that follows it ("Protocol error")."""
    config = make_config(
        tmp_path,
        secured,
        store_url,
        mqtt=MqttSection(
            port=secured.port,
            username="hub-post",
            password="wrong",
            reconnect_min_s=0.2,
            reconnect_max_s=0.5,
        ),
    )
    hub = Hub(config)
    await hub.start()
    try:
        assert hub.http is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http.port}") as client:
            reasons: list[str] = []

            async def refused_twice() -> bool:
                response = await client.get("/readyz")
                assert response.status_code == 503
                reasons.extend(response.json()["reasons"])
                return sum("refused" in reason for reason in reasons) >= 2

            await wait_for(refused_twice, timeout=30)
            assert any("Not authorized" in reason for reason in reasons), reasons
            assert not any("Protocol error" in reason for reason in reasons), reasons
    finally:
        await hub.stop()


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _mode_and_group(path: Path) -> tuple[int, str]:
    info = path.stat()
    return info.st_mode & 0o777, grp.getgrgid(info.st_gid).gr_name


@pytest.fixture
def post_dir() -> Iterator[Path]:
    """A directory the `mosquitto` user can reach (a test's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="chuong-post-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_the_broker_reads_them_as_its_own_user_after_a_rerun_and_a_reload(
    post_dir: Path, monkeypatch: pytest.MonkeyPatch, raw: Raw, store_url: str | None
) -> None:
    """Mosquitto started as root drops to `mosquitto` before reading the password file and the
    ACL, and reads them again as `mosquitto` on SIGHUP (an ACL it cannot read then is no ACL at
    all). Under umask 022: the directory is root:mosquitto 0750, passwd and acl root:mosquitto
    0640, the clear passwords 0600; a re-run keeps all of it, and after the reload the hub and
    the buttons still connect and the ACL still holds."""
    assert os.geteuid() == 0, "needs root, as on a post: run make test as root"
    assert _has_group("mosquitto"), "no mosquitto group: Debian's mosquitto package makes it"
    old_umask = os.umask(0o022)
    try:
        registry_store(monkeypatch, post_dir / "hub.db", store_url)
        creds = post_dir / "creds"
        run = ["registry", "credentials", "--dir", str(creds), "--reader", "office"]
        assert cli.main(run) == 0

        def modes() -> dict[str, tuple[int, str]]:
            return {
                name: _mode_and_group(creds / name if name else creds)
                for name in ("", "passwd", "acl", "credentials.toml")
            }

        expected = {
            "": (0o750, "mosquitto"),
            "passwd": (0o640, "mosquitto"),
            "acl": (0o640, "mosquitto"),
            "credentials.toml": (0o600, "root"),
        }
        assert modes() == expected
        work = post_dir / "broker"
        work.mkdir()
        shutil.chown(work, "mosquitto", "mosquitto")
        broker = ShippedMosquitto(
            work, passwd=creds / "passwd", acl=creds / "acl", own_user=False
        ).start()
        try:
            passwords = read_passwords(creds)
            await _connects_and_is_kept_to_its_topics(raw, broker, passwords)
            assert cli.main(run) == 0
            assert modes() == expected
            assert read_passwords(creds) == passwords
            assert broker.process is not None
            broker.process.send_signal(signal.SIGHUP)
            await wait_for(lambda: "Reloading config" in broker.log_path.read_text(), 10)
            await _connects_and_is_kept_to_its_topics(raw, broker, passwords)
        finally:
            broker.kill()
    finally:
        os.umask(old_umask)


async def _connects_and_is_kept_to_its_topics(
    raw: Raw, broker: Mosquitto, passwords: dict[str, str]
) -> None:
    hub = await raw("hub-post", passwords["hub-post"], to=broker)
    assert hub.connect_reason == 0
    button = await raw("bank-1", passwords["bank-1"], to=broker)
    assert button.connect_reason == 0
    assert await button.publish("chuong/v1/dev/bank-1/heartbeat", "{}") < 0x80
    assert await button.publish("chuong/v1/dev/bank-2/event", "{}") == NOT_AUTHORIZED
    reader = await raw("office", passwords["office"], to=broker)
    assert await reader.publish("chuong/v1/alarms/post-1", "{}") == NOT_AUTHORIZED
    for client in (hub, button, reader):
        client.close()


async def test_the_hub_and_readers_read_the_alarms_and_a_button_only_its_own_ack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: Raw, store_url: str | None
) -> None:
    """The generated ACL, live: the hub (and a reader named with --reader) receive what is
    published on `alarms/#` and `hub/#`; bank-1 receives neither, nor bank-2's ack, only its own;
    a reader may publish nothing."""
    registry_store(monkeypatch, tmp_path / "hub.db", store_url)
    creds = tmp_path / "creds"
    assert cli.main(["registry", "credentials", "--dir", str(creds), "--reader", "office"]) == 0
    passwords = read_passwords(creds)
    broker = Mosquitto(tmp_path / "acl", password_file=creds / "passwd", acl_file=creds / "acl")
    broker.start()
    try:
        hub = await raw("hub-post", passwords["hub-post"], to=broker)
        office = await raw("office", passwords["office"], to=broker)
        bank_1 = await raw("bank-1", passwords["bank-1"], to=broker)
        for client in (hub, office, bank_1):
            await client.subscribe("chuong/v1/alarms/#")
            await client.subscribe("chuong/v1/hub/#")
        await bank_1.subscribe("chuong/v1/dev/+/ack")
        assert await hub.publish("chuong/v1/alarms/post-1", "{}") == 0
        assert await hub.publish("chuong/v1/hub/post/status", "{}") == 0
        assert await hub.publish("chuong/v1/dev/bank-2/ack", "{}") == 0
        assert await hub.publish("chuong/v1/dev/bank-1/ack", "{}") == 0
        assert await office.publish("chuong/v1/alarms/post-2", "{}") == NOT_AUTHORIZED
        expected = {"chuong/v1/alarms/post-1", "chuong/v1/hub/post/status"}
        await wait_for(lambda: {t for t, _ in hub.received} == expected, 10)
        await wait_for(lambda: {t for t, _ in office.received} == expected, 10)
        await wait_for(lambda: bank_1.received != [], 10)
        assert [topic for topic, _ in bank_1.received] == ["chuong/v1/dev/bank-1/ack"]
    finally:
        broker.kill()
