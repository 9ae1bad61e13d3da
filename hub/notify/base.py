"""The one interface every notifier implements, and the HTTP helper the web ones share.

A notifier's `send` delivers one notification or raises `NotifyError`: `permanent` when trying
again cannot help (the service refused the request itself: a wrong chat id, a bad token), with
`retry_after` when the service said when to come back. Errors carry no secret: a notifier redacts
its tokens from whatever a library tells it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar, get_args

import httpx

from hub.broker.fanout import Publisher
from hub.domain.views import AlarmView
from hub.errors import ChuongError
from hub.notify.message import Message
from hub.notify.settings import NotifierSettings

_RETRYABLE_STATUS: Final = frozenset({408, 425, 429})


class NotifyError(ChuongError):
    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One notification, ready to go."""

    key: str
    """the delivery id: the same for every attempt, so a receiver can drop duplicates"""
    event: str
    """alarm (a step fired), clear (the alarm no longer needs the device), trouble"""
    body: Mapping[str, Any]
    """as stored in the outbox: the alarm object (or trouble), step, round"""
    message: Message
    link: str | None
    """acknowledges the alarm, for this notifier's person; None when there is none to give"""
    hub_id: str

    @property
    def alarm(self) -> AlarmView | None:
        data = self.body.get("alarm")
        return None if data is None else AlarmView.model_validate(data)


class Notifier(Protocol):
    async def send(self, outgoing: Outgoing) -> str | None:
        """Deliver, or raise `NotifyError`; may return a short note for the audit log."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Tools:
    """What the hub lends a notifier when it is built."""

    publisher: Publisher
    """the hub's own MQTT connection"""
    language: str
    """`hub.language`: of the texts a notifier writes itself (buttons, labels)"""


S = TypeVar("S", bound=NotifierSettings)


@dataclass(frozen=True, slots=True)
class NotifierKind(Generic[S]):
    """One type of notifier: its settings model (with `type: Literal["<type>"]`) and how to build
    one from them. Each notifier module defines its `KIND`; hub/notify/registry.py lists them."""

    settings: type[S]
    build: Callable[[S, Tools], Notifier]

    @property
    def type(self) -> str:
        (name,) = get_args(self.settings.model_fields["type"].annotation)
        return str(name)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def http_post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str] = (),
    check: bool = True,
) -> httpx.Response:
    """POST. With `check`, a 2xx response is returned and anything else raises (`failed`)."""
    try:
        response = await client.post(url, content=content, headers=dict(headers))
    except httpx.TimeoutException as exc:
        raise NotifyError(f"timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise NotifyError(redact(f"{type(exc).__name__}: {exc}", secrets)) from None
    if check and not response.is_success:
        raise failed(response, secrets)
    return response


def failed(
    response: httpx.Response, secrets: Iterable[str] = (), *, retry_after: float | None = None
) -> NotifyError:
    """The error for a response that is not a success: 408, 425, 429 and 5xx may pass and are
    retried (after `Retry-After`, if given); any other 4xx is final."""
    status = response.status_code
    if retry_after is None:
        retry_after = _retry_after(response.headers.get("retry-after"))
    text = redact(response.text[:200].strip(), secrets)
    return NotifyError(
        f"HTTP {status}: {text}" if text else f"HTTP {status}",
        permanent=400 <= status < 500 and status not in _RETRYABLE_STATUS,
        retry_after=retry_after,
    )


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the usual backoff will do


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it is not one (a proxy's page, a captive portal)."""
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
