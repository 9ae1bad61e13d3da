"""[notifiers.<name>]: the ways the hub reaches a device or a person.

Each notifier has a `type` and the keys of that type; the name is how escalation steps refer to it
(`notify = ["post-siren", "commander-sms"]`) and, for a person, who acknowledged from a phone link
(`link:<person>` in the audit log). One notifier reaches one destination: a person with two phones
has two notifiers with the same `person`.

    [notifiers.post-siren]                  [notifiers.commander-sms]
    type = "mqtt"                           type = "sms"
    topic = "cmnd/siren/POWER"              port = "/dev/ttyUSB2"
    payload_on = "ON"                       to = "+84901234567"
    payload_off = "OFF"                     person = "commander"

Here are the keys every notifier has (`NotifierSettings`); each type's own keys are in its module
(hub/notify/mqtt.py, ...), and hub/notify/registry.py lists the types.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from devices.messages import BUTTON_ID_RE

PHONE_RE: Final = re.compile(r"\+?[0-9]{3,20}\Z")
_TEMPLATE_FIELDS: Final = frozenset({"alarm", "site", "button", "level", "state", "kind"})
PLACEHOLDER_RE: Final = re.compile(r"\{([a-z_]+)\}")


def _int_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


IdText = Annotated[str, BeforeValidator(_int_as_text)]
"""an id a service gives as digits: written with or without quotes in the config"""


def check_name(value: str) -> str:
    """A notifier, policy or person name: 1-64 of a-z, 0-9, '_' or '-' (it goes into links)."""
    if not BUTTON_ID_RE.match(value):
        raise ValueError(
            f"{value!r}: must be 1-64 of a-z, 0-9, '_' or '-', starting with a letter or digit"
        )
    return value


class NotifierSettings(BaseModel):
    """The keys of every `[notifiers.<name>]`; a type adds its own in a subclass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="The type: one of hub/notify/registry.py's.")
    person: str | None = Field(
        default=None,
        description="Who this reaches (default: the notifier's name); an acknowledgement from "
        "this notifier's link is recorded as `link:<person>`.",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="Limit of one attempt.")
    retry_min_s: float = Field(
        default=5.0, gt=0, le=3600, description="Wait before the first retry (then doubling)."
    )
    retry_max_s: float = Field(default=300.0, gt=0, le=86400, description="Longest wait.")
    give_up_after_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        le=7 * 86400,
        description="Stop retrying a notification this long after it was queued.",
    )
    tests: bool = Field(
        default=False,
        description="Also fire for test alarms (only local types: mqtt, command). People are "
        "never called for a test.",
    )

    @field_validator("person")
    @classmethod
    def _person_is_a_name(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    @model_validator(mode="after")
    def _retry_range(self) -> NotifierSettings:
        if self.retry_min_s > self.retry_max_s:
            raise ValueError("retry_min_s must not exceed retry_max_s")
        if self.tests and not self.local:
            raise ValueError("tests: only local notifiers (mqtt, command) may fire for test alarms")
        return self

    @property
    def local(self) -> bool:
        """Sounds at the post (a siren, a speaker), as opposed to reaching a person."""
        return False

    @property
    def links(self) -> bool:
        """Gets a link to acknowledge the alarm (a local program gets it apart from the text)."""
        return not self.local


def check_template(value: str) -> str:
    for name in PLACEHOLDER_RE.findall(value):
        if name not in _TEMPLATE_FIELDS:
            raise ValueError(
                f"unknown placeholder {{{name}}} (known: {', '.join(sorted(_TEMPLATE_FIELDS))})"
            )
    return value


def check_notifier_names(notifiers: dict[str, Any]) -> list[str]:
    problems = []
    for name in notifiers:
        try:
            check_name(name)
        except ValueError as exc:
            problems.append(f"notifiers.{name}: {exc}")
    return problems
