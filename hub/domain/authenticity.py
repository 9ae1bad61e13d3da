"""Is this press really from its button? The hub's side of signed presses (devices/signing.py).

A button with a key must sign each event; the pipeline asks `refusal_of` before a new event is
recorded (a redelivered event is a duplicate and never gets here). A refused press raises no
alarm: it is kept in the rejected log with its reason and opens a `possible_forgery` trouble for
the button and its site, so the officer learns at once that someone may be posing as it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from devices.signing import Refusal, SignedFields, check, key_id
from hub.domain.inbound import PressIn
from hub.domain.model import Button, DeviceState, TroubleKind

BACKLOG_GRACE: Final = timedelta(minutes=5)
"""After the hub (re)connects, presses may arrive that waited in the broker while it was away;
for this long an old device time is not held against them (the counter still stops replays)."""

FORGERY_TROUBLE: Final = TroubleKind.POSSIBLE_FORGERY


def refusal_of(
    item: PressIn, button: Button, device: DeviceState | None, listening_since: datetime | None
) -> Refusal | None:
    """None if the press is authentic and fresh, or the button does not sign; else why not."""
    if button.sign_key is None:
        return None
    event = item.event
    fields = SignedFields(
        button=item.button,
        event_id=event.id,
        event_type=event.type.value,
        seq=event.seq,
        ts=event.ts_epoch,
        sig=event.sig,
    )
    may_be_late = listening_since is None or item.received_at - listening_since < BACKLOG_GRACE
    same_key = device is not None and device.last_seq_key == key_id(button.sign_key)
    return check(
        fields,
        button.sign_key,
        last_seq=device.last_seq if device and same_key else None,
        received_at=item.received_at,
        may_be_late=may_be_late,
    )
