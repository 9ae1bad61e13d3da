"""Acknowledging from a phone with the signed link a notification carried, against a real hub."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hub.config import HubSection
from hub.notify.links import SECRET_META_KEY, sign
from simulator.button import VirtualButton
from tests.conftest import RunningHub, query_store, store_location
from tests.integration.escalation.conftest import audit_of, webhook
from tests.integration.notify.loopback import HttpRecorder

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]
Recorders = Callable[[], HttpRecorder]

PUBLIC = "http://phone.invalid:8080"


async def start(start_hub: StartHub, server: HttpRecorder, language: str = "vi") -> RunningHub:
    return await start_hub(
        hub=HubSection(id="post", public_url=PUBLIC, language=language),  # type: ignore[arg-type]
        notifiers={"boss-hook": webhook(server, "boss", send_links=True, person="boss")},
        escalation={"steps": [{"after_s": 0, "notify": ["boss-hook"]}]},
    )


async def link_for(
    server: HttpRecorder, running: RunningHub, button: VirtualButton
) -> tuple[str, str]:
    """Press; return (the alarm id, the link the boss received, pointed at this hub)."""
    sent = await button.press()
    alarm_id = (await button.wait_ack(sent.event_id)).ack.alarm
    requests = await server.wait(1)
    link: str = requests[-1].json()["ack_url"]
    assert link.startswith(f"{PUBLIC}/ack/{alarm_id}/boss/")
    return alarm_id, running.url + link.removeprefix(PUBLIC)


async def alarm(running: RunningHub, alarm_id: str) -> dict[str, Any]:
    response = await running.api().get(f"/api/v1/alarms/{alarm_id}")
    result: dict[str, Any] = response.json()
    return result


async def test_get_shows_the_alarm_and_changes_nothing_post_acknowledges_as_the_person(
    start_hub: StartHub, buttons: Buttons, http_recorder: Callable[[], HttpRecorder]
) -> None:
    """GET (what a chat app's link preview does) shows a page with the alarm and a button, and
    leaves the alarm active; POST acknowledges it as `link:boss`, on the record; a second POST
    says who acknowledged it first."""
    server = http_recorder()
    running = await start(start_hub, server)
    alarm_id, link = await link_for(server, running, await buttons("bank-1"))
    async with httpx.AsyncClient(timeout=10) as phone:
        page = await phone.get(link)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "Ngân hàng Phước Hòa" in page.text
        assert "12 Quốc lộ 1A" in page.text
        assert "<dt>Loại</dt><dd>Cướp giật / đột nhập</dd>" in page.text
        assert '<form method="post">' in page.text
        assert "<script" not in page.text
        assert "http" not in page.text.split("<body>")[1], "no external asset, no link out"
        assert (await alarm(running, alarm_id))["state"] == "active"

        done = await phone.post(link)
        assert done.status_code == 200
        assert "Đã xác nhận" in done.text
        again = await phone.post(link)
        assert again.status_code == 200
        assert "đã được xác nhận bởi link:boss" in again.text
        shown = await phone.get(link)
        assert "đã được xác nhận bởi link:boss" in shown.text
        assert "<form" not in shown.text
    acknowledged = await alarm(running, alarm_id)
    assert (acknowledged["state"], acknowledged["acknowledged_by"]) == ("acknowledged", "link:boss")
    entries = await audit_of(running, alarm_id)
    assert [(e["action"], e["actor"]) for e in entries if e["action"] == "alarm.acknowledged"] == [
        ("alarm.acknowledged", "link:boss")
    ]


async def test_forged_expired_and_misused_links_are_refused(
    start_hub: StartHub, buttons: Buttons, http_recorder: Callable[[], HttpRecorder]
) -> None:
    """A changed signature, another person's or another alarm's: 403; an expired link (genuine):
    410; a genuine link to an alarm that does not exist: 404. None of them changes anything."""
    server = http_recorder()
    running = await start(start_hub, server)
    alarm_id, link = await link_for(server, running, await buttons("bank-1"))
    base, expires, signature = link.rsplit("/", 2)
    [(key,)] = query_store(
        store_location(running.config), "SELECT value FROM meta WHERE key = ?", SECRET_META_KEY
    )
    secret = bytes.fromhex(key)
    past = int(time.time()) - 10
    expired = f"{base}/{past}/{sign(secret, alarm_id, 'boss', past)}"
    future = int(time.time()) + 600
    missing = f"{running.url}/ack/post-999/boss/{future}/{sign(secret, 'post-999', 'boss', future)}"
    async with httpx.AsyncClient(timeout=10) as phone:
        for bad in (
            f"{base}/{expires}/{'0' * 32}",
            link.replace("/boss/", "/duty/"),
            link.replace(f"/ack/{alarm_id}/", "/ack/post-2/"),
            f"{base}/{int(expires) + 1}/{signature}",
        ):
            for method in ("GET", "POST"):
                response = await phone.request(method, bad)
                assert response.status_code == 403, (method, bad)
                assert "Liên kết không hợp lệ" in response.text
        for method in ("GET", "POST"):
            gone = await phone.request(method, expired)
            assert gone.status_code == 410
            assert "hết hạn" in gone.text
            assert (await phone.request(method, missing)).status_code == 404
        assert (await phone.get(f"{base}/soon/{signature}")).status_code == 422
    assert (await alarm(running, alarm_id))["state"] == "active"


async def test_resolved_alarm_link_says_so_in_english(
    start_hub: StartHub, buttons: Buttons, http_recorder: Callable[[], HttpRecorder]
) -> None:
    """With hub.language = en the page is in English; a link to a resolved alarm: 409."""
    server = http_recorder()
    running = await start(start_hub, server, language="en")
    alarm_id, link = await link_for(server, running, await buttons("bank-1"))
    async with httpx.AsyncClient(timeout=10) as phone:
        assert "I have it" in (await phone.get(link)).text
        body = {"outcome": "false_alarm", "note": "pressed by mistake"}
        response = await running.api().post(f"/api/v1/alarms/{alarm_id}/resolve", json=body)
        assert response.status_code == 200
        late = await phone.post(link)
        assert late.status_code == 409
        assert "This alarm is resolved." in late.text
