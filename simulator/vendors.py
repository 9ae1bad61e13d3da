"""Virtual off-the-shelf buttons, speaking their vendors' own topics and payloads over real MQTT
connections, each with the last will its firmware sets (devices/profiles documents the payloads).

    VirtualShellyGen1("shellybutton1-A4CF12")   shellies/<id>/input_event/0, online, battery
    VirtualShellyGen2("shellyplusi4-a80321")    <prefix>/events/rpc NotifyEvent, <prefix>/online
    VirtualTasmota("tasmota_49A3BC")            stat/<topic>/RESULT, tele/<topic>/LWT and STATE
    VirtualZigbee2MQTT()                        a bridge: zigbee2mqtt/<name>, …/availability

    VirtualEsphome("quay-thuoc")                <prefix>/event/<name>/state, <prefix>/status

MQTT 3.1.1, as these firmwares speak (a broker ACL denial is then silent).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from simulator.button import ButtonError


class VirtualDevice:
    """One MQTT connection with a retained birth and last will, publishing its events at `qos`
    (1 by default; 0 is these vendors' own default, which the shipped broker queues too)."""

    def __init__(
        self,
        client_id: str,
        *,
        will_topic: str,
        online: str,
        offline: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        qos: int = 1,
    ) -> None:
        self.host = host
        self.qos = qos
        self.port = port
        self.keepalive = keepalive
        self._will_topic = will_topic
        self._online = online
        self._offline = offline
        self._connected = threading.Event()
        self._refused: ReasonCode | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.will_set(will_topic, offline, qos=1, retain=True)
        self._client.on_connect = self._on_connect

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._refused = reason if reason.is_failure else None
        self._connected.set()

    async def connect(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        self._connected.clear()
        await loop.run_in_executor(None, self._client.connect, self.host, self.port, self.keepalive)
        self._client.loop_start()
        if not await loop.run_in_executor(None, self._connected.wait, timeout):
            raise ButtonError(f"{self._will_topic}: the broker did not answer CONNECT")
        if self._refused is not None:
            self._client.loop_stop()
            raise ButtonError(f"the broker refused the connection: {self._refused}")
        await self.publish(self._will_topic, self._online, qos=1, retain=True)

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int | None = None, retain: bool = False
    ) -> None:
        qos = self.qos if qos is None else qos
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 10)

    async def settle(self) -> None:
        """A QoS 1 round trip (the birth again): once it returns, the broker has taken everything
        published before on this connection, QoS 0 included."""
        await self.publish(self._will_topic, self._online, qos=1, retain=True)

    async def go_offline(self) -> None:
        """A clean goodbye: the offline word, retained, then DISCONNECT (no last will)."""
        await self.publish(self._will_topic, self._offline, qos=1, retain=True)
        await self.close()

    async def close(self) -> None:
        self._client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, self._client.loop_stop)

    def kill(self) -> None:
        """Lose power: the socket closes without DISCONNECT, the broker sends the last will."""
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
        self._client.loop_stop()


class VirtualShellyGen1(VirtualDevice):
    def __init__(self, device_id: str, **kwargs: Any) -> None:
        super().__init__(
            device_id,
            will_topic=f"shellies/{device_id}/online",
            online="true",
            offline="false",
            **kwargs,
        )
        self.device_id = device_id
        self.event_cnt = 0

    async def press(self, event: str = "S", channel: int = 0) -> None:
        self.event_cnt += 1
        await self.republish(event, channel)

    async def republish(self, event: str = "S", channel: int = 0) -> None:
        """The last event again, with the same counter (as Shelly does on reconnect)."""
        body = json.dumps({"event": event, "event_cnt": self.event_cnt})
        await self.publish(f"shellies/{self.device_id}/input_event/{channel}", body)

    async def battery(self, percent: int) -> None:
        await self.publish(f"shellies/{self.device_id}/sensor/battery", str(percent))


class VirtualShellyGen2(VirtualDevice):
    def __init__(self, prefix: str, **kwargs: Any) -> None:
        super().__init__(
            prefix, will_topic=f"{prefix}/online", online="true", offline="false", **kwargs
        )
        self.prefix = prefix

    async def press(self, event: str = "single_push", component: str = "input:0") -> None:
        ts = round(time.time(), 2)
        body = {
            "src": self.prefix,
            "dst": f"{self.prefix}/events",
            "method": "NotifyEvent",
            "params": {
                "ts": ts,
                "events": [
                    {
                        "component": component,
                        "id": int(component.split(":")[1]),
                        "event": event,
                        "ts": ts,
                    }
                ],
            },
        }
        await self.publish(f"{self.prefix}/events/rpc", json.dumps(body))


class VirtualTasmota(VirtualDevice):
    def __init__(self, topic: str, **kwargs: Any) -> None:
        super().__init__(
            topic, will_topic=f"tele/{topic}/LWT", online="Online", offline="Offline", **kwargs
        )
        self.topic = topic

    async def press(self, action: str = "SINGLE", button: int = 1, *, legacy: bool = False) -> None:
        """SetOption73: `{"Button1":{"Action":…}}`, or before 9.1 `{"ACTION":…}`."""
        body = {"ACTION": action} if legacy else {f"Button{button}": {"Action": action}}
        await self.publish(f"stat/{self.topic}/RESULT", json.dumps(body))

    async def state(self, signal: int = -60, uptime_s: int = 300) -> None:
        body = {"UptimeSec": uptime_s, "Wifi": {"RSSI": 2 * (signal + 100), "Signal": signal}}
        await self.publish(f"tele/{self.topic}/STATE", json.dumps(body), qos=0)


class VirtualZigbee2MQTT(VirtualDevice):
    """A Zigbee2MQTT bridge (2.0 payloads), publishing for the Zigbee devices paired to it."""

    def __init__(self, base: str = "zigbee2mqtt", **kwargs: Any) -> None:
        super().__init__(
            f"{base}-bridge",
            will_topic=f"{base}/bridge/state",
            online='{"state":"online"}',
            offline='{"state":"offline"}',
            **kwargs,
        )
        self.base = base

    async def report(self, name: str, **fields: Any) -> None:
        await self.publish(f"{self.base}/{name}", json.dumps({"linkquality": 120, **fields}))

    async def press(self, name: str, action: str = "single", battery: int = 97) -> None:
        await self.report(name, action=action, battery=battery, voltage=3000)

    async def sos(self, name: str, battery: int = 90) -> None:
        """A Feibit SEB01ZB-style SOS button: the `sos` flag rises."""
        await self.report(name, sos=True, tamper=False, battery_low=False, battery=battery)

    async def availability(self, name: str, online: bool) -> None:
        state = "online" if online else "offline"
        await self.publish(
            f"{self.base}/{name}/availability", json.dumps({"state": state}), retain=True
        )


class VirtualEsphome(VirtualDevice):
    """An ESPHome node on its own topics (`mqtt:` with the default `topic_prefix`)."""

    def __init__(self, prefix: str, **kwargs: Any) -> None:
        super().__init__(
            prefix, will_topic=f"{prefix}/status", online="online", offline="offline", **kwargs
        )
        self.prefix = prefix

    async def press(self, event_type: str = "single", name: str = "button") -> None:
        body = json.dumps({"event_type": event_type})
        await self.publish(f"{self.prefix}/event/{name}/state", body)
