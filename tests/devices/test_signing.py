"""Signed presses: the canonical form, and the hub's pure decision on one event."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices import signing
from devices.signing import SignedFields, check, sign

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
KEY = "00" * 16 + "ff" * 16


def fields(**changes: object) -> SignedFields:
    values: dict[str, object] = {
        "button": "bank-1",
        "event_id": "e-17",
        "event_type": "press",
        "seq": 17,
        "ts": int(NOW.timestamp()),
    }
    values.update(changes)
    if "sig" not in changes:
        values["sig"] = sign(
            KEY,
            str(values["button"]),
            str(values["event_id"]),
            str(values["event_type"]),
            values["seq"],
            values["ts"],
        )  # type: ignore[arg-type]
    return SignedFields(**values)  # type: ignore[arg-type]


def test_canonical_form_is_the_documented_one() -> None:
    """The signature is HMAC-SHA256 over 'chuong-v1\\nbutton\\nid\\ntype\\nseq\\nts', in hex:
    what a button's firmware must compute byte for byte."""
    text = b"chuong-v1\nbank-1\ne-17\npress\n17\n1795334400"
    assert signing.canonical("bank-1", "e-17", "press", 17, 1795334400) == text
    assert (
        sign(KEY, "bank-1", "e-17", "press", 17, 1795334400)
        == hmac.new(bytes.fromhex(KEY), text, hashlib.sha256).hexdigest()
    )


def test_new_keys_are_32_random_bytes() -> None:
    """Keys are 64 hex characters and never repeat."""
    keys = {signing.new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 64 and bytes.fromhex(k) for k in keys)


def test_an_authentic_fresh_event_passes() -> None:
    """Right key, increasing counter, time of arrival: accepted."""
    assert check(fields(), KEY, last_seq=16, received_at=NOW) is None
    assert check(fields(), KEY, last_seq=None, received_at=NOW) is None


def test_upper_case_hex_is_the_same_signature() -> None:
    """Firmware that prints hex in upper case is not refused for it."""
    upper = fields(sig=fields().sig.upper())  # type: ignore[union-attr]
    assert check(upper, KEY, last_seq=None, received_at=NOW) is None


@pytest.mark.parametrize("missing", ["sig", "seq", "ts"])
def test_a_keyed_button_must_sign(missing: str) -> None:
    """Without sig, seq or an integer ts, the event is refused as unsigned."""
    refusal = check(fields(**{missing: None}), KEY, last_seq=None, received_at=NOW)
    assert refusal is not None
    assert refusal.reason == "unsigned"
    assert missing in refusal.detail


@pytest.mark.parametrize(
    "change",
    [
        {"event_id": "e-18"},
        {"event_type": "test"},
        {"seq": 18},
        {"ts": int(NOW.timestamp()) + 1},
        {"button": "bank-2"},
    ],
)
def test_any_changed_field_breaks_the_signature(change: dict[str, object]) -> None:
    """The signature covers button, id, type, counter and time: changing any one is a forgery."""
    tampered = dataclasses.replace(fields(), **change)  # type: ignore[arg-type]
    refusal = check(tampered, KEY, last_seq=None, received_at=NOW)
    assert refusal is not None
    assert refusal.reason == "bad_signature"


def test_the_wrong_key_is_a_bad_signature() -> None:
    """A press signed with another button's key is refused."""
    assert check(fields(), "11" * 32, last_seq=None, received_at=NOW).reason == "bad_signature"  # type: ignore[union-attr]


@pytest.mark.parametrize("last_seq", [17, 18, 1000])
def test_a_counter_that_does_not_increase_is_a_replay(last_seq: int) -> None:
    """Counter 17 after an accepted 17 (or more) is refused as replayed."""
    refusal = check(fields(), KEY, last_seq=last_seq, received_at=NOW)
    assert refusal is not None
    assert refusal.reason == "replayed"


@pytest.mark.parametrize(
    ("offset_s", "ok"), [(-40, True), (-41, False), (20, True), (21, False), (0, True)]
)
def test_the_time_window_is_dc09s(offset_s: int, ok: bool) -> None:
    """Sent up to 40 s before arrival or 20 s after it (a clock ahead) is fresh; beyond is stale."""
    event = fields(ts=int((NOW + timedelta(seconds=offset_s)).timestamp()))
    refusal = check(event, KEY, last_seq=None, received_at=NOW)
    assert (refusal is None) is ok
    if not ok:
        assert refusal is not None
        assert refusal.reason == "stale"


def test_presses_that_waited_out_an_outage_are_fresh() -> None:
    """Right after the hub reconnects, a press sent 10 minutes ago (it waited in the broker) is
    accepted; a time in the future is still refused, and so is a replayed counter."""
    waited = fields(ts=int((NOW - timedelta(minutes=10)).timestamp()))
    assert check(waited, KEY, last_seq=None, received_at=NOW, may_be_late=True) is None
    assert check(waited, KEY, last_seq=None, received_at=NOW).reason == "stale"  # type: ignore[union-attr]
    ahead = fields(ts=int((NOW + timedelta(seconds=30)).timestamp()))
    assert check(ahead, KEY, last_seq=None, received_at=NOW, may_be_late=True).reason == "stale"  # type: ignore[union-attr]
    assert check(waited, KEY, last_seq=17, received_at=NOW, may_be_late=True).reason == "replayed"  # type: ignore[union-attr]


@given(st.binary(min_size=0, max_size=80).map(bytes.hex))
def test_random_signatures_never_pass(sig: str) -> None:
    """No signature other than the right one is accepted."""
    right = fields().sig
    event = fields(sig=sig)
    assert (check(event, KEY, last_seq=None, received_at=NOW) is None) == (sig == right)
