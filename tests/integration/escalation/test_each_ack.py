"""Each person acknowledges (`ack = "each"` on a step), against a real hub, a real Mosquitto and
loopback HTTP receivers: the people the step named each acknowledge from their own link."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx

from hub.config import HubSection
from hub.domain.model import Role
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for
from tests.integration.escalation.conftest import audit_of, webhook
from tests.integration.notify.loopback import HttpRecorder

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]
Recorders = Callable[[], HttpRecorder]

PUBLIC = "http://phone.invalid:8080"


def sections(
    server: HttpRecorder, *, repeat_s: float | None = None, later_s: float = 4
) -> dict[str, Any]:
    """Step 1 calls the commander and the deputy, who must each acknowledge; step 2 (`later_s`
    after the raise) calls the district."""
    first: dict[str, Any] = {"after_s": 0, "notify": ["boss", "deputy"], "ack": "each"}
    if repeat_s is not None:
        first["repeat_s"] = repeat_s
    return {
        "hub": HubSection(id="post", public_url=PUBLIC),  # type: ignore[arg-type]
        "notifiers": {
            "boss": webhook(server, "boss", send_links=True, person="chi-huy"),
            "deputy": webhook(server, "deputy", send_links=True, person="pho-chi-huy"),
            "district": webhook(server, "district", send_links=True, person="huyen"),
        },
        "escalation": {"steps": [first, {"after_s": later_s, "notify": ["district"]}]},
    }


def link_of(running: RunningHub, request: Any) -> str:
    link: str = request.json()["ack_url"]
    assert link.startswith(f"{PUBLIC}/ack/")
    return running.url + link.removeprefix(PUBLIC)


async def alarm_of(running: RunningHub, alarm_id: str) -> dict[str, Any]:
    response = await running.api().get(f"/api/v1/alarms/{alarm_id}")
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


async def test_the_alarm_waits_for_each_person_and_the_next_step_still_fires(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders
) -> None:
    """The commander acknowledges from his link: the alarm stays active, lists him in `acks`
    (audit `alarm.person_acknowledged`, waiting for the deputy), his phone page says whom it
    waits for, the repeats of step 1 call only the deputy, and step 2 calls the district on
    time. The hub restarts: the commander's acknowledgement is still there. The deputy
    acknowledges: the alarm is acknowledged, by `link:pho-chi-huy`, the climb stops."""
    server = http_recorder()
    config = sections(server, repeat_s=1.5)
    running = await start_hub(**config)
    button = await buttons("bank-1")
    sent = await button.press()
    alarm_id = (await button.wait_ack(sent.event_id)).ack.alarm
    boss_link = link_of(running, (await server.wait(1, "/boss"))[0])
    await server.wait(1, "/deputy")

    async with httpx.AsyncClient(timeout=10) as phone:
        done = await phone.post(boss_link)
        acked_at = time.monotonic()
        boss_calls = len(server.on("/boss"))
        assert done.status_code == 200
        assert "vẫn chờ" in done.text, done.text
        assert "pho-chi-huy" in done.text
        again = await phone.get(boss_link)
        assert "<form" not in again.text, "he has acknowledged: no button again"
        assert "pho-chi-huy" in again.text
    alarm = await alarm_of(running, alarm_id)
    assert alarm["state"] == "active"
    assert [ack["person"] for ack in alarm["acks"]] == ["chi-huy"]
    entries = await audit_of(running, alarm_id)
    partial = [e for e in entries if e["action"] == "alarm.person_acknowledged"]
    assert [(e["actor"], e["detail"]["waiting"]) for e in partial] == [
        ("link:chi-huy", ["pho-chi-huy"])
    ]

    # The climb goes on: step 1 repeats for the deputy only, step 2 calls the district.
    await wait_for(
        lambda: _after(server, "/deputy", acked_at) >= 1 and bool(server.on("/district")),
        timeout=20,
    )
    assert len(server.on("/boss")) == boss_calls, "the commander acknowledged: not called again"
    assert (await alarm_of(running, alarm_id))["level"] == 2

    await running.hub.stop()
    second = await start_hub(**config)
    kept = await alarm_of(second, alarm_id)
    assert (kept["state"], [a["person"] for a in kept["acks"]]) == ("active", ["chi-huy"])
    async with httpx.AsyncClient(timeout=10) as phone:
        done = await phone.post(link_of(second, server.on("/deputy")[-1]))
        assert done.status_code == 200
        assert "Đã xác nhận" in done.text
    alarm = await alarm_of(second, alarm_id)
    assert (alarm["state"], alarm["acknowledged_by"]) == ("acknowledged", "link:pho-chi-huy")
    assert [ack["person"] for ack in alarm["acks"]] == ["chi-huy", "pho-chi-huy"]
    entries = await audit_of(second, alarm_id)
    assert any(
        e["action"] == "escalation.stopped" and e["detail"]["reason"] == "acknowledged"
        for e in entries
    )


def _after(server: HttpRecorder, path: str, since: float) -> int:
    return sum(1 for request in server.on(path) if request.at > since)


async def test_an_officer_on_the_page_acknowledges_while_the_step_waits(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders
) -> None:
    """One of the two has acknowledged from his link; the duty officer acknowledges on the page:
    the alarm is acknowledged by the officer, and the other person's link then says so."""
    server = http_recorder()
    running = await start_hub(**sections(server))
    button = await buttons("bank-1")
    sent = await button.press()
    alarm_id = (await button.wait_ack(sent.event_id)).ack.alarm
    boss_link = link_of(running, (await server.wait(1, "/boss"))[0])
    deputy_link = link_of(running, (await server.wait(1, "/deputy"))[0])
    async with httpx.AsyncClient(timeout=10) as phone:
        assert (await phone.post(boss_link)).status_code == 200
        officer = running.api(Role.OFFICER)
        response = await officer.post(f"/api/v1/alarms/{alarm_id}/ack", json={})
        assert response.status_code == 200, response.text
        late = await phone.post(deputy_link)
        assert "đã được xác nhận bởi" in late.text
    alarm = await alarm_of(running, alarm_id)
    assert alarm["state"] == "acknowledged"
    assert alarm["acknowledged_by"].startswith(("user:", "token:"))
    assert [ack["person"] for ack in alarm["acks"]] == ["chi-huy"]


async def test_a_step_without_each_is_acknowledged_by_the_first_link(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders
) -> None:
    """The default (`ack = "any"`): the first person's link acknowledges the alarm."""
    server = http_recorder()
    config = sections(server)
    del config["escalation"]["steps"][0]["ack"]
    running = await start_hub(**config)
    button = await buttons("bank-1")
    sent = await button.press()
    alarm_id = (await button.wait_ack(sent.event_id)).ack.alarm
    deputy_link = link_of(running, (await server.wait(1, "/deputy"))[0])
    async with httpx.AsyncClient(timeout=10) as phone:
        assert "Đã xác nhận" in (await phone.post(deputy_link)).text
    alarm = await alarm_of(running, alarm_id)
    assert (alarm["state"], alarm["acknowledged_by"]) == ("acknowledged", "link:pho-chi-huy")
