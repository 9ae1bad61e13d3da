"""Helpers for the profile tests: a message as the router hands it to a profile."""

from __future__ import annotations

from datetime import UTC, datetime

from devices.profiles.base import Profile, Received, VendorMessage

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOW_MS = 1795334400000
"""NOW in epoch milliseconds."""


def translate(
    profile: Profile,
    topic: str,
    payload: bytes | str,
    *,
    at: datetime = NOW,
    last_event: str | None = None,
) -> list[VendorMessage]:
    """Route the topic to its device (as the hub does) and translate the payload."""
    native_id = profile.native_id_of(topic)
    assert native_id is not None, f"{topic} is not a {profile.name} topic"
    data = payload.encode() if isinstance(payload, str) else payload
    return profile.translate(Received(native_id, topic, data, at, last_event))
