"""webhook, ntfy and telegram against real HTTP servers on loopback: method, path, headers, body,
signature, and how each answer is classified (delivered, retry, final)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest

from hub.notify.base import NotifyError
from hub.notify.ntfy import Ntfy, NtfyNotifier
from hub.notify.telegram import Telegram, TelegramNotifier
from hub.notify.webhook import Webhook, WebhookNotifier
from tests.integration.notify.conftest import LINK, sample_outgoing
from tests.integration.notify.loopback import Answer, HttpRecorder

Recorders = Callable[[], HttpRecorder]
TOKEN = "123456:ABC-secret-bot-token"


def webhook(server: HttpRecorder, **extra: object) -> Webhook:
    config = WebhookNotifier.model_validate(
        {"type": "webhook", "url": f"{server.url}/hooks/chuong", **extra}
    )
    return Webhook(config)


async def test_webhook_posts_the_alarm_object_signed_with_hmac(http_recorder: Recorders) -> None:
    """POST to the configured path, JSON body with the alarm object, step and delivery id; the
    X-Chuong-Signature header is the HMAC-SHA256 of the exact body with the secret."""
    server = http_recorder()
    notifier = webhook(server, secret="s3cret", headers={"X-Post": "phuoc"}, send_links=True)
    try:
        note = await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert note == "HTTP 200"
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == "/hooks/chuong"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["x-chuong-event"] == "alarm"
    assert request.headers["x-chuong-delivery"] == "alarm:post-12/2.0/x"
    assert request.headers["x-post"] == "phuoc"
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-chuong-signature"] == f"sha256={expected}"
    body = request.json()
    assert body["event"] == "alarm"
    assert body["delivery"] == "alarm:post-12/2.0/x"
    assert body["hub"] == "post"
    assert (body["step"], body["round"]) == (2, 0)
    assert body["alarm"]["id"] == "post-12"
    assert body["alarm"]["level"] == 2
    assert body["alarm"]["state"] == "active"
    assert body["alarm"]["site"]["name"] == "Ngân hàng Phước Hòa"
    assert body["alarm"]["raised_at"] == "2026-11-22T07:05:01.000Z"
    assert body["ack_url"] == LINK
    assert "BÁO ĐỘNG" in body["title"]


async def test_webhook_without_secret_or_link_sends_neither(http_recorder: Recorders) -> None:
    """No secret: no signature header; no link (the dispatcher gives a webhook none unless
    `send_links`): no ack_url."""
    server = http_recorder()
    notifier = webhook(server)
    try:
        await notifier.send(sample_outgoing(link=None))
    finally:
        await notifier.close()
    [request] = server.requests
    assert "x-chuong-signature" not in request.headers
    assert "ack_url" not in request.json()


@pytest.mark.parametrize(
    ("answer", "permanent", "retry_after"),
    [
        (Answer(500, b"boom"), False, None),
        (Answer(503, b"", headers={"Retry-After": "7"}), False, 7.0),
        (Answer(429, b"slow down", headers={"Retry-After": "3"}), False, 3.0),
        (Answer(404, b"no such hook"), True, None),
        (Answer(400, b"bad"), True, None),
    ],
)
async def test_webhook_failures_are_classified(
    http_recorder: Recorders, answer: Answer, permanent: bool, retry_after: float | None
) -> None:
    """5xx and 429 may pass (retried, after Retry-After if given); other 4xx are final."""
    server = http_recorder().then(answer)
    notifier = webhook(server)
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert info.value.permanent is permanent
    assert info.value.retry_after == retry_after
    assert f"HTTP {answer.status}" in str(info.value)


async def test_webhook_that_hangs_times_out(http_recorder: Recorders) -> None:
    """A receiver that does not answer within timeout_s is a failure that may pass."""
    server = http_recorder().then(Answer(delay=3.0))
    notifier = webhook(server, timeout_s=0.5)
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert "timed out" in str(info.value)
    assert not info.value.permanent


async def test_webhook_error_never_shows_its_header_credentials(http_recorder: Recorders) -> None:
    """A receiver whose refusal echoes the API key of the webhook's headers (whole, or the token
    alone): the error says `***` in its place; short words (`Bearer`, `post`) stay readable."""
    key = "k3y-0f-the-receiving-system"
    server = http_recorder().then(
        Answer(401, f"bad Authorization 'Bearer {key}' (token {key}) for post".encode())
    )
    notifier = webhook(server, headers={"Authorization": f"Bearer {key}", "X-Post": "post"})
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert key not in str(info.value)
    assert str(info.value) == "HTTP 401: bad Authorization '***' (token ***) for post"


async def test_webhook_to_a_closed_port_fails_and_may_pass() -> None:
    """Nothing listening: a connection error, retried later."""
    from simulator.broker import free_port

    notifier = Webhook(
        WebhookNotifier.model_validate(
            {"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/x"}
        )
    )
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert "ConnectError" in str(info.value)
    assert not info.value.permanent


async def test_ntfy_publishes_json_to_the_root_with_click_and_actions(
    http_recorder: Recorders,
) -> None:
    """ntfy's JSON publishing: POST to the server root, topic in the body, max priority, tags,
    the ack link as click target and as buttons (open, and an HTTP POST that acknowledges);
    the access token as a Bearer header."""
    server = http_recorder()
    config = NtfyNotifier.model_validate(
        {"type": "ntfy", "url": server.url, "topic": "post-phuoc-x7", "token": "tk_secret"}
    )
    notifier = Ntfy(config, "vi")
    try:
        await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/")
    assert request.headers["authorization"] == "Bearer tk_secret"
    body = request.json()
    assert body["topic"] == "post-phuoc-x7"
    assert body["priority"] == 5
    assert body["tags"] == ["rotating_light"]
    assert body["title"] == "BÁO ĐỘNG: Ngân hàng Phước Hòa"
    assert "12 Quốc lộ 1A" in body["message"]
    assert "14:05:01 22/11/2026" in body["message"]
    assert body["click"] == LINK
    assert body["actions"] == [
        {"action": "view", "label": "Mở", "url": LINK},
        {"action": "http", "label": "Xác nhận", "url": LINK, "method": "POST", "clear": True},
    ]


async def test_ntfy_trouble_goes_at_the_trouble_priority(http_recorder: Recorders) -> None:
    """A trouble is gentler: trouble_priority, a warning tag, no link."""
    server = http_recorder()
    config = NtfyNotifier.model_validate(
        {"type": "ntfy", "url": server.url, "topic": "post", "trouble_priority": 2}
    )
    notifier = Ntfy(config, "en")
    outgoing = sample_outgoing(link=None)
    trouble = type(outgoing)(
        "trouble:3/1.0/phone",
        "trouble",
        {
            "trouble": {
                "id": 3,
                "kind": "tamper",
                "subject": "bank-1",
                "site_id": "bank",
                "raised_at": "2026-11-22T07:05:01.000Z",
                "detail": "",
            },
            "step": 1,
            "round": 0,
        },
        outgoing.message,
        None,
        "post",
    )
    try:
        await notifier.send(trouble)
    finally:
        await notifier.close()
    body = server.requests[0].json()
    assert body["priority"] == 2
    assert body["tags"] == ["warning"]
    assert "click" not in body
    assert "authorization" not in server.requests[0].headers


async def test_telegram_send_message(http_recorder: Recorders) -> None:
    """POST /bot<token>/sendMessage with chat_id, the text (title, details, link) and link
    previews off; the answer's message id is the note."""
    server = http_recorder().then(Answer(200, b'{"ok":true,"result":{"message_id":77}}'))
    config = TelegramNotifier.model_validate(
        {"type": "telegram", "bot_token": TOKEN, "chat_id": -100123, "api_url": server.url}
    )
    notifier = Telegram(config)
    try:
        note = await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert note == "message 77"
    [request] = server.requests
    assert (request.method, request.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    body = request.json()
    assert body["chat_id"] == "-100123"
    assert body["link_preview_options"] == {"is_disabled": True}
    assert body["text"].startswith("BÁO ĐỘNG: Ngân hàng Phước Hòa\n")
    assert f"Xác nhận: {LINK}" in body["text"]


@pytest.mark.parametrize(
    ("answer", "permanent", "retry_after"),
    [
        (
            Answer(
                400, b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'
            ),
            True,
            None,
        ),
        (
            Answer(
                429,
                b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 9",'
                b'"parameters":{"retry_after":9}}',
            ),
            False,
            9.0,
        ),
        (Answer(502, b"<html>bad gateway</html>"), False, None),
        (Answer(200, b'{"ok":false}'), False, None),
    ],
)
async def test_telegram_errors_are_classified_and_never_show_the_token(
    http_recorder: Recorders, answer: Answer, permanent: bool, retry_after: float | None
) -> None:
    """Refusals are final, 429 waits for Telegram's retry_after, 5xx retries; the bot token (part
    of the URL) appears in no error."""
    server = http_recorder().then(answer)
    config = TelegramNotifier.model_validate(
        {"type": "telegram", "bot_token": TOKEN, "chat_id": "42", "api_url": server.url}
    )
    notifier = Telegram(config)
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert info.value.permanent is permanent
    assert info.value.retry_after == retry_after
    assert TOKEN not in str(info.value)
    assert "secret" not in str(info.value)
