"""sms against a GSM modem on a pseudo-terminal, email against a local SMTP server (aiosmtpd),
command with real programs."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from hub.notify.base import NotifyError
from hub.notify.command import CommandNotifier, Program
from hub.notify.email import Email, EmailNotifier
from hub.notify.sms import Sms, SmsNotifier
from simulator.broker import free_port
from tests.integration.notify.conftest import LINK, sample_outgoing
from tests.integration.notify.loopback import FakeModem

# -- sms ------------------------------------------------------------------------------------------


@pytest.fixture
def modem() -> Iterator[FakeModem]:
    fake = FakeModem()
    yield fake
    fake.close()


def sms(port: str, **extra: object) -> Sms:
    return Sms(
        SmsNotifier.model_validate(
            {"type": "sms", "port": port, "to": "+84 901 234 567", "timeout_s": 20, **extra}
        )
    )


def ucs2(text: str) -> bytes:
    return text.encode("utf-16-be").hex().upper().encode()


async def test_sms_in_ucs2_keeps_vietnamese_and_sends_the_link_apart(modem: FakeModem) -> None:
    """The modem is set up in text mode with UCS2; the Vietnamese text goes with its diacritics,
    in parts of at most 70 characters numbered k/n, to the number encoded in UCS2; the link
    follows in a message of its own in plain ASCII (IRA)."""
    note = await sms(modem.port).send(sample_outgoing())
    commands = modem.log.commands
    assert commands[:4] == ["AT", "ATE0", "AT+CPIN?", "AT+CMGF=1"]
    assert commands[4:6] == ['AT+CSCS="UCS2"', "AT+CSMP=17,167,0,8"]
    texts = [text for _, text in modem.log.messages]
    *parts, link = texts
    assert len(parts) >= 2
    decoded = [bytes.fromhex(p.decode()).decode("utf-16-be") for p in parts]
    assert all(len(part) <= 70 for part in decoded)
    assert decoded[0].startswith(f"1/{len(parts)} BÁO ĐỘNG Ngân hàng Phước Hòa")
    whole = " ".join(part.split(" ", 1)[1] for part in decoded)
    assert "12 Quốc lộ 1A" in whole
    assert "ĐT 0272 3812 345" in whole
    assert "14:05 22/11" in whole
    assert "mức 2" in whole
    assert link == LINK.encode()
    cmgs = [line for line, _ in modem.log.messages]
    assert cmgs[0] == f'AT+CMGS="{ucs2("+84901234567").decode()}"'
    assert cmgs[-1] == 'AT+CMGS="+84901234567"'
    assert 'AT+CSCS="IRA"' in commands
    assert "AT+CSMP=17,167,0,0" in commands
    assert note.startswith("+CMGS: 1")


async def test_sms_works_when_the_hub_holds_over_a_thousand_descriptors(modem: FakeModem) -> None:
    """A post under a flood of connections holds more than 1,024 descriptors (the unit allows
    many more); the modem's port then opens above 1,024, where select() cannot watch it
    (pyserial's reads and timed writes use select: "filedescriptor out of range"). The message
    still goes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.fail(f"this test needs a file limit of at least 2048 (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    held: list[int] = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        note = await sms(modem.port).send(sample_outgoing())
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert note.startswith("+CMGS: 1")
    assert len(modem.log.messages) >= 2


async def test_sms_in_ascii_drops_diacritics_for_modems_that_mangle_unicode(
    modem: FakeModem,
) -> None:
    """charset = ascii: one ASCII text (đ → d, accents dropped), link included, at most 160
    characters a message."""
    await sms(modem.port, charset="ascii").send(sample_outgoing())
    assert 'AT+CSCS="UCS2"' not in modem.log.commands
    texts = [text.decode("ascii") for _, text in modem.log.messages]
    assert all(len(text) <= 160 for text in texts)
    whole = " ".join(text.split(" ", 1)[1] if len(texts) > 1 else text for text in texts)
    assert "BAO DONG Ngan hang Phuoc Hoa, 12 Quoc lo 1A, DT 0272 3812 345" in whole
    assert "muc 2" in whole
    assert LINK in texts[-1]


async def test_sms_falls_back_to_gsm_when_the_modem_does_not_know_ira() -> None:
    """A modem that answers ERROR to AT+CSCS="IRA" is set to "GSM" instead."""
    fake = FakeModem(charsets=("GSM", "UCS2"))
    try:
        await sms(fake.port, charset="ascii").send(sample_outgoing())
    finally:
        fake.close()
    assert 'AT+CSCS="GSM"' in fake.log.commands
    assert fake.log.messages


async def test_sms_refused_by_the_network_is_an_error_that_may_pass() -> None:
    """+CMS ERROR after the text: a failure, retried later (credit, coverage)."""
    fake = FakeModem(fail_cmgs="+CMS ERROR: 500")
    try:
        with pytest.raises(NotifyError) as info:
            await sms(fake.port).send(sample_outgoing())
    finally:
        fake.close()
    assert "+CMS ERROR: 500" in str(info.value)
    assert not info.value.permanent


async def test_sms_without_the_modem_is_an_error_that_may_pass(tmp_path: Path) -> None:
    """The serial device is missing (unplugged): a failure naming the port, retried later."""
    port = str(tmp_path / "ttyUSB9")
    with pytest.raises(NotifyError) as info:
        await sms(port).send(sample_outgoing())
    assert port in str(info.value)
    assert not info.value.permanent


# -- email ----------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, Message]] = []

    async def handle_RCPT(  # noqa: N802  # aiosmtpd's hook name
        self, server: object, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802  # aiosmtpd's hook name
        self, server: object, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        self.mails.append((envelope, message_from_bytes(envelope.content, policy=default_policy)))
        return "250 accepted"


def _authenticate(
    server: object, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"post", b"pw")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def email(port: int, **extra: object) -> Email:
    return Email(
        EmailNotifier.model_validate(
            {
                "type": "email",
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "username": "post",
                "password": "pw",
                "sender": "chuong@post.local",
                "to": "commander@district.local",
                **extra,
            }
        )
    )


async def test_email_is_sent_in_utf8_with_the_link(smtp: tuple[Inbox, int]) -> None:
    """One mail through SMTP with login: Vietnamese subject and body, the ack link, the
    delivery id in a header."""
    inbox, port = smtp
    note = await email(port).send(sample_outgoing())
    assert note == "accepted for commander@district.local"
    [(envelope, mail)] = inbox.mails
    assert envelope.mail_from == "chuong@post.local"
    assert envelope.rcpt_tos == ["commander@district.local"]
    assert mail["Subject"] == "BÁO ĐỘNG: Ngân hàng Phước Hòa"
    assert mail["X-Chuong-Delivery"] == "alarm:post-12/2.0/x"
    body = mail.get_content()
    assert "Địa chỉ: 12 Quốc lộ 1A" in body
    assert f"Xác nhận: {LINK}" in body


async def test_email_refused_recipient_is_final_and_wrong_password_too(
    smtp: tuple[Inbox, int],
) -> None:
    """A refused recipient or a failed login cannot pass by retrying: final; the password is in
    no error."""
    _, port = smtp
    with pytest.raises(NotifyError) as refused:
        await email(port, to="nobody@district.local").send(sample_outgoing())
    assert refused.value.permanent
    with pytest.raises(NotifyError) as login:
        await email(port, password="wrong-pw").send(sample_outgoing())
    assert login.value.permanent
    assert "wrong-pw" not in str(login.value)


async def test_email_server_down_may_pass() -> None:
    with pytest.raises(NotifyError) as info:
        await email(free_port()).send(sample_outgoing())
    assert not info.value.permanent


# -- command --------------------------------------------------------------------------------------


def program(argv: list[str], **extra: object) -> Program:
    return Program(CommandNotifier.model_validate({"type": "command", "argv": argv, **extra}))


async def test_command_gets_the_text_on_stdin_and_the_details_in_its_environment(
    tmp_path: Path,
) -> None:
    """The program reads the message on stdin; CHUONG_* variables carry the event, alarm,
    level, site and link; exit 0 is a delivery."""
    out = tmp_path / "out.txt"
    script = (
        "import os, sys\n"
        f"open({str(out)!r}, 'w', encoding='utf-8').write(sys.stdin.read() + '|' + "
        "'|'.join(os.environ[k] for k in ('CHUONG_EVENT', 'CHUONG_ALARM_ID', 'CHUONG_LEVEL', "
        "'CHUONG_SITE_ID', 'CHUONG_ACK_URL', 'CHUONG_DELIVERY')))\n"
        "print('played')\n"
    )
    note = await program([sys.executable, "-c", script]).send(sample_outgoing())
    assert note == "exit 0: played"
    text, event, alarm, level, site, link, delivery = out.read_text("utf-8").split("|")
    assert text.startswith("Báo động post-12: mức 2")
    assert (event, alarm, level, site, link) == ("alarm", "post-12", "2", "bank", LINK)
    assert delivery == "alarm:post-12/2.0/x"


async def test_command_failing_or_hanging_is_an_error(tmp_path: Path) -> None:
    """A non-zero exit is a failure with the output's tail; a program running past timeout_s
    is killed and the attempt fails; a missing program fails."""
    with pytest.raises(NotifyError) as failed:
        await program([sys.executable, "-c", "print('no speaker'); raise SystemExit(3)"]).send(
            sample_outgoing()
        )
    assert "exited with 3: no speaker" in str(failed.value)
    with pytest.raises(NotifyError) as hung:
        await program([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5).send(
            sample_outgoing()
        )
    assert "killed" in str(hung.value)
    with pytest.raises(NotifyError) as missing:
        await program([str(tmp_path / "no-such-program")]).send(sample_outgoing())
    assert "cannot run" in str(missing.value)
