"""The Mosquitto configuration shipped in config/mosquitto/, run by a real Mosquitto: passwords
required, TLS listener working, oversized packets cut off, and no limit on the queue kept for an
absent hub (the default of 1000 would drop presses)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.broker.mqtt import MqttAdapter, MqttMessage
from simulator.broker import find_mosquitto, free_port, port_open
from tests.conftest import wait_for
from tests.hub.broker.adapters import make_adapter
from tests.integration.supervision.shipped import SHIPPED, shipped_config


@dataclass
class Shipped:
    port: int
    tls_port: int
    ca: Path


def _install(tmp_path: Path) -> tuple[Path, Shipped]:
    """The shipped files with only the paths and ports changed for a private broker."""
    work = tmp_path / "broker"
    (work / "conf.d").mkdir(parents=True)
    key, cert = work / "server.key", work / "server.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    (work / "passwd").write_text("button:secret\nhub:hubsecret\n")
    subprocess.run(["mosquitto_passwd", "-U", str(work / "passwd")], check=True)
    (work / "acl").write_text(
        "user hub\ntopic readwrite #\nuser button\ntopic readwrite chuong/#\n"
    )
    ports = Shipped(free_port(), free_port(), work / "server.crt")
    tls = (SHIPPED / "conf.d" / "tls.conf.example").read_text()
    tls = tls.replace("listener 8883", f"listener {ports.tls_port} 127.0.0.1")
    tls = tls.replace("/etc/mosquitto/certs/server.crt", str(work / "server.crt"))
    tls = tls.replace("/etc/mosquitto/certs/server.key", str(work / "server.key"))
    (work / "conf.d" / "tls.conf").write_text(tls)
    conf = shipped_config(
        work, ports.port, passwd=work / "passwd", acl=work / "acl", conf_d=work / "conf.d"
    )
    path = work / "mosquitto.conf"
    path.write_text(conf)
    return path, ports


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[Shipped]:
    config, ports = _install(tmp_path)
    process = subprocess.Popen(
        [find_mosquitto(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while not (port_open("127.0.0.1", ports.port) and port_open("127.0.0.1", ports.tls_port)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            error = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"the shipped Mosquitto config does not start: {error}")
        time.sleep(0.02)
    yield ports
    process.kill()
    process.wait()


class Client:
    """A paho v5 client run in its own thread, recording what it receives."""

    def __init__(self, client_id: str, user: str | None, password: str | None) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.reason: Any = None
        self.received: list[bytes] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *args: self.disconnected.set()
        self.client.on_message = lambda c, u, m: self.received.append(bytes(m.payload))

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.reason = reason
        self.connected.set()

    def connect(self, port: int, *, clean: bool = True) -> Any:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0 if clean else 300
        self.connected.clear()
        self.disconnected.clear()
        self.client.connect("127.0.0.1", port, clean_start=clean, properties=props)
        self.client.loop_start()
        assert self.connected.wait(10)
        return self.reason

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_publish_the_acl_denies_is_refused_not_a_disconnection(shipped: Shipped) -> None:
    """A button publishing where it may not (a burst of them, v5) hears 0x87 for each and stays
    connected: the queue limit is a number, not Mosquitto's broken "0 = no limit"."""
    client = Client("nosy", "button", "secret")
    codes: list[int] = []
    client.client.on_publish = lambda c, u, mid, reason, props: codes.append(reason.value)
    client.connect(shipped.port)
    for i in range(20):
        client.client.publish(f"elsewhere/{i}", "x", qos=1)
    deadline = time.monotonic() + 10
    while len(codes) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert codes == [0x87] * 20
    assert not client.disconnected.is_set()
    client.close()


def test_anonymous_clients_are_refused_and_users_accepted(shipped: Shipped) -> None:
    anonymous = Client("anon", None, None)
    assert anonymous.connect(shipped.port).is_failure
    anonymous.client.loop_stop()
    user = Client("btn", "button", "secret")
    assert not user.connect(shipped.port).is_failure
    user.close()


def test_the_tls_listener_example_works(shipped: Shipped) -> None:
    """The TLS example, given a certificate, serves TLS 1.2+ to a client checking it."""
    client = Client("tls", "button", "secret")
    client.client.tls_set(ca_certs=str(shipped.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    assert not client.connect(shipped.tls_port).is_failure
    info = client.client.publish("chuong/v1/dev/button/heartbeat", "{}", qos=1)
    info.wait_for_publish(10)
    assert info.is_published()
    client.close()


def test_an_oversized_packet_is_cut_off(shipped: Shipped) -> None:
    """max_packet_size 8192: a 9000-byte publish disconnects its sender; 5000 bytes pass (the hub
    then rejects them with a reason, above its 4096-byte payload limit)."""
    client = Client("big", "button", "secret")
    client.connect(shipped.port)
    info = client.client.publish("chuong/v1/dev/button/event", b"x" * 5000, qos=1)
    info.wait_for_publish(10)
    client.client.publish("chuong/v1/dev/button/event", b"x" * 9000, qos=1)
    assert client.disconnected.wait(10)
    client.client.loop_stop()


async def test_an_absent_hub_finds_more_than_a_thousand_presses_queued(shipped: Shipped) -> None:
    """The hub subscribes on a persistent session and goes away; 1500 presses arrive meanwhile,
    in a burst from an authenticated button (Mosquitto's default max_queued_messages of 1000
    would drop 500; its "0 = no limit" disconnects the sender): all are delivered when it comes
    back."""
    hub = Client("chuong-hub-test", "hub", "hubsecret")
    hub.connect(shipped.port, clean=False)
    subscribed = threading.Event()
    hub.client.on_subscribe = lambda *args: subscribed.set()
    hub.client.subscribe("chuong/v1/dev/+/event", qos=1)
    assert subscribed.wait(10)
    hub.close()
    sender = Client("load", "button", "secret")
    sender.connect(shipped.port)
    infos = [
        sender.client.publish("chuong/v1/dev/button/event", f"{i}", qos=1) for i in range(1500)
    ]
    await wait_for(lambda: all(i.is_published() for i in infos), 60)
    sender.close()
    hub.connect(shipped.port, clean=False)
    await wait_for(lambda: len(hub.received) >= 1500, 60)
    await asyncio.sleep(0.2)
    assert sorted(int(p) for p in hub.received) == list(range(1500))
    hub.close()


@pytest.mark.parametrize("listener", ["plain", "tls"])
def test_no_credential_takes_another_users_session(shipped: Shipped, listener: str) -> None:
    """`use_username_as_clientid` on every listener: a button connecting with the hub's client id
    gets a session of its own (its user name), and the hub stays connected. Without the line
    after a listener (it is a per-listener setting), that listener would let it take over."""
    port = shipped.port if listener == "plain" else shipped.tls_port

    def connect(client_id: str, user: str, password: str) -> Client:
        client = Client(client_id, user, password)
        if listener == "tls":
            client.client.tls_set(ca_certs=str(shipped.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        assert not client.connect(port, clean=False).is_failure
        return client

    hub = connect("chuong-hub-post", "hub", "hubsecret")
    for _ in range(3):
        intruder = connect("chuong-hub-post", "button", "secret")
        intruder.close()
    assert not hub.disconnected.is_set()
    hub.close()


async def test_the_hubs_client_speaks_tls_and_checks_the_broker(shipped: Shipped) -> None:
    """`mqtt.tls` with the broker's CA: the hub's client logs in over TLS, subscribes and gets a
    press; without that CA it refuses the broker's certificate and says so."""

    def adapter(ca: Path | None, seen: list[MqttMessage]) -> MqttAdapter:
        login = {"username": "hub", "password": "hubsecret", "client_id": "hub"}
        return make_adapter(shipped.tls_port, seen, tls=True, ca_file=ca, **login)

    seen: list[MqttMessage] = []
    hub = adapter(shipped.ca, seen)
    await hub.start()
    try:
        assert await hub.wait_subscribed(10)
        client = Client("btn", "button", "secret")
        assert not client.connect(shipped.port).is_failure
        info = client.client.publish("chuong/v1/dev/b-1/event", "press", qos=1)
        await wait_for(lambda: seen != [], 10)
        assert seen[0].payload == b"press"
        assert info.is_published()
        client.close()
    finally:
        await hub.stop()
    untrusting = adapter(None, [])
    await untrusting.start()
    try:
        await wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in (untrusting.last_error or ""), 10)
        assert not untrusting.connected
    finally:
        await untrusting.stop()
