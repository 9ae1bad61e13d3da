"""Unit tests of hub/registry/credentials.py: who gets a broker user, and the ACL's lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devices.profiles import ProfileSettings, make_profiles
from hub.domain.model import Button
from hub.registry.credentials import CredentialsError, acl_text, users_for
from hub.registry.file import ButtonEntry

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BUTTONS = [
    Button("bank-1", "bank"),
    Button("quay-shelly", "pharmacy", profile="shelly-gen1", native_id="shellybutton1-A4CF12"),
    Button("zb-1", "pharmacy", profile="zigbee2mqtt", native_id="sos-1"),
    Button("zb-2", "pharmacy", profile="zigbee2mqtt", native_id="sos-2"),
]


def test_users_are_the_hub_every_button_that_connects_and_each_bridge_once() -> None:
    users = users_for(BUTTONS, make_profiles(), "chuong-hub")
    assert sorted(users) == [
        "bank-1",
        "chuong-hub",
        "chuong-hub-telemetry",
        "quay-shelly",
        "zigbee2mqtt",
    ]
    assert users["bank-1"] is None  # the shared pattern lines
    assert users["chuong-hub-telemetry"] is None  # its lines are written apart
    shelly = users["quay-shelly"]
    assert shelly is not None
    assert shelly.write == ("shellies/shellybutton1-A4CF12/#", "shellies/announce")


def test_the_acl_keeps_buttons_to_their_own_topics_and_never_lets_them_write_an_ack() -> None:
    profiles = make_profiles(ProfileSettings(zigbee2mqtt_base="z2m"))
    users = users_for(BUTTONS, profiles, "chuong-hub")
    text = acl_text(
        root="post/v1",
        hub_user="chuong-hub",
        users=users,
        hub_reads=["z2m/+", "shellies/+/online"],
        now=NOW,
    )
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:4] == [
        "pattern write post/v1/dev/%u/event",
        "pattern write post/v1/dev/%u/heartbeat",
        "pattern write post/v1/dev/%u/status",
        "pattern read post/v1/dev/%u/ack",
    ]
    assert not any(
        "%u/#" in line or ("ack" in line and "write" in line and "%u" in line) for line in lines
    )
    hub = lines[lines.index("user chuong-hub") + 1 :]
    assert hub[:6] == [
        "topic read post/v1/dev/+/#",
        "topic write post/v1/dev/+/ack",
        "topic readwrite post/v1/alarms/#",
        "topic readwrite post/v1/hub/#",
        "topic read z2m/+",
        "topic read shellies/+/online",
    ]
    telemetry = lines[lines.index("user chuong-hub-telemetry") + 1 :]
    assert telemetry[:1] == ["topic read post/v1/dev/+/heartbeat"]
    assert not any("write" in line for line in telemetry[: telemetry.index("user quay-shelly")])
    bridge = lines[lines.index("user zigbee2mqtt") + 1 :]
    assert bridge[:2] == ["topic write z2m/#", "topic read z2m/#"]
    assert "2026-11-22T08:00:00.000Z" in text


@pytest.mark.parametrize(
    ("button_id", "reason"),
    [
        ("hub-post", "the hub's"),
        ("chuong-hub", "the hub's"),
        ("chuong-hub-post", "reserved"),
        ("hub-post-telemetry", "the hub's"),
        ("zigbee2mqtt", "a bridge's"),
        ("office", "a reader"),
    ],
)
def test_a_button_named_like_another_identity_is_refused(button_id: str, reason: str) -> None:
    """The broker user is the client id: a button with the hub's name (or a bridge's, or a
    reader's) would be handed that identity's user."""
    buttons = [*BUTTONS, Button(button_id, "bank")]
    with pytest.raises(CredentialsError, match=f"button {button_id!r}.*{reason}"):
        users_for(buttons, make_profiles(), "hub-post", readers=["office"])


def test_the_registry_refuses_a_button_id_reserved_for_the_hub() -> None:
    with pytest.raises(ValueError, match="reserved"):
        ButtonEntry(id="chuong-hub-post", site="bank")


def test_readers_read_the_alarms_and_the_hubs_status_only() -> None:
    users = users_for(BUTTONS, make_profiles(), "chuong-hub", root="post/v1", readers=["office"])
    text = acl_text(root="post/v1", hub_user="chuong-hub", users=users, hub_reads=[], now=NOW)
    lines = text.splitlines()
    start = lines.index("user office") + 1
    assert lines[start:] == ["topic read post/v1/alarms/#", "topic read post/v1/hub/#"]
    for name in ("chuong-hub", "chuong-hub-telemetry"):
        with pytest.raises(CredentialsError, match="--reader"):
            users_for(BUTTONS, make_profiles(), "chuong-hub", readers=[name])


def test_the_telemetry_user_reads_the_heartbeats_and_check_ins_and_writes_nothing() -> None:
    """Its own user (the hub's, `-telemetry`, or as configured): it reads what the telemetry
    connection subscribes to, nothing else, and it may publish nothing."""
    profiles = make_profiles()
    users = users_for(BUTTONS, profiles, "hub-post", telemetry_user="post-beats")
    assert "post-beats" in users
    text = acl_text(
        root="post/v1",
        hub_user="hub-post",
        users=users,
        hub_reads=[t for t, _ in profiles["shelly-gen1"].subscriptions()],
        now=NOW,
        telemetry_user="post-beats",
        telemetry_reads=profiles["shelly-gen1"].checkins(),
    )
    lines = text.splitlines()
    start = lines.index("user post-beats") + 1
    block = lines[start : lines.index("", start)]
    assert block == [
        "topic read post/v1/dev/+/heartbeat",
        "topic read shellies/+/sensor/battery",
        "topic read shellies/+/info",
        "topic read shellies/+/announce",
    ]
