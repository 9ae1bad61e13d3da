"""Unit tests of hub/notify/registry.py: a notifier type is one module plus one line."""

from __future__ import annotations

import importlib
import pkgutil

import hub.notify
from hub.broker.fanout import Publisher
from hub.notify.base import NotifierKind
from hub.notify.registry import BY_TYPE, KINDS, build
from hub.notify.webhook import Webhook, WebhookNotifier


def test_every_notifier_module_is_registered_once() -> None:
    """A module with a `KIND` that is missing from the registry would be a type nobody can
    configure; two kinds of one type would shadow each other."""
    found = []
    for module in pkgutil.iter_modules(hub.notify.__path__):
        if module.name == "registry":
            continue
        loaded = importlib.import_module(f"hub.notify.{module.name}")
        found += [value for value in vars(loaded).values() if isinstance(value, NotifierKind)]
    assert sorted(k.type for k in found) == sorted(k.type for k in KINDS)
    assert len(BY_TYPE) == len(KINDS) == 9


def test_the_type_comes_from_the_settings_literal() -> None:
    assert BY_TYPE["webhook"].settings is WebhookNotifier
    assert list(BY_TYPE) == [
        "mqtt",
        "webhook",
        "ntfy",
        "telegram",
        "sms",
        "email",
        "command",
        "zalo",
        "zns",
    ]


class _NoBroker:
    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        raise AssertionError("not used")


def test_build_makes_the_sender_of_the_type() -> None:
    settings = WebhookNotifier.model_validate({"type": "webhook", "url": "http://127.0.0.1:9/x"})
    publisher: Publisher = _NoBroker()
    assert isinstance(build(settings, publisher=publisher, language="vi"), Webhook)
