"""Unit tests of devices/messages.py: the canonical wire messages and their parsers."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.messages import (
    EPOCH_MS_THRESHOLD,
    MAX_PAYLOAD_BYTES,
    AckMessage,
    AckState,
    DeviceStatus,
    EventType,
    Heartbeat,
    PressEvent,
    WireError,
    is_button_id,
    load_json_object,
    parse_timestamp,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def rejection(parser: Any, payload: bytes) -> WireError:
    with pytest.raises(WireError) as info:
        parser(payload)
    return info.value


# -- PressEvent: valid payloads ----------------------------------------------------------------


@pytest.mark.parametrize("kind", [t.value for t in EventType])
def test_press_every_event_type_parses(kind: str) -> None:
    """Each of the six event types of the contract parses to that EventType, with no anomalies."""
    event = PressEvent.parse(encode({"id": "e-1", "type": kind}))
    assert event.type is EventType(kind)
    assert event.id == "e-1"
    assert event.anomalies == ()


def test_press_with_every_optional_field_keeps_them() -> None:
    """A press with seq, ts, battery and sig keeps each value, the sig lower-cased."""
    event = PressEvent.parse(
        encode(
            {
                "id": "a1b2",
                "type": "press",
                "seq": 42,
                "ts": "2026-11-22T08:00:00Z",
                "battery": 87,
                "sig": "DEADbeef",
            }
        )
    )
    assert (event.seq, event.ts, event.battery, event.sig) == (42, NOW, 87, "deadbeef")
    assert event.anomalies == ()


def test_press_minimal_payload_leaves_optionals_none() -> None:
    """A press with only id and type has every optional field None."""
    event = PressEvent.parse(b'{"id":"x","type":"long_press"}')
    assert (event.seq, event.ts, event.battery, event.sig) == (None, None, None, None)


def test_press_null_optional_fields_are_absent_not_anomalies() -> None:
    """Optional fields sent as null are treated as absent and not reported as anomalies."""
    event = PressEvent.parse(
        encode({"id": "x", "type": "press", "seq": None, "ts": None, "battery": None})
    )
    assert (event.seq, event.ts, event.battery) == (None, None, None)
    assert event.anomalies == ()


def test_press_unknown_extra_fields_are_ignored() -> None:
    """Fields the contract does not name (newer firmware) are ignored, not rejected."""
    event = PressEvent.parse(
        encode({"id": "x", "type": "press", "colour": "red", "nested": {"a": [1, 2]}})
    )
    assert event.id == "x"
    assert event.anomalies == ()


def test_press_id_of_64_visible_characters_is_accepted() -> None:
    """An event id of exactly 64 visible ASCII characters (punctuation included) is accepted."""
    event_id = "!" + "~" * 62 + "Z"
    assert PressEvent.parse(encode({"id": event_id, "type": "press"})).id == event_id


def test_press_integral_float_seq_is_taken_as_int() -> None:
    """A seq sent as 3.0 (some JSON encoders) is accepted as the integer 3."""
    event = PressEvent.parse(b'{"id":"x","type":"press","seq":3.0}')
    assert event.seq == 3
    assert isinstance(event.seq, int)


# -- PressEvent: rejections -----------------------------------------------------------------------


def test_press_too_large_is_rejected() -> None:
    """A payload over MAX_PAYLOAD_BYTES is rejected as too_large before it is decoded."""
    payload = encode({"id": "x", "type": "press", "pad": "a" * MAX_PAYLOAD_BYTES})
    error = rejection(PressEvent.parse, payload)
    assert error.reason == "too_large"
    assert str(len(payload)) in error.detail


def test_press_at_size_limit_is_accepted() -> None:
    """A payload of exactly MAX_PAYLOAD_BYTES is still accepted."""
    head = b'{"id":"x","type":"press","pad":"'
    payload = head + b"a" * (MAX_PAYLOAD_BYTES - len(head) - 2) + b'"}'
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert PressEvent.parse(payload).id == "x"


def test_press_invalid_utf8_is_rejected() -> None:
    """A payload that is not UTF-8 is rejected as invalid_utf8, naming the bad byte offset."""
    error = rejection(PressEvent.parse, b'{"id":"\xff","type":"press"}')
    assert error.reason == "invalid_utf8"
    assert "byte 7" in error.detail


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b'{"id":"x","type":"press"',
        b'{"id":"x","type":"press","battery":NaN}',
        b'{"id":"x","type":"press","ts":Infinity}',
        b'{"id":"x","type":"press","ts":-Infinity}',
    ],
)
def test_press_malformed_json_is_rejected(payload: bytes) -> None:
    """Broken JSON, and the non-standard NaN/Infinity constants, are rejected as invalid_json."""
    assert rejection(PressEvent.parse, payload).reason == "invalid_json"


@pytest.mark.parametrize(
    ("payload", "type_name"),
    [(b"[]", "list"), (b'"press"', "str"), (b"42", "int"), (b"null", "NoneType")],
)
def test_press_top_level_non_object_is_rejected(payload: bytes, type_name: str) -> None:
    """A JSON value that is not an object is rejected as invalid_json, naming what it was."""
    error = rejection(PressEvent.parse, payload)
    assert error.reason == "invalid_json"
    assert type_name in error.detail


def test_press_huge_nesting_is_rejected_by_size() -> None:
    """A 100000-deep nesting bomb is rejected (by its size) without being decoded."""
    assert rejection(PressEvent.parse, b"[" * 100_000).reason == "too_large"


@pytest.mark.parametrize("payload", [b"[" * 4000, b"[" * 2000 + b"]" * 2000])
def test_press_deep_nesting_within_size_is_rejected(payload: bytes) -> None:
    """Nesting deep enough to exhaust the recursion limit is invalid_json, not a RecursionError."""
    error = rejection(PressEvent.parse, payload)
    assert error.reason == "invalid_json"
    assert "nested too deeply" in error.detail


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"type": "press"}, "got nothing"),
        ({"id": 5, "type": "press"}, "got int"),
        ({"id": ["x"], "type": "press"}, "got list"),
        ({"id": True, "type": "press"}, "got bool"),
    ],
)
def test_press_id_of_wrong_type_is_invalid_field(raw: dict[str, Any], fragment: str) -> None:
    """A missing or non-text id is rejected as invalid_field naming the id and what it got."""
    error = rejection(PressEvent.parse, encode(raw))
    assert error.reason == "invalid_field"
    assert error.detail.startswith("id:")
    assert fragment in error.detail


@pytest.mark.parametrize("event_id", ["", "a b", "tab\there", "é", "x" * 65, "a\n", "\x7f"])
def test_press_id_with_bad_characters_or_length_is_invalid_field(event_id: str) -> None:
    """An empty id, one over 64 characters, or one with spaces/controls/non-ASCII is rejected."""
    error = rejection(PressEvent.parse, encode({"id": event_id, "type": "press"}))
    assert error.reason == "invalid_field"
    assert error.detail.startswith("id:")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"id": "x"}, "got nothing"),
        ({"id": "x", "type": 1}, "got int"),
        ({"id": "x", "type": {"press": True}}, "got dict"),
    ],
)
def test_press_type_of_wrong_type_is_invalid_field(raw: dict[str, Any], fragment: str) -> None:
    """A missing or non-text type is rejected as invalid_field naming the type field."""
    error = rejection(PressEvent.parse, encode(raw))
    assert error.reason == "invalid_field"
    assert error.detail.startswith("type:")
    assert fragment in error.detail


@pytest.mark.parametrize("kind", ["alarm", "PRESS", "", "press "])
def test_press_unknown_type_is_rejected(kind: str) -> None:
    """A text type that is not one of the six (case-sensitive) is rejected as unknown_type."""
    error = rejection(PressEvent.parse, encode({"id": "x", "type": kind}))
    assert error.reason == "unknown_type"


def test_press_unknown_type_detail_is_bounded() -> None:
    """The detail of an unknown_type quotes at most 40 characters of the offending type."""
    error = rejection(PressEvent.parse, encode({"id": "x", "type": "q" * 500}))
    assert "q" * 40 in error.detail
    assert "q" * 41 not in error.detail


def test_wire_error_carries_reason_and_detail() -> None:
    """WireError is a ValueError whose text is 'reason: detail'."""
    error = WireError("invalid_field", "id: bad")
    assert isinstance(error, ValueError)
    assert (error.reason, error.detail, str(error)) == (
        "invalid_field",
        "id: bad",
        "invalid_field: id: bad",
    )


# -- PressEvent: leniency of optional fields -------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("battery", 150),
        ("battery", -1),
        ("battery", "80"),
        ("battery", True),
        ("battery", 50.5),
        ("ts", "yesterday"),
        ("ts", -5),
        ("ts", True),
        ("ts", [2026, 11, 22]),
        ("ts", 1e300),
        ("seq", -1),
        ("seq", 2**63),
        ("seq", "7"),
        ("sig", "xyz"),
        ("sig", "abc"),
        ("sig", 1234),
        ("sig", "ab" * 129),
    ],
)
def test_press_bad_optional_field_is_dropped_and_reported(field: str, value: Any) -> None:
    """A bad optional field never costs the press: it is dropped and listed in anomalies."""
    event = PressEvent.parse(encode({"id": "keep-me", "type": "press", field: value}))
    assert event.id == "keep-me"
    assert event.type is EventType.PRESS
    assert getattr(event, field) is None
    assert len(event.anomalies) == 1
    assert event.anomalies[0].startswith(f"{field}: ")


def test_press_several_bad_optionals_are_each_reported_good_ones_kept() -> None:
    """Each bad optional field gets its own anomaly; the good ones in the same press are kept."""
    event = PressEvent.parse(
        encode({"id": "x", "type": "press", "battery": 150, "ts": "yesterday", "seq": 9})
    )
    assert event.seq == 9
    assert (event.battery, event.ts) == (None, None)
    assert sorted(a.split(":")[0] for a in event.anomalies) == ["battery", "ts"]


@pytest.mark.parametrize("battery", [0, 100])
def test_press_battery_bounds_are_inclusive(battery: int) -> None:
    """Battery 0 and 100 are both valid readings."""
    assert PressEvent.parse(encode({"id": "x", "type": "press", "battery": battery})).battery == (
        battery
    )


# -- timestamps -----------------------------------------------------------------------------------


def test_press_epoch_seconds_ts() -> None:
    """A ts given as epoch seconds is read as seconds."""
    event = PressEvent.parse(encode({"id": "x", "type": "press", "ts": int(NOW.timestamp())}))
    assert event.ts == NOW


def test_press_epoch_milliseconds_ts() -> None:
    """A ts above the threshold is read as epoch milliseconds."""
    millis = int(NOW.timestamp() * 1000) + 250
    event = PressEvent.parse(encode({"id": "x", "type": "press", "ts": millis}))
    assert event.ts == NOW + timedelta(milliseconds=250)


def test_parse_timestamp_threshold_itself_is_seconds() -> None:
    """The threshold value itself is still seconds (only values above it are milliseconds)."""
    assert parse_timestamp(EPOCH_MS_THRESHOLD).year == 5138
    assert parse_timestamp(EPOCH_MS_THRESHOLD + 1).year == 1973


def test_parse_timestamp_fractional_seconds() -> None:
    """A float epoch keeps its fraction."""
    assert parse_timestamp(NOW.timestamp() + 0.5) == NOW + timedelta(milliseconds=500)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T08:00:00",
        "2026-11-22T08:00:00Z",
        "2026-11-22T08:00:00z",
        "2026-11-22T08:00:00+00:00",
        "2026-11-22T15:00:00+07:00",
        "  2026-11-22T08:00:00Z  ",
    ],
)
def test_parse_timestamp_iso_forms_give_utc(text: str) -> None:
    """ISO text (naive = UTC, Z/z, offsets, surrounding spaces) becomes the same aware UTC time."""
    parsed = parse_timestamp(text)
    assert parsed == NOW
    assert parsed.tzinfo is UTC


def test_press_naive_iso_ts_is_utc() -> None:
    """A press whose ts has no offset is taken as UTC, not as the hub's local time."""
    event = PressEvent.parse(encode({"id": "x", "type": "press", "ts": "2026-11-22T08:00:00"}))
    assert event.ts == NOW
    assert event.ts is not None
    assert event.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [True, False, -1, float("nan"), float("inf"), "noon", None, []])
def test_parse_timestamp_rejects_non_times(value: object) -> None:
    """Booleans, negative or non-finite numbers, other text and other types raise ValueError."""
    with pytest.raises(ValueError, match=r".+"):
        parse_timestamp(value)


# -- load_json_object -----------------------------------------------------------------------------


def test_load_json_object_returns_the_dict() -> None:
    """A UTF-8 JSON object (non-ASCII text included) comes back as a dict."""
    assert load_json_object('{"tên": "Quầy 1"}'.encode()) == {"tên": "Quầy 1"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "too_large"),
        (b"\xc3\x28", "invalid_utf8"),
        (b'{"a": NaN}', "invalid_json"),
        (b"[1]", "invalid_json"),
    ],
)
def test_load_json_object_reasons(payload: bytes, reason: str) -> None:
    """Each kind of bad payload gives its own stable reason label."""
    assert rejection(load_json_object, payload).reason == reason


# -- is_button_id ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "0", "vcb-quay-1", "a_b", "a" * 64, "9" + "-" * 63])
def test_is_button_id_accepts_valid_ids(value: str) -> None:
    """Ids of 1 to 64 of [a-z0-9_-] that start with a letter or digit are valid."""
    assert is_button_id(value)


@pytest.mark.parametrize(
    "value", ["", "A", "-a", "_a", "a" * 65, "a b", "a/b", "a+", "é", "a\n", "Quay1"]
)
def test_is_button_id_rejects_invalid_ids(value: str) -> None:
    """Empty, too long, upper-case, leading punctuation, slashes, wildcards or non-ASCII fail."""
    assert not is_button_id(value)


# -- Heartbeat ------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"   ", b"\n"])
def test_heartbeat_empty_payload_is_ok(payload: bytes) -> None:
    """An empty (or blank) heartbeat is a valid check-in with no telemetry."""
    beat = Heartbeat.parse(payload)
    assert beat == Heartbeat()


def test_heartbeat_full_payload() -> None:
    """Every heartbeat field is kept when valid."""
    beat = Heartbeat.parse(
        encode({"seq": 3, "battery": 55, "rssi": -67, "fw": "1.2.3", "uptime_s": 3600})
    )
    assert (beat.seq, beat.battery, beat.rssi, beat.fw, beat.uptime_s) == (
        3,
        55,
        -67,
        "1.2.3",
        3600,
    )
    assert beat.anomalies == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("battery", 101),
        ("rssi", -201),
        ("rssi", 51),
        ("fw", 123),
        ("fw", "v" * 65),
        ("uptime_s", -1),
        ("seq", "one"),
    ],
)
def test_heartbeat_bad_field_is_dropped_and_reported(field: str, value: Any) -> None:
    """A bad heartbeat field is dropped and listed in anomalies; the others are kept."""
    beat = Heartbeat.parse(encode({"battery": 40, "fw": "ok", field: value}))
    assert getattr(beat, field) is None
    assert [a.split(":")[0] for a in beat.anomalies] == [field]
    kept = {"battery": 40, "fw": "ok"}
    kept.pop(field, None)
    for name, expected in kept.items():
        assert getattr(beat, name) == expected


def test_heartbeat_non_object_is_rejected() -> None:
    """A heartbeat that is JSON but not an object is rejected as invalid_json."""
    assert rejection(Heartbeat.parse, b"[1, 2]").reason == "invalid_json"


def test_heartbeat_too_large_is_rejected() -> None:
    """An oversized heartbeat is rejected as too_large."""
    payload = encode({"fw": "x" * MAX_PAYLOAD_BYTES})
    assert rejection(Heartbeat.parse, payload).reason == "too_large"


def test_heartbeat_fw_that_is_not_unicode_text_is_dropped() -> None:
    """A fw escape that is not Unicode text (a lone surrogate) is dropped as an anomaly."""
    beat = Heartbeat.parse(b'{"fw": "\\ud800", "battery": 50}')
    assert beat.battery == 50
    assert beat.fw is None
    assert [a.split(":")[0] for a in beat.anomalies] == ["fw"]


# -- DeviceStatus ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline", False),
        (b"ONLINE", True),
        (b"Offline", False),
        (b"  online\r\n", True),
        (b"\toffline ", False),
        (b'{"online": true}', True),
        (b'{"online": false}', False),
        (b'{"online": true, "extra": 1}', True),
    ],
)
def test_status_text_and_json_forms(payload: bytes, online: bool) -> None:
    """The text online/offline (any case, padded) and the JSON object both parse."""
    assert DeviceStatus.parse(payload).online is online


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b'{"online": 1}', "got int"),
        (b'{"online": "true"}', "got str"),
        (b"{}", "got nothing"),
    ],
)
def test_status_online_must_be_boolean(payload: bytes, fragment: str) -> None:
    """A JSON status whose online is not a boolean is rejected as invalid_field."""
    error = rejection(DeviceStatus.parse, payload)
    assert error.reason == "invalid_field"
    assert fragment in error.detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"on", "invalid_json"),
        (b"", "invalid_json"),
        (b"true", "invalid_json"),
        (b"\xfeonline", "invalid_utf8"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "too_large"),
        (b"online" + b" " * MAX_PAYLOAD_BYTES, "too_large"),
    ],
)
def test_status_other_payloads_are_rejected(payload: bytes, reason: str) -> None:
    """Other text, bare JSON values, bad UTF-8 and oversized payloads are rejected."""
    assert rejection(DeviceStatus.parse, payload).reason == reason


# -- AckMessage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [s.value for s in AckState])
def test_ack_parses_each_state(state: str) -> None:
    """An ack with event, alarm and each of the three states parses; extra fields are ignored."""
    ack = AckMessage.parse(encode({"event": "e1", "alarm": "post-7", "state": state, "x": 1}))
    assert (ack.event, ack.alarm, ack.state) == ("e1", "post-7", AckState(state))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"event": "e1", "alarm": "post-7"}',
        b'{"event": "e1", "alarm": "post-7", "state": "dispatched"}',
        b'{"event": 1, "alarm": "post-7", "state": "received"}',
        b"[]",
        b"not json",
    ],
)
def test_ack_bad_payload_is_invalid_field(payload: bytes) -> None:
    """A missing field, an unknown state, a wrong type or non-JSON is a WireError invalid_field."""
    error = rejection(AckMessage.parse, payload)
    assert error.reason == "invalid_field"
    assert error.detail


def test_ack_round_trips_through_json() -> None:
    """An AckMessage dumped to JSON parses back to an equal message."""
    ack = AckMessage(event="e1", alarm="post-7", state=AckState.ACKNOWLEDGED)
    assert AckMessage.parse(ack.model_dump_json().encode()) == ack


# -- properties -----------------------------------------------------------------------------------

_JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.datetimes().map(datetime.isoformat)
)
_JSON_VALUE = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
_OPTIONAL_NAMES = ["seq", "ts", "battery", "sig", "rssi", "fw", "uptime_s", "online", "other"]
_ALMOST_VALID = st.builds(
    lambda kind, extra: {**extra, "id": "e1", "type": kind},
    st.sampled_from([t.value for t in EventType]),
    st.dictionaries(st.sampled_from(_OPTIONAL_NAMES), _JSON_VALUE, max_size=4),
)
_PAYLOADS = (
    st.binary(max_size=300)
    | st.dictionaries(
        st.sampled_from(["id", "type", *_OPTIONAL_NAMES]), _JSON_VALUE, max_size=4
    ).map(encode)
    | _ALMOST_VALID.map(encode)
)
_REASONS = {None, "too_large", "invalid_utf8", "invalid_json", "invalid_field", "unknown_type"}


def _reason_of(parser: Any, payload: bytes) -> str | None:
    """None if the payload parsed, else the WireError's reason (any other exception escapes)."""
    try:
        parser(payload)
    except WireError as error:
        return error.reason
    return None


@given(_PAYLOADS)
def test_property_press_parse_raises_only_wire_error(payload: bytes) -> None:
    """Whatever the bytes, PressEvent.parse returns a message or raises WireError, nothing else."""
    assert _reason_of(PressEvent.parse, payload) in _REASONS


@given(_PAYLOADS)
def test_property_heartbeat_parse_raises_only_wire_error(payload: bytes) -> None:
    """Whatever the bytes, Heartbeat.parse returns a message or raises WireError, nothing else."""
    assert _reason_of(Heartbeat.parse, payload) in _REASONS


@given(_PAYLOADS)
def test_property_status_parse_raises_only_wire_error(payload: bytes) -> None:
    """Whatever the bytes, DeviceStatus.parse returns a message or raises WireError only."""
    assert _reason_of(DeviceStatus.parse, payload) in _REASONS


@given(_ALMOST_VALID)
def test_property_press_with_valid_id_and_type_is_never_lost(raw: dict[str, Any]) -> None:
    """With a valid id and type, no junk in optional fields can reject the press."""
    event = PressEvent.parse(encode(raw))
    assert (event.id, event.type) == (raw["id"], EventType(raw["type"]))


_EVENT_IDS = st.text(alphabet=[chr(c) for c in range(0x21, 0x7F)], min_size=1, max_size=64)
_VALID_PRESS = st.fixed_dictionaries(
    {"id": _EVENT_IDS, "type": st.sampled_from([t.value for t in EventType])},
    optional={
        "seq": st.integers(min_value=0, max_value=2**63 - 1),
        "ts": st.datetimes(
            min_value=datetime(1971, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.just(UTC) | st.just(timezone(timedelta(hours=7))),
        ).map(datetime.isoformat),
        "battery": st.integers(min_value=0, max_value=100),
        "sig": st.binary(min_size=1, max_size=32).map(bytes.hex),
    },
)


@given(_VALID_PRESS)
def test_property_valid_press_round_trips(raw: dict[str, Any]) -> None:
    """Any valid press keeps every field, and its own JSON dump parses back to an equal event."""
    event = PressEvent.parse(encode(raw))
    assert event.anomalies == ()
    assert event.id == raw["id"]
    assert event.type.value == raw["type"]
    assert event.seq == raw.get("seq")
    assert event.battery == raw.get("battery")
    assert event.sig == raw.get("sig")
    if "ts" in raw:
        assert event.ts == datetime.fromisoformat(raw["ts"])
        assert event.ts is not None
        assert event.ts.tzinfo is UTC
    else:
        assert event.ts is None
    dumped = event.model_dump_json(exclude={"anomalies"}, exclude_none=True).encode()
    assert PressEvent.parse(dumped) == event


@given(st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=80))
def test_property_button_id_rule(value: str) -> None:
    """is_button_id agrees with the rule: first char a letter or digit, 1 to 64 characters."""
    expected = value[0] not in "_-" and len(value) <= 64
    assert is_button_id(value) is expected
