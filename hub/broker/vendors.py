"""Vendor topics: routed to their profile (devices/profiles), then to the registered button.

Ingest hands every message that is not on a topic of the contract to `VendorRouter.translate`,
which finds the profile whose topic it is, lets the profile translate it into canonical messages,
and turns those into the pipeline's items for the button the registry names with that profile
and native id:

- a press from a registered device is a press of its button, like any other;
- a press from a device the registry does not know raises an alarm (flagged unregistered, under
  an id made from the device's, e.g. `z2m-sos-kitchen`) only when its action is itself a call for
  help; any other is kept in the rejected log with reason `unregistered_device`, since a shared
  Zigbee network carries remotes that are not panic buttons;
- statuses and check-ins of unknown devices are not the hub's business, and are dropped;
- a message the broker replays from retention (flagged retained) is old news: only a status is
  taken from it, never a press or a sign of life;
- the `offline` of a button that sleeps between presses is its sleep: a check-in, not a fault
  (the same rule applies to canonical buttons on battery, through `canonical_status`).

A profile's check-in filters (periodic telemetry, never a press or a status) go to the hub's
clean telemetry connection when it has one (docs/BROKER.md), the rest to its persistent
session. Only the profiles in use by the registry, or named in `profiles.listen`, are subscribed
to; a registry change that brings a new profile into use subscribes to it within
`SYNC_INTERVAL_S`.
A message that yields nothing still goes through the pipeline (as `IgnoredIn`) when it needs a
PUBACK, so that acknowledgements keep arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Final

from devices.messages import Heartbeat, WireError
from devices.profiles.base import (
    Profile,
    Received,
    VendorCheckin,
    VendorMessage,
    VendorPress,
    VendorStatus,
)
from hub.broker.mqtt import MqttMessage, Subscription
from hub.config import SupervisionSection
from hub.domain.inbound import HeartbeatIn, IgnoredIn, Inbound, PressIn, RejectedIn, StatusIn
from hub.domain.model import Button
from hub.domain.state import HubState, Registry
from hub.supervision import policy

log = logging.getLogger(__name__)

SYNC_INTERVAL_S: Final = 2.0
"""How often a registry change is checked for a profile newly in use."""


class VendorRouter:
    def __init__(
        self,
        *,
        profiles: Mapping[str, Profile],
        listen: Sequence[str],
        supervision: SupervisionSection,
        state: Callable[[], HubState],
        subscribe: Callable[[Sequence[Subscription]], None],
        subscribe_checkins: Callable[[Sequence[Subscription]], None] | None = None,
    ) -> None:
        """`subscribe_checkins`: where a profile's check-in filters go (the hub's telemetry
        connection, at QoS 0); without it they go to `subscribe` with the rest."""
        self._profiles = dict(profiles)
        self._listen = list(listen)
        self._supervision = supervision
        self._state = state
        self._subscribe = subscribe
        self._subscribe_checkins = subscribe_checkins
        self._active: list[Profile] = []
        self._index: dict[tuple[str, str], Button] = {}
        self._indexed: Registry | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle: keep the subscriptions in step with the registry ------------------------------

    async def start(self) -> None:
        self.sync()
        self._task = asyncio.create_task(self._keep_in_step(), name="vendor-subscriptions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _keep_in_step(self) -> None:
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            self.sync()

    def sync(self) -> None:
        """Index the registry's vendor buttons; subscribe to profiles newly in use."""
        registry = self._state().registry
        if registry is self._indexed:
            return
        self._indexed = registry
        self._index = {
            (b.profile, b.native_id): b
            for b in registry.buttons.values()
            if b.profile in self._profiles and b.native_id is not None
        }
        wanted = set(self._listen) | {profile for profile, _ in self._index}
        new = [
            self._profiles[name]
            for name in sorted(wanted)
            if self._profiles[name] not in self._active
        ]
        if new:
            self._active.extend(new)
            log.info("vendors: listening to %s", ", ".join(p.name for p in new))
            if self._subscribe_checkins is None:
                self._subscribe([Subscription(t, q) for p in new for t, q in p.subscriptions()])
                return
            self._subscribe(
                [
                    Subscription(t, q)
                    for p in new
                    for t, q in p.subscriptions()
                    if t not in p.checkins()
                ]
            )
            self._subscribe_checkins([Subscription(t, 0) for p in new for t in p.checkins()])

    # -- translation -------------------------------------------------------------------------------

    def translate(self, message: MqttMessage) -> list[Inbound] | None:
        """The pipeline's items for a vendor message; None when no profile in use owns the topic."""
        for profile in self._active:
            native_id = profile.native_id_of(message.topic)
            if native_id is not None:
                break
        else:
            return None
        self.sync()
        button = self._index.get((profile.name, native_id))
        device = self._state().devices.get(button.id) if button else None
        received = Received(
            native_id,
            message.topic,
            message.payload,
            message.received_at,
            last_event=device.last_event if device else None,
        )
        try:
            found = profile.translate(received)
        except WireError as exc:  # kept in the rejected log and counted; a flood must not flood
            log.debug(
                "vendors: rejected a %s message on %s: %s: %s",
                profile.name,
                message.topic[:200],
                exc.reason,
                exc.detail,
            )
            return [
                RejectedIn(
                    message.topic,
                    message.payload,
                    exc.reason,
                    f"{profile.name}: {exc.detail}",
                    button.id if button else None,
                    message.received_at,
                    message.delivery,
                )
            ]
        items = [
            item
            for vendor_message in found
            if (item := self._item(profile, native_id, button, vendor_message, message)) is not None
        ]
        if items:
            items[-1] = replace(items[-1], delivery=message.delivery)  # acked once all are stored
            return items
        if message.delivery is None:
            return []
        reason = "retained" if message.retain else "nothing_to_record"
        return [IgnoredIn(message.topic, reason, message.received_at, message.delivery)]

    def _item(
        self,
        profile: Profile,
        native_id: str,
        button: Button | None,
        found: VendorMessage,
        message: MqttMessage,
    ) -> Inbound | None:
        at = message.received_at
        if isinstance(found, VendorStatus):
            if button is None:
                return None
            return self._status(button, found.online, at, retained=message.retain)
        if message.retain:  # a replay from retention: not a press, not a sign of life now
            return None
        if isinstance(found, VendorCheckin):
            return None if button is None else HeartbeatIn(button.id, found.beat, at, None)
        return self._press(profile, native_id, button, found, message)

    @staticmethod
    def _press(
        profile: Profile,
        native_id: str,
        button: Button | None,
        found: VendorPress,
        message: MqttMessage,
    ) -> Inbound:
        at = message.received_at
        if button is not None:
            return PressIn(
                button.id, found.event, at, None, source=profile.name, action=found.action
            )
        if found.sos:
            button_id = profile.unregistered_id(native_id)
            log.warning(
                "vendors: SOS %r from unregistered %s device %r: alarm as %s",
                found.action,
                profile.name,
                native_id,
                button_id,
            )
            return PressIn(
                button_id, found.event, at, None, source=profile.name, action=found.action
            )
        return RejectedIn(
            message.topic,
            message.payload,
            "unregistered_device",
            f"{profile.name} device {native_id!r} sent {found.action!r}, but the registry does "
            "not know it and its action is not an SOS; register it (profile and native_id) to "
            "make its presses alarms",
            None,
            at,
            None,
        )

    def _status(
        self, button: Button, online: bool, at: datetime, *, retained: bool
    ) -> Inbound | None:
        if not online and policy.liveness(button, self._supervision).sleeps:
            # It went to sleep: it was alive until now (unless the broker replays it).
            return None if retained else HeartbeatIn(button.id, Heartbeat(), at, None)
        return StatusIn(button.id, online, at, None)

    def canonical_status(self, item: StatusIn, topic: str, *, retained: bool) -> Inbound:
        """A canonical button's status, read by the same rule as a vendor device's."""
        button = self._state().registry.buttons.get(item.button)
        if button is None or item.online:
            return item
        result = self._status(button, item.online, item.received_at, retained=retained)
        if result is None:
            return IgnoredIn(topic, "retained", item.received_at, item.delivery)
        return replace(result, delivery=item.delivery)
