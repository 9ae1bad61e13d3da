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

The type is dispatched by hand (not a pydantic discriminated union) so that an error names the key
as the file has it: `notifiers.hook.url: Field required`, not `notifiers.hook.webhook.url`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    field_validator,
    model_validator,
)

from devices.messages import BUTTON_ID_RE

PHONE_RE: Final = re.compile(r"\+?[0-9]{3,20}\Z")
NTFY_TOPIC_RE: Final = re.compile(r"[-_A-Za-z0-9]{1,64}\Z")
_TEMPLATE_FIELDS: Final = frozenset({"alarm", "site", "button", "level", "state"})
_PLACEHOLDER_RE: Final = re.compile(r"\{([a-z_]+)\}")
ZNS_FIELDS: Final = frozenset(
    {"alarm", "site", "address", "phone", "time", "level", "button", "link", "title", "text"}
)


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


class _Notifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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
    def _retry_range(self) -> _Notifier:
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


class MqttNotifier(_Notifier):
    """A siren, strobe or LED driven over the hub's own MQTT connection."""

    type: Literal["mqtt"]
    topic: str = Field(
        min_length=1,
        description="Topic; may contain {alarm}, {site}, {button} (one message per button of "
        "the alarm), {level}, {state}.",
    )
    payload_on: str | None = Field(
        default=None, description="Payload when a step fires (default: a JSON object)."
    )
    payload_off: str | None = Field(
        default=None,
        description="Payload when the alarm is acknowledged or resolved (default: JSON).",
    )
    qos: Literal[0, 1] = 1
    retain: bool = Field(default=False, description="Retain, so a restarted device knows.")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if any(c in value for c in "#+\x00"):
            raise ValueError("must not contain '#', '+' or NUL")
        return _check_template(value)

    @field_validator("payload_on", "payload_off")
    @classmethod
    def _payload(cls, value: str | None) -> str | None:
        return None if value is None else _check_template(value)

    @field_validator("person")
    @classmethod
    def _no_person(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("an mqtt notifier drives a device and sends no link: remove person")
        return value

    @property
    def local(self) -> bool:
        return True

    @property
    def per_alarm(self) -> bool:
        """Its topic differs per alarm or button; otherwise several alarms share one device."""
        return "{alarm}" in self.topic or "{button}" in self.topic


class WebhookNotifier(_Notifier):
    """POST of a JSON body with the alarm object, signed with HMAC-SHA256."""

    type: Literal["webhook"]
    url: AnyHttpUrl
    secret: SecretStr | None = Field(
        default=None,
        description="Key of the `X-Chuong-Signature: sha256=<hex>` header (HMAC of the body).",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers.")
    send_links: bool = Field(default=False, description="Put an `ack_url` in the body.")

    @property
    def links(self) -> bool:
        return self.send_links


class NtfyNotifier(_Notifier):
    """A push to the ntfy app on a phone (JSON publishing)."""

    type: Literal["ntfy"]
    url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://ntfy.sh"), description="The ntfy server (root URL)."
    )
    topic: str = Field(description="The topic the phone subscribes to; hard to guess.")
    token: SecretStr | None = Field(default=None, description="Access token (Bearer).")
    priority: int = Field(default=5, ge=1, le=5, description="5 = max (long vibration).")
    trouble_priority: int = Field(default=3, ge=1, le=5, description="Priority of troubles.")
    tags: list[str] = Field(default_factory=lambda: ["rotating_light"])

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not NTFY_TOPIC_RE.match(value):
            raise ValueError("must be 1-64 of letters, digits, '_' or '-'")
        return value


class TelegramNotifier(_Notifier):
    """Bot API sendMessage to a person or a group."""

    type: Literal["telegram"]
    bot_token: SecretStr = Field(description="The bot's token from @BotFather.")
    chat_id: IdText = Field(min_length=1, description="Numeric chat id, or @channelname.")
    api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.telegram.org"), description="Bot API server."
    )


class SmsNotifier(_Notifier):
    """Text messages through a GSM modem on a serial port (AT commands, text mode)."""

    type: Literal["sms"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/ttyUSB2.")
    baudrate: int = Field(default=115200, ge=1200, le=4_000_000)
    to: str = Field(description="Phone number, e.g. +84901234567.")
    charset: Literal["ucs2", "ascii"] = Field(
        default="ucs2",
        description="ucs2 keeps Vietnamese diacritics (70 characters a message); ascii drops "
        "them (160 a message), for modems that mangle Unicode.",
    )
    timeout_s: float = Field(default=90.0, gt=0, le=600, description="Limit of one attempt.")

    @field_validator("to")
    @classmethod
    def _phone(cls, value: str) -> str:
        value = value.replace(" ", "")
        if not PHONE_RE.match(value):
            raise ValueError("must be a phone number: digits, optionally after '+'")
        return value


class EmailNotifier(_Notifier):
    """A mail through an SMTP server."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(min_length=3, description="From address.")
    to: str = Field(min_length=3, description="One address.")

    @model_validator(mode="after")
    def _credentials(self) -> EmailNotifier:
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        return self


class ZaloApp(_Notifier):
    """The keys of a Zalo Official Account's app, shared by the `zalo` and `zns` types."""

    app_id: str = Field(
        min_length=1, max_length=64, description="The app's id (Zalo for Developers)."
    )
    secret_key: SecretStr = Field(description="The app's secret key.")
    refresh_token: SecretStr = Field(
        description="An OA refresh token from the developers' console; the hub keeps the ones it "
        "gets in exchange in `token_file`. Put a new one here to start over."
    )
    token_file: Path = Field(
        description="Where the hub keeps the app's current tokens (0600), e.g. "
        "/var/lib/chuong/zalo-tokens.json; the same file for every notifier of one app."
    )
    oauth_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://oauth.zaloapp.com"), description="Zalo's OAuth server."
    )
    api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://openapi.zalo.me"), description="The OA API server."
    )
    zns_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://business.openapi.zalo.me"), description="The ZNS server."
    )

    @field_validator("token_file")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path, e.g. /var/lib/chuong/zalo-tokens.json")
        return value


class ZaloNotifier(ZaloApp):
    """A Zalo Official Account's message to one follower."""

    type: Literal["zalo"]
    user_id: IdText = Field(
        pattern=r"^[0-9]{1,32}$",
        description="The follower's user id for this OA (digits; from the OA's follower list).",
    )


class ZnsNotifier(ZaloApp):
    """A Zalo Notification Service template message to a phone number."""

    type: Literal["zns"]
    phone: str = Field(description="Phone number: +84..., 84... or 0...")
    template_id: IdText = Field(min_length=1, description="The approved ZNS template for alarms.")
    template_data: dict[str, str] = Field(
        description="The template's parameters, each a text with {alarm}, {site}, {address}, "
        "{phone}, {time}, {level}, {button}, {link}, {title} or {text}."
    )
    trouble_template_id: IdText | None = Field(
        default=None, description="Template for troubles (none: troubles are not sent by ZNS)."
    )
    trouble_template_data: dict[str, str] = Field(
        default_factory=dict, description="Parameters of the trouble template (as above)."
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        """ZNS wants 84xxxxxxxxx: +84... and 0... are turned into it."""
        value = value.replace(" ", "")
        if not PHONE_RE.match(value):
            raise ValueError("must be a phone number: digits, optionally after '+'")
        value = value.removeprefix("+")
        return "84" + value[1:] if value.startswith("0") else value

    @field_validator("template_data", "trouble_template_data")
    @classmethod
    def _placeholders(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            for field in _PLACEHOLDER_RE.findall(text):
                if field not in ZNS_FIELDS:
                    raise ValueError(
                        f"{name}: unknown placeholder {{{field}}} "
                        f"(known: {', '.join(sorted(ZNS_FIELDS))})"
                    )
        return value

    @model_validator(mode="after")
    def _trouble_pair(self) -> ZnsNotifier:
        if self.trouble_template_data and self.trouble_template_id is None:
            raise ValueError("trouble_template_data given without trouble_template_id")
        return self


class CommandNotifier(_Notifier):
    """A local program (a loud sound, a relay, a gateway of one's own); the message on stdin,
    details in CHUONG_*, with CHUONG_ACK_URL, the link that acknowledges as `person`."""

    type: Literal["command"]
    argv: list[str] = Field(min_length=1, description="Program and arguments (no shell).")

    @property
    def local(self) -> bool:
        return True

    @property
    def links(self) -> bool:
        return True


NotifierModel = (
    MqttNotifier
    | WebhookNotifier
    | NtfyNotifier
    | TelegramNotifier
    | SmsNotifier
    | EmailNotifier
    | CommandNotifier
    | ZaloNotifier
    | ZnsNotifier
)

TYPES: Final[dict[str, type[NotifierModel]]] = {
    "mqtt": MqttNotifier,
    "webhook": WebhookNotifier,
    "ntfy": NtfyNotifier,
    "telegram": TelegramNotifier,
    "sms": SmsNotifier,
    "email": EmailNotifier,
    "command": CommandNotifier,
    "zalo": ZaloNotifier,
    "zns": ZnsNotifier,
}


def _by_type(value: Any) -> NotifierModel:
    if isinstance(value, _Notifier):
        return value  # type: ignore[return-value]  # already one of the models
    if not isinstance(value, dict):
        raise ValueError("must be a table with a `type`")
    kind = value.get("type")
    if kind not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES)} (got {kind!r})")
    return TYPES[kind].model_validate(value)


Notifier = Annotated[NotifierModel, PlainValidator(_by_type)]


def _check_template(value: str) -> str:
    for name in _PLACEHOLDER_RE.findall(value):
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
