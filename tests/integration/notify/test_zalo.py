"""zalo (Official Account message) and zns (template message) against a real HTTP server on
loopback that answers as Zalo's OAuth, OA and ZNS APIs do: the token refresh with its single-use
refresh token kept on disk, the request shapes, and how each answer is classified."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from hub.notify import zalo
from hub.notify.base import NotifyError
from hub.notify.zalo import ZaloNotifier, ZaloOa, Zns, ZnsNotifier
from tests.integration.notify.conftest import LINK, sample_outgoing
from tests.integration.notify.loopback import Answer, HttpRecorder

Recorders = Callable[[], HttpRecorder]
SECRET = "app-secret-key-XYZ"
SEEDED = "first-refresh-token-from-console"
REFRESH_PATH = "/v4/oa/access_token"
OA_PATH = "/v3.0/oa/message/cs"
ZNS_PATH = "/message/template"


def token_answer(n: int, expires_in: str = "90000") -> Answer:
    body = {
        "access_token": f"access-{n}",
        "refresh_token": f"refresh-{n}",
        "expires_in": expires_in,
    }
    return Answer(200, json.dumps(body).encode())


def ok(data: dict[str, str]) -> Answer:
    return Answer(200, json.dumps({"error": 0, "message": "Success", "data": data}).encode())


def refused(code: int, message: str = "refused") -> Answer:
    return Answer(200, json.dumps({"error": code, "message": message}).encode())


@pytest.fixture(autouse=True)
def _fresh_keepers() -> Iterator[None]:
    """Each test is a new hub process: no token keeper carried over."""
    zalo._KEEPERS.clear()
    yield
    zalo._KEEPERS.clear()


def app_keys(server: HttpRecorder, token_file: Path) -> dict[str, object]:
    return {
        "app_id": "1234567890",
        "secret_key": SECRET,
        "refresh_token": SEEDED,
        "token_file": str(token_file),
        "oauth_url": server.url,
        "api_url": server.url,
        "zns_url": server.url,
    }


def oa(server: HttpRecorder, token_file: Path) -> ZaloOa:
    return ZaloOa(
        ZaloNotifier.model_validate(
            {"type": "zalo", "user_id": "8400112233", **app_keys(server, token_file)}
        )
    )


def zns(server: HttpRecorder, token_file: Path, **extra: object) -> Zns:
    return Zns(
        ZnsNotifier.model_validate(
            {
                "type": "zns",
                "phone": "0901 234 567",
                "template_id": 301234,
                "template_data": {
                    "co_so": "{site}",
                    "ma": "{alarm}",
                    "luc": "{time}",
                    "xn": "{link}",
                },
                **app_keys(server, token_file),
                **extra,
            }
        )
    )


async def test_oa_message_refreshes_first_then_sends_to_the_follower(
    http_recorder: Recorders, tmp_path: Path
) -> None:
    """No token yet: the refresh goes first (form fields, the app's secret in `secret_key`), the
    new pair is kept in a 0600 file, then the message goes with the access token."""
    server = http_recorder().then(token_answer(1), ok({"message_id": "m-77"}))
    token_file = tmp_path / "zalo.json"
    notifier = oa(server, token_file)
    try:
        note = await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert note == "message m-77"
    refresh, message = server.requests
    assert refresh.path == REFRESH_PATH
    assert refresh.headers["secret_key"] == SECRET
    assert parse_qs(refresh.body.decode()) == {
        "refresh_token": [SEEDED],
        "app_id": ["1234567890"],
        "grant_type": ["refresh_token"],
    }
    assert message.path == OA_PATH
    assert message.headers["access_token"] == "access-1"
    body = message.json()
    assert body["recipient"] == {"user_id": "8400112233"}
    assert body["message"]["text"].startswith("BÁO ĐỘNG: Ngân hàng Phước Hòa\n")
    assert f"Xác nhận: {LINK}" in body["message"]["text"]
    kept = json.loads(token_file.read_text())
    assert (kept["access_token"], kept["refresh_token"]) == ("access-1", "refresh-1")
    assert kept["expires_at"] > time.time() + 80000
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


async def test_a_restarted_hub_spends_the_kept_refresh_token_not_the_dead_one(
    http_recorder: Recorders, tmp_path: Path
) -> None:
    """A refresh token works once: after a restart with an expired access token, the refresh
    uses the one kept on disk; a new refresh_token put in the config wins over the kept one."""
    server = http_recorder().then(token_answer(1, expires_in="1"), ok({"message_id": "a"}))
    token_file = tmp_path / "zalo.json"
    first = oa(server, token_file)
    await first.send(sample_outgoing())
    await first.close()

    zalo._KEEPERS.clear()  # the restart
    server.then(token_answer(2), ok({"message_id": "b"}))
    second = oa(server, token_file)
    await second.send(sample_outgoing())
    await second.close()
    refreshes = server.on(REFRESH_PATH)
    assert [parse_qs(r.body.decode())["refresh_token"] for r in refreshes] == [
        [SEEDED],
        ["refresh-1"],
    ]
    assert server.on(OA_PATH)[-1].headers["access_token"] == "access-2"

    zalo._KEEPERS.clear()  # the installer put a new token from the console into the config
    server.then(token_answer(3), ok({"message_id": "c"}))
    config = ZaloNotifier.model_validate(
        {
            "type": "zalo",
            "user_id": "8400112233",
            **app_keys(server, token_file),
            "refresh_token": "brand-new-from-console",
        }
    )
    third = ZaloOa(config)
    await third.send(sample_outgoing())
    await third.close()
    assert parse_qs(server.on(REFRESH_PATH)[-1].body.decode())["refresh_token"] == [
        "brand-new-from-console"
    ]


@pytest.mark.parametrize("code", [-216, -220])
async def test_an_expired_access_token_is_refreshed_and_the_message_sent_once_more(
    http_recorder: Recorders, tmp_path: Path, code: int
) -> None:
    server = http_recorder().then(
        token_answer(1),
        refused(code, "Access token is invalid"),
        token_answer(2),
        ok({"message_id": "x"}),
    )
    notifier = oa(server, tmp_path / "zalo.json")
    try:
        assert await notifier.send(sample_outgoing()) == "message x"
    finally:
        await notifier.close()
    assert [r.headers.get("access_token") for r in server.on(OA_PATH)] == ["access-1", "access-2"]
    assert len(server.on(REFRESH_PATH)) == 2


@pytest.mark.parametrize(
    ("answer", "permanent", "retry_after"),
    [
        (refused(-32, "Exceeded rate limit"), False, 60.0),
        (refused(-213, "User has not followed OA"), True, None),
        (refused(-230, "User has not interacted with OA in 7 days"), True, None),
        (refused(-100, f"internal error near {SECRET}"), False, None),
        (Answer(502, b"<html>bad gateway</html>"), False, None),
        (Answer(200, b"<html>a captive portal</html>"), False, None),
    ],
)
async def test_oa_errors_are_classified_and_never_show_a_secret(
    http_recorder: Recorders,
    tmp_path: Path,
    answer: Answer,
    permanent: bool,
    retry_after: float | None,
) -> None:
    server = http_recorder().then(token_answer(1), answer)
    notifier = oa(server, tmp_path / "zalo.json")
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert info.value.permanent is permanent
    assert info.value.retry_after == retry_after
    for secret in (SECRET, SEEDED, "access-1", "refresh-1"):
        assert secret not in str(info.value)


async def test_a_refused_refresh_token_gives_up_and_says_what_to_do(
    http_recorder: Recorders, tmp_path: Path
) -> None:
    server = http_recorder().then(refused(-14014, "Invalid refresh token"))
    notifier = oa(server, tmp_path / "zalo.json")
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert info.value.permanent
    assert "refresh_token" in str(info.value)
    assert SEEDED not in str(info.value)
    assert not server.on(OA_PATH)
    assert not (tmp_path / "zalo.json").exists()


async def test_two_notifiers_of_one_app_spend_the_refresh_token_once(
    http_recorder: Recorders, tmp_path: Path
) -> None:
    """Both send at once: one refresh, both messages with its access token."""
    server = http_recorder().then(token_answer(1))
    server.default = ok({"message_id": "same"})
    token_file = tmp_path / "zalo.json"
    one, other = oa(server, token_file), zns(server, token_file)
    try:
        await asyncio.gather(one.send(sample_outgoing()), other.send(sample_outgoing()))
    finally:
        await one.close()
        await other.close()
    assert len(server.on(REFRESH_PATH)) == 1
    assert {r.headers["access_token"] for r in server.on(OA_PATH) + server.on(ZNS_PATH)} == {
        "access-1"
    }


async def test_zns_sends_the_template_with_the_alarms_values_to_the_phone(
    http_recorder: Recorders, tmp_path: Path
) -> None:
    server = http_recorder().then(token_answer(1), ok({"msg_id": "z-1"}))
    notifier = zns(server, tmp_path / "zalo.json")
    try:
        assert await notifier.send(sample_outgoing()) == "message z-1"
    finally:
        await notifier.close()
    [request] = server.on(ZNS_PATH)
    assert request.headers["access_token"] == "access-1"
    body = request.json()
    assert body["phone"] == "84901234567"
    assert body["template_id"] == "301234"
    assert body["template_data"] == {
        "co_so": "Ngân hàng Phước Hòa",
        "ma": "post-12",
        "luc": "14:05 22/11/2026",
        "xn": LINK,
    }
    assert body["tracking_id"]


@pytest.mark.parametrize(
    ("answer", "permanent"),
    [
        (refused(-118, "Zalo account not existed"), True),
        (refused(-108, "Phone number invalid"), True),
        (refused(-100, "Unknown error"), False),
    ],
)
async def test_zns_errors_are_classified(
    http_recorder: Recorders, tmp_path: Path, answer: Answer, permanent: bool
) -> None:
    server = http_recorder().then(token_answer(1), answer)
    notifier = zns(server, tmp_path / "zalo.json")
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(sample_outgoing())
    finally:
        await notifier.close()
    assert info.value.permanent is permanent


async def test_zns_refreshes_on_its_own_token_error(
    http_recorder: Recorders, tmp_path: Path
) -> None:
    server = http_recorder().then(
        token_answer(1), refused(-124, "Access token invalid"), token_answer(2), ok({"msg_id": "z"})
    )
    notifier = zns(server, tmp_path / "zalo.json")
    try:
        assert await notifier.send(sample_outgoing()) == "message z"
    finally:
        await notifier.close()
    assert [r.headers["access_token"] for r in server.on(ZNS_PATH)] == ["access-1", "access-2"]


async def test_zns_without_a_trouble_template_does_not_send_troubles(
    http_recorder: Recorders, tmp_path: Path
) -> None:
    server = http_recorder()
    notifier = zns(server, tmp_path / "zalo.json")
    outgoing = sample_outgoing()
    trouble = type(outgoing)(
        outgoing.key, "trouble", outgoing.body, outgoing.message, None, outgoing.hub_id
    )
    try:
        with pytest.raises(NotifyError, match="trouble_template_id") as info:
            await notifier.send(trouble)
    finally:
        await notifier.close()
    assert info.value.permanent
    assert not server.requests


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"token_file": "zalo.json"}, "absolute path"),
        ({"template_data": {"x": "{sitee}"}}, "unknown placeholder {sitee}"),
        ({"phone": "call me"}, "phone number"),
        ({"trouble_template_data": {"x": "{site}"}}, "without trouble_template_id"),
    ],
)
def test_zns_config_mistakes_are_named(change: dict[str, object], message: str) -> None:
    keys = {
        "type": "zns",
        "app_id": "1",
        "secret_key": "s",
        "refresh_token": "r",
        "token_file": "/var/lib/chuong/zalo.json",
        "phone": "+84901234567",
        "template_id": "1",
        "template_data": {},
        **change,
    }
    with pytest.raises(ValidationError, match=message):
        ZnsNotifier.model_validate(keys)
