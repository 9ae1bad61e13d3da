"""Notifiers and the outbox dispatcher: messages that reach a device or a person.

outbox.py      the durable queue (rows written in the escalation's own transactions)
dispatcher.py  one worker per notifier: sends, retries with backoff, records every attempt
message.py     what a notification says (Vietnamese or English); links.py the ack links
base.py        the `Notifier` interface, `NotifyError`, the HTTP helper
mqtt.py webhook.py ntfy.py telegram.py sms.py email.py command.py   one per type
"""

from __future__ import annotations

from hub.broker.fanout import Publisher
from hub.config.notifiers import (
    EmailNotifier,
    MqttNotifier,
    NotifierModel,
    NtfyNotifier,
    SmsNotifier,
    TelegramNotifier,
    WebhookNotifier,
)
from hub.notify.base import Notifier, NotifyError, Outgoing
from hub.notify.command import Program
from hub.notify.email import Email
from hub.notify.mqtt import MqttDevice
from hub.notify.ntfy import Ntfy
from hub.notify.sms import Sms
from hub.notify.telegram import Telegram
from hub.notify.webhook import Webhook

__all__ = ["Notifier", "NotifyError", "Outgoing", "build"]


def build(config: NotifierModel, *, publisher: Publisher, language: str) -> Notifier:
    """The notifier for one configured `[notifiers.<name>]` (no I/O)."""
    if isinstance(config, MqttNotifier):
        return MqttDevice(config, publisher)
    if isinstance(config, NtfyNotifier):
        return Ntfy(config, language)
    if isinstance(config, WebhookNotifier):
        return Webhook(config)
    if isinstance(config, TelegramNotifier):
        return Telegram(config)
    if isinstance(config, SmsNotifier):
        return Sms(config)
    return Email(config) if isinstance(config, EmailNotifier) else Program(config)
