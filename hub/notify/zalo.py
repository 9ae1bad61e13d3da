"""zalo and zns: a Zalo Official Account's message to a follower, and a ZNS template message to a
phone number. Both use the OA's access token, which the hub refreshes itself.

    POST {oauth_url}/v4/oa/access_token        form: refresh_token, app_id, grant_type
         header secret_key: <the app's secret>  -> {access_token, refresh_token, expires_in}
    POST {api_url}/v3.0/oa/message/cs           header access_token   (type "zalo")
         {"recipient": {"user_id"}, "message": {"text"}}
    POST {zns_url}/message/template             header access_token   (type "zns")
         {"phone": "84...", "template_id", "template_data": {...}, "tracking_id"}

Zalo answers most errors with HTTP 200 and a negative `error` code. An access token that is invalid
or expired is refreshed and the request tried once more at once; a rate limit or an unknown code is
retried with the dispatcher's backoff; a refusal that no retry can change (the person does not
follow the OA, a wrong phone number or template) gives up. docs/ESCALATION.md lists the codes and
where they come from.

A refresh token can be used once: each refresh returns the next one, and the old one is dead. The
hub writes the new pair to `token_file` (0600, atomically, fsynced) before it uses the access token,
so a restart or a power cut right after a refresh does not lock the post out of Zalo. All the
notifiers of one app share one token keeper (one lock), so two of them never spend the same refresh
token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from hub import __version__
from hub.notify.base import NotifierKind, NotifyError, Outgoing, failed, json_object
from hub.notify.message import VIETNAM
from hub.notify.settings import PHONE_RE, PLACEHOLDER_RE, IdText, NotifierSettings

log = logging.getLogger(__name__)

ZNS_FIELDS: Final = frozenset(
    {"alarm", "site", "address", "phone", "time", "level", "button", "link", "title", "text"}
)


class ZaloApp(NotifierSettings):
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
            for field in PLACEHOLDER_RE.findall(text):
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


TEXT_LIMIT: Final = 2000
"""the OA's limit of a text message"""

TOKEN_CODES: Final = frozenset({-124, -201, -216, -220})
"""the access token is invalid or expired: refresh it and try again"""

RETRY_CODES: Final = frozenset({-32, -100})
"""rate limited, or an error of Zalo's own: try again later"""

REFUSED: Final[dict[int, str]] = {
    -204: "the message was refused as invalid",
    -205: "the Official Account does not exist",
    -206: "the app is not linked to the Official Account",
    -207: "the user id is not valid",
    -213: "the person does not follow the Official Account",
    -230: "the person has not written to the Official Account in the last 7 days",
    -232: "the person cannot receive this kind of message",
    -101: "the app id is not valid",
    -102: "the app does not exist",
    -103: "the app is not activated",
    -104: "the app's secret key is not valid",
    -105: "the app is not linked to an Official Account",
    -108: "the phone number is not valid",
    -109: "the template id is not valid",
    -111: "the template data is empty",
    -112: "the template data is not valid",
    -118: "the phone number has no Zalo account",
    -119: "that Zalo account cannot receive ZNS messages",
}
"""refusals that no retry can change (the configuration or the person must change)"""

RATE_LIMIT_WAIT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float
    """wall-clock seconds (time.time()) after which the access token is taken as expired"""
    seed: str
    """digest of the configured refresh token these came from: a new one in the config wins"""


class TokenKeeper:
    """The access and refresh tokens of one Zalo app, kept in `token_file`."""

    MARGIN_S: Final = 300.0
    """refresh this long before Zalo's expiry"""

    def __init__(self, app: ZaloApp) -> None:
        self._app = app
        self._lock = asyncio.Lock()
        self._seed = hashlib.sha256(app.refresh_token.get_secret_value().encode()).hexdigest()
        self._tokens = self._load()

    @property
    def secrets(self) -> list[str]:
        found = [
            self._app.secret_key.get_secret_value(),
            self._app.refresh_token.get_secret_value(),
        ]
        if self._tokens is not None:
            found += [self._tokens.access_token, self._tokens.refresh_token]
        return found

    async def access_token(self, client: httpx.AsyncClient, *, stale: str | None = None) -> str:
        """A valid access token; refreshed first when none is kept, it is near its expiry, or it
        is `stale` (Zalo refused it)."""
        async with self._lock:
            tokens = self._tokens
            if (
                tokens is None
                or tokens.access_token == stale
                or time.time() > tokens.expires_at - self.MARGIN_S
            ):
                tokens = await self._refresh(client, tokens)
            return tokens.access_token

    async def _refresh(self, client: httpx.AsyncClient, tokens: Tokens | None) -> Tokens:
        app = self._app
        refresh = (
            tokens.refresh_token if tokens is not None else app.refresh_token.get_secret_value()
        )
        url = f"{str(app.oauth_url).rstrip('/')}/v4/oa/access_token"
        try:
            response = await client.post(
                url,
                data={
                    "refresh_token": refresh,
                    "app_id": app.app_id,
                    "grant_type": "refresh_token",
                },
                headers={
                    "secret_key": app.secret_key.get_secret_value(),
                    "User-Agent": f"chuong/{__version__}",
                },
            )
        except httpx.TimeoutException as exc:
            raise NotifyError(f"token refresh timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise NotifyError(self.redact(f"token refresh: {type(exc).__name__}: {exc}")) from None
        if not response.is_success:
            raise failed(response, self.secrets)
        answer = json_object(response)
        access = answer.get("access_token")
        new_refresh = answer.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(new_refresh, str):
            code = answer.get("error")
            raise NotifyError(
                f"Zalo refused the refresh token (error {code}): put a new one from the Zalo "
                f"developers' console into refresh_token of the notifier's config and restart",
                permanent=True,
            )
        try:
            lifetime = float(answer.get("expires_in") or 3600)  # Zalo sends it as a string
        except (TypeError, ValueError):
            lifetime = 3600.0
        fresh = Tokens(access, new_refresh, time.time() + lifetime, self._seed)
        self._save(fresh)  # before use: the old refresh token is dead from now on
        self._tokens = fresh
        log.info("zalo app %s: access token refreshed, valid %.0f s", app.app_id, lifetime)
        return fresh

    def _load(self) -> Tokens | None:
        path = self._app.token_file
        try:
            data = json.loads(path.read_text())
            tokens = Tokens(
                str(data["access_token"]),
                str(data["refresh_token"]),
                float(data["expires_at"]),
                str(data["seed"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("zalo token file %s unreadable (%s): starting from the config", path, exc)
            return None
        if tokens.seed != self._seed:
            log.info("zalo app %s: a new refresh_token in the config replaces the kept one", path)
            return None
        return tokens

    def _save(self, tokens: Tokens) -> None:
        path = self._app.token_file
        temporary = path.with_name(f".{path.name}.tmp")
        data = json.dumps(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_at": tokens.expires_at,
                "seed": tokens.seed,
            }
        ).encode()
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            # The refresh token just received is the only live one: without it kept, the next
            # restart is locked out. Say so loudly; this send still goes out with it.
            log.error("zalo token file %s could not be written: %s", path, exc)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


_KEEPERS: dict[tuple[str, Path], TokenKeeper] = {}


def keeper(app: ZaloApp) -> TokenKeeper:
    """The one keeper of an app's tokens in this process (notifiers of one app share it)."""
    key = (app.app_id, app.token_file)
    found = _KEEPERS.get(key)
    if found is None:
        found = _KEEPERS[key] = TokenKeeper(app)
    return found


class _ZaloSender:
    def __init__(self, app: ZaloApp, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._tokens = keeper(app)

    async def _post(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; refresh it and try once more if Zalo refuses it."""
        stale: str | None = None
        for _ in range(2):
            token = await self._tokens.access_token(self._client, stale=stale)
            try:
                response = await self._client.post(
                    url,
                    content=json.dumps(payload, ensure_ascii=False).encode(),
                    headers={
                        "access_token": token,
                        "Content-Type": "application/json; charset=utf-8",
                        "User-Agent": f"chuong/{__version__}",
                    },
                )
            except httpx.TimeoutException as exc:
                raise NotifyError(f"timed out ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise NotifyError(self._tokens.redact(f"{type(exc).__name__}: {exc}")) from None
            if not response.is_success:
                raise failed(response, self._tokens.secrets)
            answer = json_object(response)
            code = _code(answer)
            if code == 0:
                return answer
            if code in TOKEN_CODES:
                stale = token
                continue
            raise _error(code, answer, self._tokens.redact)
        raise NotifyError("Zalo refused a freshly refreshed access token")

    async def close(self) -> None:
        await self._client.aclose()


class ZaloOa(_ZaloSender):
    """type "zalo": the OA's consultation message to one follower (by the follower's user id)."""

    def __init__(self, config: ZaloNotifier) -> None:
        super().__init__(config, config.timeout_s)
        self._config = config

    async def send(self, outgoing: Outgoing) -> str:
        text = f"{outgoing.message.title}\n{outgoing.message.text}"[:TEXT_LIMIT]
        answer = await self._post(
            f"{str(self._config.api_url).rstrip('/')}/v3.0/oa/message/cs",
            {"recipient": {"user_id": self._config.user_id}, "message": {"text": text}},
        )
        data = answer.get("data")
        message_id = data.get("message_id") if isinstance(data, dict) else None
        return f"message {message_id}"


class Zns(_ZaloSender):
    """type "zns": a ZNS template message to a phone number."""

    def __init__(self, config: ZnsNotifier) -> None:
        super().__init__(config, config.timeout_s)
        self._config = config

    async def send(self, outgoing: Outgoing) -> str:
        cfg = self._config
        trouble = outgoing.event == "trouble"
        template = cfg.trouble_template_id if trouble else cfg.template_id
        if template is None:
            raise NotifyError("no trouble_template_id is configured for troubles", permanent=True)
        fields = template_fields(outgoing)
        mapping = cfg.trouble_template_data if trouble else cfg.template_data
        answer = await self._post(
            f"{str(cfg.zns_url).rstrip('/')}/message/template",
            {
                "phone": cfg.phone,
                "template_id": template,
                "template_data": {
                    name: value.format_map(fields) for name, value in mapping.items()
                },
                "tracking_id": outgoing.key[:48],
            },
        )
        data = answer.get("data")
        message_id = data.get("msg_id") if isinstance(data, dict) else None
        return f"message {message_id}"


def template_fields(outgoing: Outgoing) -> dict[str, str]:
    """The values a ZNS template's parameters may use (config: `template_data`)."""
    fields = {
        "title": outgoing.message.title,
        "text": outgoing.message.short,
        "link": outgoing.link or "",
        "alarm": "",
        "site": "",
        "address": "",
        "phone": "",
        "level": "",
        "button": "",
        "time": "",
    }
    alarm = outgoing.alarm
    if alarm is not None:
        fields |= {
            "alarm": alarm.id,
            "level": str(alarm.level),
            "button": ", ".join(alarm.devices),
            "time": alarm.raised_at.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y"),
        }
        if alarm.site is not None:
            fields |= {
                "site": alarm.site.name,
                "address": alarm.site.address or "",
                "phone": alarm.site.phone or "",
            }
    return fields


def _code(answer: dict[str, Any]) -> int:
    code = answer.get("error")  # 0 on success; missing: not Zalo answering
    return code if isinstance(code, int) and not isinstance(code, bool) else -100


def _error(code: int, answer: dict[str, Any], redact: Callable[[str], str]) -> NotifyError:
    said = redact(str(answer.get("message") or "")[:200])
    if code in REFUSED:
        return NotifyError(f"Zalo error {code}: {REFUSED[code]} ({said})", permanent=True)
    if code == -32:
        return NotifyError(
            f"Zalo error {code}: rate limited ({said})", retry_after=RATE_LIMIT_WAIT_S
        )
    return NotifyError(f"Zalo error {code}: {said}")


KIND: Final = NotifierKind(ZaloNotifier, lambda config, tools: ZaloOa(config))
"""The registry's entry for `zalo` (hub/notify/registry.py)."""
ZNS_KIND: Final = NotifierKind(ZnsNotifier, lambda config, tools: Zns(config))
"""The registry's entry for `zns`."""
