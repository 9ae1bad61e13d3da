"""webhook: a JSON POST with the alarm object, signed with HMAC-SHA256.

    POST <url>
    Content-Type: application/json
    X-Chuong-Event: alarm | clear | trouble
    X-Chuong-Delivery: <delivery id>     (the same on every retry: drop duplicates by it)
    X-Chuong-Signature: sha256=<hex HMAC-SHA256 of the raw body with the notifier's secret>

    {"event", "delivery", "hub", "step", "round", "alarm": {the alarm object} | "trouble": {…},
     "title", "text", "ack_url"?}

A 2xx answer is a delivery; 408, 425, 429 and 5xx are retried; any other 4xx is final.

The extra `headers` usually carry the receiving system's credential (`Authorization: Bearer …`,
`X-Api-Key`); a receiver may echo it in an error, so their values are cut out of every error (and
so out of the log and the audit log), as the Telegram and ntfy notifiers do with their tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Final, Literal

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from hub import __version__
from hub.notify.base import NotifierKind, Outgoing, http_post
from hub.notify.settings import NotifierSettings


class WebhookNotifier(NotifierSettings):
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


SIGNATURE_HEADER = "X-Chuong-Signature"
SECRET_MIN_CHARS = 8
"""A header word shorter than this is no credential (`Bearer`, `1`): cutting it out of errors
would only garble them."""


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, config: WebhookNotifier) -> None:
        self._config = config
        self._client = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)
        self._secrets = [
            part
            for value in config.headers.values()
            for part in (value, *value.split())
            if len(part) >= SECRET_MIN_CHARS
        ]

    async def send(self, outgoing: Outgoing) -> str:
        payload = {
            "event": outgoing.event,
            "delivery": outgoing.key,
            "hub": outgoing.hub_id,
            **outgoing.body,
            "title": outgoing.message.title,
            "text": outgoing.message.text,
        }
        if outgoing.link is not None:
            payload["ack_url"] = outgoing.link
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            **self._config.headers,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"chuong/{__version__}",
            "X-Chuong-Event": outgoing.event,
            "X-Chuong-Delivery": outgoing.key,
        }
        secret = self._config.secret.get_secret_value() if self._config.secret else None
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        response = await http_post(
            self._client,
            str(self._config.url),
            content=body,
            headers=headers,
            secrets=self._secrets,
        )
        return f"HTTP {response.status_code}"

    async def close(self) -> None:
        await self._client.aclose()


KIND: Final = NotifierKind(WebhookNotifier, lambda config, tools: Webhook(config))
"""The registry's entry (hub/notify/registry.py)."""
