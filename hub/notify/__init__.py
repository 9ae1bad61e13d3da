"""Notifiers and the outbox dispatcher: messages that reach a device or a person.

outbox.py      the durable queue (rows written in the escalation's own transactions)
dispatcher.py  one worker per notifier: sends, retries with backoff, records every attempt
message.py     what a notification says (Vietnamese or English); links.py the ack links
base.py        the `Notifier` interface, `NotifyError`, the HTTP helper
mqtt.py webhook.py ntfy.py telegram.py sms.py email.py command.py   one per type
zalo.py        the types zalo (Official Account message) and zns (template message)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.broker.fanout import Publisher
from hub.config.notifiers import NotifierModel
from hub.notify.base import Notifier, NotifyError, Outgoing
from hub.notify.command import Program
from hub.notify.email import Email
from hub.notify.mqtt import MqttDevice
from hub.notify.ntfy import Ntfy
from hub.notify.sms import Sms
from hub.notify.telegram import Telegram
from hub.notify.webhook import Webhook
from hub.notify.zalo import ZaloOa, Zns

__all__ = ["Notifier", "NotifyError", "Outgoing", "build"]


def build(config: NotifierModel, *, publisher: Publisher, language: str) -> Notifier:
    """The notifier for one configured `[notifiers.<name>]` (no I/O)."""
    makers: dict[str, Callable[[Any], Notifier]] = {
        "mqtt": lambda c: MqttDevice(c, publisher),
        "ntfy": lambda c: Ntfy(c, language),
        "webhook": Webhook,
        "telegram": Telegram,
        "sms": Sms,
        "email": Email,
        "command": Program,
        "zalo": ZaloOa,
        "zns": Zns,
    }
    return makers[config.type](config)
