"""Unit tests of devices/topics.py: building and parsing the topics of the MQTT contract."""

from __future__ import annotations

import pytest

from devices.topics import (
    DEFAULT_ROOT,
    DeviceTopic,
    DeviceTopicKind,
    TopicError,
    Topics,
    check_root,
)


def test_default_root_builders() -> None:
    """Every builder of the default root gives the contract's topic names."""
    topics = Topics()
    assert topics.root == DEFAULT_ROOT == "chuong/v1"
    assert topics.event("b1") == "chuong/v1/dev/b1/event"
    assert topics.heartbeat("b1") == "chuong/v1/dev/b1/heartbeat"
    assert topics.status("b1") == "chuong/v1/dev/b1/status"
    assert topics.ack("b1") == "chuong/v1/dev/b1/ack"
    assert topics.alarm("post-12") == "chuong/v1/alarms/post-12"
    assert topics.hub_status("post") == "chuong/v1/hub/post/status"


def test_custom_root_builders() -> None:
    """A configured root prefixes every topic."""
    topics = Topics("test/run-7/chuong")
    assert topics.event("b1") == "test/run-7/chuong/dev/b1/event"
    assert topics.alarm("a-1") == "test/run-7/chuong/alarms/a-1"


def test_device_subscriptions_and_their_qos() -> None:
    """The hub subscribes to event and status at QoS 1 and heartbeat at QoS 0 under its root."""
    assert Topics("r").device_subscriptions == (
        ("r/dev/+/event", 1),
        ("r/dev/+/status", 1),
        ("r/dev/+/heartbeat", 0),
    )


@pytest.mark.parametrize("kind", list(DeviceTopicKind))
def test_parse_device_topic_each_kind(kind: DeviceTopicKind) -> None:
    """Each of the three button topics parses to its button and kind."""
    topics = Topics()
    topic = f"chuong/v1/dev/vcb-quay-1/{kind.value}"
    assert topics.parse_device_topic(topic) == DeviceTopic("vcb-quay-1", kind)


def test_parse_device_topic_round_trips_builders() -> None:
    """What the builders produce, the parser recognises."""
    topics = Topics("a/b")
    assert topics.parse_device_topic(topics.event("x_1")) == DeviceTopic(
        "x_1", DeviceTopicKind.EVENT
    )
    assert topics.parse_device_topic(topics.status("x_1")) == DeviceTopic(
        "x_1", DeviceTopicKind.STATUS
    )


@pytest.mark.parametrize(
    "button", ["", "Quay1", "-lead", "_lead", "a b", "a" * 65, "é", "a.b", "+", "#"]
)
def test_parse_device_topic_bad_button_id_is_topic_error(button: str) -> None:
    """A button topic whose id breaks the pattern raises TopicError invalid_button_id."""
    with pytest.raises(TopicError) as info:
        Topics().parse_device_topic(f"chuong/v1/dev/{button}/event")
    assert info.value.reason == "invalid_button_id"
    assert isinstance(info.value, ValueError)


def test_parse_device_topic_bad_id_detail_is_bounded() -> None:
    """The detail quotes at most 80 characters of a very long bad id."""
    with pytest.raises(TopicError) as info:
        Topics().parse_device_topic("chuong/v1/dev/" + "X" * 500 + "/event")
    assert "X" * 80 in info.value.detail
    assert "X" * 81 not in info.value.detail


def test_parse_device_topic_longest_valid_id() -> None:
    """A 64-character id is valid in a topic."""
    button = "b" * 64
    assert Topics().parse_device_topic(f"chuong/v1/dev/{button}/heartbeat") == DeviceTopic(
        button, DeviceTopicKind.HEARTBEAT
    )


@pytest.mark.parametrize(
    "topic",
    [
        "chuong/v1/dev/b1/ack",
        "chuong/v1/dev/b1/event/extra",
        "chuong/v1/dev/b1/a/event",
        "chuong/v1/dev/b1",
        "chuong/v1/alarms/post-1",
        "chuong/v1/hub/post/status",
        "chuong/v1/dev/b1/Event",
        "/chuong/v1/dev/b1/event",
        "chuong/v1/dev/b1/event/",
        "shellies/shellybutton1/input_event/0",
        "",
    ],
)
def test_parse_device_topic_non_contract_topics_are_none(topic: str) -> None:
    """Topics that are not one of the three button topics give None, not an error."""
    assert Topics().parse_device_topic(topic) is None


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/dev/b1/event",
        "chuong/v2/dev/b1/event",
        "chuong/v1x/dev/b1/event",
        "x/chuong/v1/dev/b1/event",
    ],
)
def test_parse_device_topic_other_roots_are_none(topic: str) -> None:
    """A button topic under another root is not ours: None."""
    assert Topics().parse_device_topic(topic) is None


def test_root_with_regex_characters_is_matched_literally() -> None:
    """A root containing '.' is matched literally, not as a regex wildcard."""
    topics = Topics("site.a")
    assert topics.parse_device_topic("siteXa/dev/b1/event") is None
    assert topics.parse_device_topic("site.a/dev/b1/event") == DeviceTopic(
        "b1", DeviceTopicKind.EVENT
    )


@pytest.mark.parametrize("root", ["chuong/v1", "a", "a/b/c", "tỉnh/huyện", "a b/c"])
def test_check_root_accepts_levels(root: str) -> None:
    """One or more non-empty levels without wildcards are a valid root, returned unchanged."""
    assert check_root(root) == root


@pytest.mark.parametrize(
    "root", ["", "a//b", "/a", "a/", "+", "#", "a/+/b", "a/#", "a+b", "a#", "/", "a\x00b"]
)
def test_check_root_rejects(root: str) -> None:
    """Empty levels, leading/trailing slashes, wildcards and NUL are rejected."""
    with pytest.raises(ValueError, match="topic levels"):
        check_root(root)


@pytest.mark.parametrize("root", ["", "a//b", "/a", "a/", "+", "#"])
def test_topics_refuses_bad_root(root: str) -> None:
    """Topics(root) validates its root the same way."""
    with pytest.raises(ValueError, match="topic levels"):
        Topics(root)


def test_the_two_connections_split_the_device_topics() -> None:
    """The hub's session takes presses and statuses at QoS 1, the telemetry connection the
    heartbeats at QoS 0; together they are the one-connection subscriptions."""
    topics = Topics("r")
    assert topics.event_subscriptions == (("r/dev/+/event", 1), ("r/dev/+/status", 1))
    assert topics.telemetry_subscriptions == (("r/dev/+/heartbeat", 0),)
    both = set(topics.event_subscriptions) | set(topics.telemetry_subscriptions)
    assert both == set(topics.device_subscriptions)
