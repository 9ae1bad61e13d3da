"""The notifier types: one line each. A new type is a module of hub/notify/ with its settings
(a `NotifierSettings` with `type: Literal["<type>"]`), its sender and its `KIND`, plus its line
here (docs/ARCHITECTURE.md, "Adding a notifier").

`NotifierSection` is how `Config` reads a `[notifiers.<name>]` table. The type is dispatched by
hand (not a pydantic discriminated union) so that an error names the key as the file has it:
`notifiers.hook.url: Field required`, not `notifiers.hook.webhook.url`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import PlainValidator

from hub.broker.fanout import Publisher
from hub.notify import command, email, mqtt, ntfy, sms, telegram, webhook, zalo
from hub.notify.base import Notifier, NotifierKind, Tools
from hub.notify.settings import NotifierSettings

KINDS: Final[tuple[NotifierKind[Any], ...]] = (
    mqtt.KIND,
    webhook.KIND,
    ntfy.KIND,
    telegram.KIND,
    sms.KIND,
    email.KIND,
    command.KIND,
    zalo.KIND,
    zalo.ZNS_KIND,
)

BY_TYPE: Final[dict[str, NotifierKind[Any]]] = {kind.type: kind for kind in KINDS}


def _by_type(value: Any) -> NotifierSettings:
    if isinstance(value, NotifierSettings):
        return value
    if not isinstance(value, dict):
        raise ValueError("must be a table with a `type`")
    name = value.get("type")
    kind = BY_TYPE.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"type must be one of {', '.join(BY_TYPE)} (got {name!r})")
    settings: NotifierSettings = kind.settings.model_validate(value)
    return settings


NotifierSection = Annotated[NotifierSettings, PlainValidator(_by_type)]
"""One `[notifiers.<name>]` table, read as the settings of its type."""


def build(config: NotifierSettings, *, publisher: Publisher, language: str) -> Notifier:
    """The notifier for one configured `[notifiers.<name>]` (no I/O)."""
    return BY_TYPE[config.type].build(config, Tools(publisher, language))
