"""ntfy: a push to the ntfy app, published as JSON to the server's root URL.

The notification opens the acknowledgement page when tapped (`click`) and carries two buttons:
"open" (the same page) and "acknowledge", an HTTP POST the app sends itself. Alarms go at
`priority` (5, max: long vibration, pop-over), troubles at `trouble_priority`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Literal

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from hub import __version__
from hub.notify.base import NotifierKind, Outgoing, http_post
from hub.notify.settings import NotifierSettings

NTFY_TOPIC_RE: Final = re.compile(r"[-_A-Za-z0-9]{1,64}\Z")


class NtfyNotifier(NotifierSettings):
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


_ACTION_LABELS = {"vi": ("Mở", "Xác nhận"), "en": ("Open", "Acknowledge")}


class Ntfy:
    def __init__(self, config: NtfyNotifier, language: str) -> None:
        self._config = config
        self._labels = _ACTION_LABELS.get(language, _ACTION_LABELS["vi"])
        self._client = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)

    async def send(self, outgoing: Outgoing) -> str:
        cfg = self._config
        trouble = outgoing.event == "trouble"
        payload: dict[str, Any] = {
            "topic": cfg.topic,
            "title": outgoing.message.title,
            "message": outgoing.message.text,
            "priority": cfg.trouble_priority if trouble else cfg.priority,
            "tags": ["warning"] if trouble else list(cfg.tags),
        }
        if outgoing.link is not None:
            open_label, ack_label = self._labels
            payload["click"] = outgoing.link
            payload["actions"] = [
                {"action": "view", "label": open_label, "url": outgoing.link},
                {
                    "action": "http",
                    "label": ack_label,
                    "url": outgoing.link,
                    "method": "POST",
                    "clear": True,
                },
            ]
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"chuong/{__version__}",
        }
        secrets = []
        if cfg.token is not None:
            headers["Authorization"] = f"Bearer {cfg.token.get_secret_value()}"
            secrets.append(cfg.token.get_secret_value())
        body = json.dumps(payload, ensure_ascii=False).encode()
        root = str(cfg.url).rstrip("/") + "/"
        response = await http_post(
            self._client, root, content=body, headers=headers, secrets=secrets
        )
        return f"HTTP {response.status_code}"

    async def close(self) -> None:
        await self._client.aclose()


KIND: Final = NotifierKind(NtfyNotifier, lambda config, tools: Ntfy(config, tools.language))
"""The registry's entry (hub/notify/registry.py)."""
