"""/api/v1/cap: a real press becomes a CAP 1.2 alert, then an update; both valid per the OASIS
schema (capvalidator), on a real hub against a real Mosquitto."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from xml.etree import ElementTree as ET

from capvalidator import check_schema

from hub.domain.model import Role
from hub.reports.cap import ATOM_NS, CAP_NS
from simulator.button import VirtualButton
from tests.conftest import RunningHub

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]
NS = {"cap": CAP_NS, "atom": ATOM_NS}


async def test_a_press_is_exported_as_cap_alert_then_update(
    start_hub: StartHub, buttons: Buttons
) -> None:
    running = await start_hub()
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    viewer = running.api(Role.VIEWER)

    response = await viewer.get(f"/api/v1/cap/alarms/{alarm_id}.xml")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cap+xml")
    result = check_schema(response.content)
    assert result.passed, result.message
    alert = ET.fromstring(response.content)
    assert alert.findtext("cap:identifier", namespaces=NS) == alarm_id
    assert alert.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert "Ngân hàng Phước Hòa" in (alert.findtext("cap:info/cap:headline", namespaces=NS) or "")
    assert (alert.findtext("cap:sent", namespaces=NS) or "").endswith("+07:00")

    acked = await running.api(Role.OFFICER).post(f"/api/v1/alarms/{alarm_id}/ack")
    assert acked.status_code == 200, acked.text
    feed = await viewer.get("/api/v1/cap/alarms.atom", params={"open": "true"})
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall("atom:entry", NS)
    assert len(entries) == 1
    update = entries[0].find("atom:content/cap:alert", NS)
    assert update is not None
    assert update.findtext("cap:msgType", namespaces=NS) == "Update"
    assert update.findtext("cap:identifier", namespaces=NS) == f"{alarm_id}.ack"
    assert check_schema(ET.tostring(update, encoding="utf-8", xml_declaration=True)).passed
    link = entries[0].find("atom:link[@rel='alternate']", NS)
    assert link is not None
    assert (link.get("href") or "").endswith(f"/api/v1/cap/alarms/{alarm_id}.xml")


async def test_cap_needs_a_token_and_names_a_missing_alarm(start_hub: StartHub) -> None:
    running = await start_hub()
    anonymous = await running.api(None).get("/api/v1/cap/alarms.atom")
    assert anonymous.status_code == 401
    missing = await running.api(Role.VIEWER).get("/api/v1/cap/alarms/nope-1.xml")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no alarm 'nope-1'"}
