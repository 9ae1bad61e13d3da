"""Unit tests of hub/notify/message.py, links.py and the pure parts of sms.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import hub.web
from hub.domain import alarms
from hub.domain.kinds import KIND_LABELS
from hub.domain.model import AlarmKind, Site, Trouble, TroubleKind, TroubleState
from hub.escalation.engine import alarm_body
from hub.notify.links import LinkCheck, LinkMaker, check, sign
from hub.notify.message import (
    TROUBLE_LABELS,
    Language,
    TroubleSnapshot,
    ascii_fold,
    render,
    zone,
)
from hub.notify.sms import GSM_LIMIT, UCS2_LIMIT, compose, split

RAISED = datetime(2026, 11, 22, 20, 5, 1, tzinfo=UTC)  # 03:05:01 on the 23rd in Vietnam
LINK = "http://10.0.0.5/ack/post-7/boss/1795000000/" + "ab" * 16
VN = zone("Asia/Ho_Chi_Minh")


def body(  # type: ignore[type-arg]
    *,
    site: Site | None,
    level: int = 2,
    round_no: int = 0,
    test: bool = False,
    kind: AlarmKind = AlarmKind.HOLDUP,
) -> dict:
    alarm = alarms.raise_alarm(
        hub_id="post",
        seq=7,
        button="bank-1",
        event_id="e",
        site=site,
        registered=site is not None,
        test=test,
        now=RAISED,
        kind=kind,
    )
    return alarm_body(alarms.escalate(alarm, level, RAISED), step=level, round=round_no)


BANK = Site("bank", "Ngân hàng Phước Hòa", "12 Quốc lộ 1A", "0272 3812 345")


def test_alarm_message_in_vietnamese_with_local_time_level_and_link() -> None:
    """Site, address, phone, time in Asia/Ho_Chi_Minh (UTC+7, so the next day here), level,
    buttons and the link; the SMS form is one paragraph without the link."""
    message = render("alarm", body(site=BANK), language="vi", where=VN, link=LINK)
    assert message.title == "BÁO ĐỘNG: Ngân hàng Phước Hòa"
    assert message.text.splitlines() == [
        "Báo động post-7: mức 2, chưa ai xác nhận",
        "Loại: Cướp giật / đột nhập",
        "Nơi: Ngân hàng Phước Hòa",
        "Địa chỉ: 12 Quốc lộ 1A",
        "Điện thoại: 0272 3812 345",
        "Lúc: 03:05:01 23/11/2026",
        "Nút: bank-1 (1 lần bấm)",
        f"Xác nhận: {LINK}",
    ]
    assert message.short == (
        "BÁO ĐỘNG Ngân hàng Phước Hòa, 12 Quốc lộ 1A, ĐT 0272 3812 345. 03:05 23/11, mức 2. "
        "Mã post-7."
    )


def test_a_communication_loss_says_its_buttons_went_silent() -> None:
    """A comm_loss alarm counts no press: its buttons "cùng mất kết nối"."""
    lost = body(site=BANK, kind=AlarmKind.COMM_LOSS)
    lost["alarm"]["press_count"] = 0
    message = render("alarm", lost, language="vi", where=VN, link=None)
    assert "Nút: bank-1 (cùng mất kết nối)" in message.text.splitlines()
    english = render("alarm", lost, language="en", where=VN, link=None)
    assert "Buttons: bank-1 (all lost contact)" in english.text.splitlines()


def test_alarm_message_in_english_repeat_and_unregistered() -> None:
    """English by `hub.language`; a repeat says which; an unknown button has no site."""
    message = render(
        "alarm", body(site=None, level=3, round_no=2), language="en", where=VN, link=None
    )
    assert message.title == "ALARM: unregistered button bank-1"
    assert message.text.splitlines()[0] == "Alarm post-7: level 3, not acknowledged, reminder 2"
    assert "Acknowledge" not in message.text
    assert "Address" not in message.text


def test_test_alarm_and_clear_messages() -> None:
    assert render(
        "alarm", body(site=BANK, test=True), language="vi", where=VN, link=None
    ).title == ("BÁO ĐỘNG THỬ: Ngân hàng Phước Hòa")
    cleared = render("clear", body(site=BANK), language="en", where=VN, link=None)
    assert cleared.text == "Alarm post-7: active"


@pytest.mark.parametrize(
    ("language", "kind", "title", "line"),
    [
        ("vi", AlarmKind.FIRE, "BÁO ĐỘNG CHÁY: Ngân hàng Phước Hòa", "Loại: Cháy"),
        (
            "vi",
            AlarmKind.MEDICAL,
            "BÁO ĐỘNG CẤP CỨU Y TẾ: Ngân hàng Phước Hòa",
            "Loại: Cấp cứu y tế",
        ),
        (
            "vi",
            AlarmKind.ASSISTANCE,
            "BÁO ĐỘNG CẦN HỖ TRỢ: Ngân hàng Phước Hòa",
            "Loại: Cần hỗ trợ",
        ),
        (
            "vi",
            AlarmKind.COMM_LOSS,
            "BÁO ĐỘNG MẤT LIÊN LẠC: Ngân hàng Phước Hòa",
            "Loại: Mất liên lạc",
        ),
        ("en", AlarmKind.FIRE, "ALARM FIRE: Ngân hàng Phước Hòa", "Kind: Fire"),
        ("en", AlarmKind.HOLDUP, "ALARM: Ngân hàng Phước Hòa", "Kind: Hold-up / break-in"),
    ],
)
def test_the_kind_is_named_in_the_message(
    language: Language, kind: AlarmKind, title: str, line: str
) -> None:
    """Every alarm message says its kind; the title and the SMS too, unless it is a hold-up."""
    found = body(site=BANK)
    found["alarm"]["kind"] = kind.value
    message = render("alarm", found, language=language, where=VN, link=None)
    assert message.title == title
    assert message.text.splitlines()[1] == line
    assert message.short.startswith(title.replace(":", ""))


def test_every_alarm_kind_has_words_in_each_language() -> None:
    for labels in KIND_LABELS.values():
        assert set(labels) == set(AlarmKind)


def test_trouble_message() -> None:
    trouble = Trouble(4, "tamper", "bank-2", "bank", TroubleState.OPEN, RAISED, None, "event e9")
    message = render(
        "trouble",
        {"trouble": TroubleSnapshot.of(trouble).model_dump(mode="json"), "step": 1, "round": 0},
        language="vi",
        where=VN,
        link=None,
    )
    assert message.title == "SỰ CỐ: nút bị tháo hoặc phá"
    assert "Đối tượng: bank-2" in message.text
    assert "Chi tiết: event e9" in message.text
    assert "Lúc: 03:05:01 23/11/2026" in message.text


def test_every_trouble_kind_has_a_label_in_both_languages() -> None:
    """A new kind of trouble cannot reach a phone as its bare identifier."""
    for language in ("vi", "en"):
        assert set(TROUBLE_LABELS[language]) == set(TroubleKind), language


def test_unknown_time_zone_falls_back_to_vietnam_time() -> None:
    assert zone("Mars/Olympus").utcoffset(None) == timedelta(hours=7)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Đồng Nai đẹp", "Dong Nai dep"),
        ("Ngân hàng Phước Hòa — Quốc lộ 1A", "Ngan hang Phuoc Hoa - Quoc lo 1A"),
        ("BÁO ĐỘNG: mức 2", "BAO DONG: muc 2"),
        ("Trạm y tế “Ánh Dương”…", 'Tram y te "Anh Duong"...'),
        ("🚨 chuông", "? chuong"),
    ],
)
def test_ascii_fold(text: str, folded: str) -> None:
    """Vietnamese without diacritics, đ/Đ mapped, typographic punctuation made plain."""
    assert ascii_fold(text) == folded


# -- links ----------------------------------------------------------------------------------------

SECRET = bytes(range(32))
NOW = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


def test_link_is_signed_for_one_alarm_one_person_and_expires() -> None:
    """A link made for (alarm, person) checks valid until it expires; changing the alarm, the
    person, the expiry or the signature makes it invalid; after expiry it is expired."""
    link = LinkMaker(SECRET, "http://10.0.0.5:8080/", 3600).make("post-7", "boss", NOW)
    prefix = "http://10.0.0.5:8080/ack/post-7/boss/"
    assert link.startswith(prefix)
    expires_text, signature = link.removeprefix(prefix).split("/")
    expires = int(expires_text)
    assert expires == int(NOW.timestamp()) + 3600
    assert len(signature) == 32
    assert check(SECRET, "post-7", "boss", expires, signature, NOW) is LinkCheck.VALID
    assert check(SECRET, "post-8", "boss", expires, signature, NOW) is LinkCheck.INVALID
    assert check(SECRET, "post-7", "duty", expires, signature, NOW) is LinkCheck.INVALID
    assert check(SECRET, "post-7", "boss", expires + 1, signature, NOW) is LinkCheck.INVALID
    assert check(SECRET, "post-7", "boss", expires, "0" * 32, NOW) is LinkCheck.INVALID
    assert check(b"other" * 7, "post-7", "boss", expires, signature, NOW) is LinkCheck.INVALID
    later = NOW + timedelta(seconds=3600)
    assert check(SECRET, "post-7", "boss", expires, signature, later) is LinkCheck.EXPIRED
    assert sign(SECRET, "post-7", "boss", expires) == signature


# -- sms composition ------------------------------------------------------------------------------


def test_split_keeps_words_and_numbers_the_parts() -> None:
    text = " ".join(f"word{n}" for n in range(40))
    parts = split(text, 70)
    assert all(len(part) <= 70 for part in parts)
    assert [part.split(" ", 1)[0] for part in parts] == [
        f"{n}/{len(parts)}" for n in range(1, len(parts) + 1)
    ]
    assert " ".join(part.split(" ", 1)[1] for part in parts) == text
    assert split("short", 70) == ["short"]


def test_compose_ucs2_sends_the_link_apart_and_ascii_folds_everything() -> None:
    text = "BÁO ĐỘNG Ngân hàng Phước Hòa, 12 Quốc lộ 1A, ĐT 0272 3812 345. 03:05 23/11, mức 2."
    ucs2 = compose(text, LINK, "ucs2")
    assert all(part.ucs2 and len(part.text) <= UCS2_LIMIT for part in ucs2[:-1])
    assert (ucs2[-1].text, ucs2[-1].ucs2) == (LINK, False)
    plain = compose(text, LINK, "ascii")
    assert all(not part.ucs2 and len(part.text) <= GSM_LIMIT for part in plain)
    whole = " ".join(part.text for part in plain)
    assert "BAO DONG Ngan hang Phuoc Hoa" in whole
    assert LINK in whole
    assert compose("ngắn", None, "ucs2") == [type(ucs2[0])("ngắn", ucs2=True)]


def test_the_page_has_a_label_for_every_trouble_kind_in_both_languages() -> None:
    """The page (hub/web/static/i18n.js) shows each trouble by its label, not its identifier."""
    i18n = (Path(hub.web.__file__).parent / "static" / "i18n.js").read_text(encoding="utf-8")
    for kind in TroubleKind:
        assert i18n.count(f'"trouble.{kind.value}":') == 2, kind
