"""email: a plain-text mail through an SMTP server (stdlib smtplib, in a worker thread).

`security` is `starttls` (port 587, the default), `ssl` (implicit TLS, port 465) or `none` (a relay
on the local network). A refused recipient or a failed login is final; anything else is retried.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Final, Literal

from pydantic import Field, SecretStr, model_validator

from hub.notify.base import NotifierKind, NotifyError, Outgoing, redact
from hub.notify.settings import NotifierSettings


class EmailNotifier(NotifierSettings):
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


class Email:
    def __init__(self, config: EmailNotifier) -> None:
        self._config = config

    async def send(self, outgoing: Outgoing) -> str:
        cfg = self._config
        mail = EmailMessage()
        mail["Subject"] = outgoing.message.title
        mail["From"] = cfg.sender
        mail["To"] = cfg.to
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = make_msgid("chuong")
        mail["X-Chuong-Delivery"] = outgoing.key
        mail.set_content(outgoing.message.text)
        return await asyncio.to_thread(self._send_blocking, mail)

    def _send_blocking(self, mail: EmailMessage) -> str:
        cfg = self._config
        password = cfg.password.get_secret_value() if cfg.password else ""
        try:
            if cfg.security == "ssl":
                context = ssl.create_default_context()
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            with smtp:
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.username is not None:
                    smtp.login(cfg.username, password)
                smtp.send_message(mail)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPAuthenticationError) as exc:
            raise NotifyError(redact(_describe(exc), [password]), permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(redact(_describe(exc), [password])) from None
        return f"accepted for {cfg.to}"

    async def close(self) -> None:
        return None


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


KIND: Final = NotifierKind(EmailNotifier, lambda config, tools: Email(config))
"""The registry's entry (hub/notify/registry.py)."""
