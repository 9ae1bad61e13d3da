"""Signed, expiring links that acknowledge one alarm for one person, from a phone, without a login.

    {hub.public_url}/ack/{alarm id}/{person}/{expires}/{signature}

`expires` is a Unix time; `signature` is the first 128 bits of HMAC-SHA256 over the alarm, the
person and the expiry, in hex (hex survives SMS, mail line-wrapping and chat apps unchanged). The
key is 256 random bits the hub makes on its first start and keeps in the store's `meta` table; it
is never logged, and neither is a link (its signature is the credential).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

SECRET_META_KEY: Final = "link_secret"  # noqa: S105  # the name of the meta row, not a secret
SIGNATURE_HEX: Final = 32


class LinkCheck(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    EXPIRED = "expired"


def new_secret() -> str:
    return secrets.token_hex(32)


def sign(secret: bytes, alarm_id: str, person: str, expires: int) -> str:
    message = f"chuong-ack\n{alarm_id}\n{person}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def check(
    secret: bytes, alarm_id: str, person: str, expires: int, signature: str, now: datetime
) -> LinkCheck:
    """Is this link genuine, and still valid at `now`? (The signature first: a forged link is
    told apart from an expired one only once it is known to be genuine.)"""
    expected = sign(secret, alarm_id, person, expires)
    if not hmac.compare_digest(expected, signature.lower()):
        return LinkCheck.INVALID
    if now.timestamp() >= expires:
        return LinkCheck.EXPIRED
    return LinkCheck.VALID


@dataclass(frozen=True, slots=True)
class LinkMaker:
    secret: bytes
    base_url: str
    ttl_s: int

    def make(self, alarm_id: str, person: str, now: datetime) -> str:
        expires = int(now.timestamp()) + self.ttl_s
        signature = sign(self.secret, alarm_id, person, expires)
        return f"{self.base_url.rstrip('/')}/ack/{alarm_id}/{person}/{expires}/{signature}"
