"""Fixtures of the notifier tests: loopback services, and a sample notification."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain import alarms
from hub.domain.model import Alarm, Site
from hub.escalation.engine import alarm_body
from hub.notify.base import Outgoing
from hub.notify.message import Language, render, zone
from tests.integration.notify.loopback import http_recorder

__all__ = ["http_recorder", "sample_alarm", "sample_outgoing"]

RAISED = datetime(2026, 11, 22, 7, 5, 1, tzinfo=UTC)
LINK = "http://10.0.0.5:8080/ack/post-12/commander/1795000000/0123456789abcdef0123456789abcdef"


def sample_alarm(level: int = 2) -> Alarm:
    alarm = alarms.raise_alarm(
        hub_id="post",
        seq=12,
        button="bank-1",
        event_id="e1",
        site=Site("bank", "Ngân hàng Phước Hòa", "12 Quốc lộ 1A", "0272 3812 345"),
        registered=True,
        test=False,
        now=RAISED,
    )
    return alarms.escalate(alarm, level, RAISED)


def sample_outgoing(
    event: str = "alarm",
    *,
    link: str | None = LINK,
    language: Language = "vi",
    alarm: Alarm | None = None,
) -> Outgoing:
    body = alarm_body(alarm or sample_alarm(), step=2, round=0)
    message = render(event, body, language=language, where=zone("Asia/Ho_Chi_Minh"), link=link)
    return Outgoing("alarm:post-12/2.0/x", event, body, message, link, "post")
