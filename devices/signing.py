"""Signed presses: an HMAC-SHA256 over a press's canonical fields, with a counter and a time.

A button may be given a key (32 random bytes, `chuong registry keys`). It then signs every event:

    canonical = "chuong-v1" LF button LF id LF type LF seq LF ts    (LF = "\\n", numbers in decimal)
    sig       = hex(HMAC-SHA256(key, canonical as UTF-8))

where `seq` is a counter that increases with every event the button sends (kept across reboots),
`ts` the button's clock in whole seconds since the epoch (an integer in the JSON), and `sig`
lower-case hex. The payload carries them as usual: `{"id", "type", "seq", "ts", "sig"}`.

The hub refuses (records, counts, and opens a `possible_forgery` trouble for the button):
- `unsigned`: an event without `sig`, `seq` or an integer `ts` from a button that has a key;
- `bad_signature`: a signature that does not match (forged, or the wrong key);
- `replayed`: a counter that does not increase over the last accepted one;
- `stale`: a time outside the window, SIA DC-09's +20 s / -40 s around the time of arrival.

A redelivery of an accepted event (same id) is a duplicate, acknowledged again, never a replay.
Presses that waited in the broker while the hub was away arrive late through no fault of the
button: the hub says so (`may_be_late`, for a while after it connects) and then only a time in
the future is stale. The counter still refuses every replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

CANONICAL_PREFIX: Final = "chuong-v1"
KEY_BYTES: Final = 32
WINDOW_AHEAD: Final = timedelta(seconds=20)
WINDOW_BEHIND: Final = timedelta(seconds=40)


def new_key() -> str:
    """A fresh key, as the hex text the registry stores and the button is flashed with."""
    return secrets.token_hex(KEY_BYTES)


def key_id(key_hex: str) -> str:
    """A short, non-secret name of a key: which key a counter belongs to."""
    return hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()[:16]


def canonical(button: str, event_id: str, event_type: str, seq: int, ts: int) -> bytes:
    return "\n".join((CANONICAL_PREFIX, button, event_id, event_type, str(seq), str(ts))).encode(
        "utf-8"
    )


def sign(key_hex: str, button: str, event_id: str, event_type: str, seq: int, ts: int) -> str:
    return hmac.new(
        bytes.fromhex(key_hex), canonical(button, event_id, event_type, seq, ts), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedFields:
    """What the hub checks of one event from a keyed button."""

    button: str
    event_id: str
    event_type: str
    seq: int | None
    ts: int | None
    """the raw integer time the button sent (None if absent or not an integer)"""
    sig: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    detail: str


def check(
    fields: SignedFields,
    key_hex: str,
    *,
    last_seq: int | None,
    received_at: datetime,
    may_be_late: bool = False,
) -> Refusal | None:
    """None if the event is authentic and fresh; otherwise why it is refused. Pure."""
    if fields.sig is None or fields.seq is None or fields.ts is None:
        missing = [
            n for n, v in (("sig", fields.sig), ("seq", fields.seq), ("ts", fields.ts)) if v is None
        ]
        return Refusal(
            "unsigned", f"a keyed button must sign its events; missing {', '.join(missing)}"
        )
    expected = sign(
        key_hex, fields.button, fields.event_id, fields.event_type, fields.seq, fields.ts
    )
    if not hmac.compare_digest(expected, fields.sig.lower()):
        return Refusal("bad_signature", "the signature does not match the button's key")
    if last_seq is not None and fields.seq <= last_seq:
        return Refusal("replayed", f"counter {fields.seq} does not increase over {last_seq}")
    sent = datetime.fromtimestamp(fields.ts, received_at.tzinfo)
    if sent > received_at + WINDOW_AHEAD:
        return Refusal("stale", f"sent {(sent - received_at).total_seconds():.0f} s in the future")
    if sent < received_at - WINDOW_BEHIND and not may_be_late:
        return Refusal(
            "stale", f"sent {(received_at - sent).total_seconds():.0f} s before it arrived"
        )
    return None
