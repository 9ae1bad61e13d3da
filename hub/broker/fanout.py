"""Fan-out to MQTT: the retained alarm topics, the acks to buttons, after every commit.

- An open alarm is published retained on `{root}/alarms/{id}` at every change; when it is resolved,
  the resolved object is published (not retained) and then the retained copy is cleared with an
  empty retained payload.
- A button hears back on `{root}/dev/{button}/ack`: `received` as soon as its press is committed
  (again for a duplicate), then `acknowledged` and `resolved` as the officer acts.
- Fan-out is repeatable: on every (re)connection the retained state of every open alarm and the
  current ack of each of its buttons are published again, and alarms resolved in the last day are
  cleared again, so a crash between a commit and its publication leaves nothing stale behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Final, Protocol

from devices.topics import Topics
from hub.clock import Clock, iso
from hub.domain.bus import AlarmChanged, BrokerConnected, Bus, ButtonAck, Event
from hub.domain.model import ACK_STATE, AckState, Alarm, AlarmChange
from hub.domain.state import HubState
from hub.domain.views import alarm_json
from hub.store import Store

log = logging.getLogger(__name__)

RECLEAR_WINDOW: Final = timedelta(days=1)


class Publisher(Protocol):
    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None: ...


class MqttFanout:
    def __init__(
        self,
        *,
        bus: Bus,
        publisher: Publisher,
        topics: Topics,
        state: HubState,
        store: Store,
        clock: Clock,
    ) -> None:
        self._bus = bus
        self._publisher = publisher
        self._topics = topics
        self._state = state
        self._store = store
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._bus.subscribe(self._on_event)

    async def stop(self) -> None:
        self._bus.unsubscribe(self._on_event)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ButtonAck):
            self._ack(event.button, event.event_id, event.alarm_id, event.state)
        elif isinstance(event, AlarmChanged):
            self._alarm(event.alarm)
            if event.change in (AlarmChange.ACKNOWLEDGED, AlarmChange.RESOLVED):
                self._ack_devices(event.alarm)
        elif isinstance(event, BrokerConnected):
            task = asyncio.create_task(self._republish(), name="fanout-republish")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _alarm(self, alarm: Alarm) -> None:
        topic = self._topics.alarm(alarm.id)
        if alarm.is_open:
            self._publisher.publish(topic, alarm_json(alarm), qos=1, retain=True)
        else:
            self._publisher.publish(topic, alarm_json(alarm), qos=1, retain=False)
            self._publisher.publish(topic, b"", qos=1, retain=True)

    def _ack(self, button: str, event_id: str, alarm_id: str, state: AckState) -> None:
        payload = json.dumps({"event": event_id, "alarm": alarm_id, "state": state})
        self._publisher.publish(self._topics.ack(button), payload, qos=1, retain=False)

    def _ack_devices(self, alarm: Alarm) -> None:
        for device in alarm.devices:
            self._ack(device.button, device.last_event, alarm.id, ACK_STATE[alarm.state])

    async def _republish(self) -> None:
        alarms = list(self._state.alarms.values())
        for alarm in alarms:
            self._alarm(alarm)
            self._ack_devices(alarm)
        try:
            resolved = await self._store.resolved_since(iso(self._clock.now() - RECLEAR_WINDOW))
        except Exception:
            log.exception("fanout: could not read recently resolved alarms to clear their topics")
            return
        for alarm in resolved:
            self._publisher.publish(self._topics.alarm(alarm.id), b"", qos=1, retain=True)
        log.info(
            "fanout: republished %d open alarms, cleared %d resolved", len(alarms), len(resolved)
        )
