"""telegram: the Bot API's sendMessage, to a person or a group.

    POST {api_url}/bot<token>/sendMessage
    {"chat_id", "text", "link_preview_options": {"is_disabled": true}}

The link goes in the text (a URL button would be refused for a LAN address); link previews are off
so that Telegram's servers do not fetch it. The bot token is part of the URL: it is never logged,
and it is cut out of every error. `ok: false` answers are classified as HTTP statuses are; 429
waits for the `retry_after` Telegram gives.
"""

from __future__ import annotations

import json
from typing import Final, Literal

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from hub import __version__
from hub.notify.base import NotifierKind, NotifyError, Outgoing, failed, http_post, json_object
from hub.notify.settings import IdText, NotifierSettings


class TelegramNotifier(NotifierSettings):
    """Bot API sendMessage to a person or a group."""

    type: Literal["telegram"]
    bot_token: SecretStr = Field(description="The bot's token from @BotFather.")
    chat_id: IdText = Field(min_length=1, description="Numeric chat id, or @channelname.")
    api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.telegram.org"), description="Bot API server."
    )


TEXT_LIMIT = 4096


class Telegram:
    def __init__(self, config: TelegramNotifier) -> None:
        self._config = config
        self._token = config.bot_token.get_secret_value()
        self._client = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)

    async def send(self, outgoing: Outgoing) -> str:
        cfg = self._config
        text = f"{outgoing.message.title}\n{outgoing.message.text}"[:TEXT_LIMIT]
        payload = {
            "chat_id": cfg.chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        url = f"{str(cfg.api_url).rstrip('/')}/bot{self._token}/sendMessage"
        response = await http_post(
            self._client,
            url,
            content=json.dumps(payload, ensure_ascii=False).encode(),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"chuong/{__version__}",
            },
            secrets=[self._token],
            check=False,
        )
        answer = json_object(response)
        if not response.is_success or answer.get("ok") is not True:
            parameters = answer.get("parameters") or {}
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            error = failed(
                response,
                [self._token],
                retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            )
            if response.is_success:  # 200 without ok: not the Bot API answering
                raise NotifyError(f"unexpected answer: {error}")
            raise error
        result = answer.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return f"message {message_id}"

    async def close(self) -> None:
        await self._client.aclose()


KIND: Final = NotifierKind(TelegramNotifier, lambda config, tools: Telegram(config))
"""The registry's entry (hub/notify/registry.py)."""
