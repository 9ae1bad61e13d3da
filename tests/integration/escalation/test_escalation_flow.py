"""Escalation end to end, with real seconds: a real Mosquitto, the hub in-process, virtual buttons,
and real HTTP servers on loopback standing in for the people's services."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hub.config import HubSection
from hub.domain.model import Role
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for
from tests.integration.escalation.conftest import MqttWatcher, audit_of, press, webhook
from tests.integration.notify.loopback import Answer, HttpRecorder

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]
Recorders = Callable[[], HttpRecorder]

SIREN = {"type": "mqtt", "topic": "post/siren", "payload_on": "ON", "payload_off": "OFF"}


def actions(entries: list[dict[str, Any]], action: str, **detail: Any) -> list[dict[str, Any]]:
    return [
        e
        for e in entries
        if e["action"] == action and all(e["detail"].get(k) == v for k, v in detail.items())
    ]


async def test_unacknowledged_alarm_climbs_and_acknowledgement_stops_it(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders, mqtt_watcher: MqttWatcher
) -> None:
    """Step 1 (at once): the siren and the first webhook, level 1. Step 2 (after 1 s, repeating
    every second): the second webhook, level 2, shown on the alarm's retained topic. The
    officer acknowledges: the siren goes off and nothing more is sent."""
    server = http_recorder()
    running = await start_hub(
        notifiers={
            "siren": SIREN,
            "first": webhook(server, "first"),
            "second": webhook(server, "second"),
        },
        escalation={
            "steps": [
                {"after_s": 0, "notify": ["siren", "first"]},
                {"after_s": 1, "notify": ["second"], "repeat_s": 1},
            ]
        },
    )
    await mqtt_watcher.watch("post/siren", "chuong/v1/alarms/+")
    button = await buttons("bank-1")
    started = time.monotonic()
    alarm_id = await press(button)

    [first] = await server.wait(1, "/first")
    assert first.json()["alarm"]["id"] == alarm_id
    assert first.json()["alarm"]["level"] == 1
    assert "ack_url" not in first.json()  # a webhook gets no link unless send_links
    await mqtt_watcher.wait("post/siren", lambda found: found == ["ON"])

    second = await server.wait(2, "/second")
    assert second[0].at - started >= 0.9, "step 2 must wait for its after_s"
    assert [(r.json()["step"], r.json()["round"]) for r in second[:2]] == [(2, 0), (2, 1)]
    assert second[0].json()["alarm"]["level"] == 2
    [alarm] = await running.alarms()
    assert alarm["level"] == 2
    await mqtt_watcher.wait(
        f"chuong/v1/alarms/{alarm_id}",
        lambda found: any(json.loads(p)["level"] == 2 for p in found if p),
    )

    response = await running.api(Role.OFFICER).post(f"/api/v1/alarms/{alarm_id}/ack")
    assert response.status_code == 200
    await mqtt_watcher.wait("post/siren", lambda found: found == ["ON", "OFF"])
    await asyncio.sleep(0.3)  # a message already on the wire when the ack committed may land
    settled = len(server.on("/second"))
    await asyncio.sleep(2.5)  # two more repeat periods
    assert len(server.on("/second")) == settled, "a step fired after the acknowledgement"

    entries = await audit_of(running, alarm_id)
    assert [e["detail"]["level"] for e in actions(entries, "alarm.escalated")] == [1, 2]
    assert actions(entries, "escalation.stopped", reason="acknowledged")
    assert len(actions(entries, "notify.delivered", notifier="first")) == 1
    assert len(actions(entries, "notify.delivered", notifier="second")) == settled
    assert actions(entries, "notify.queued", notifier="siren", event="clear")
    assert all(e["actor"] == "hub" for e in actions(entries, "notify.attempt"))


async def test_failing_notifier_is_retried_and_does_not_block_the_others(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders
) -> None:
    """One service hangs, then answers 500 and 503, then 200; the other answers at once. The
    healthy one is delivered while the broken one still hangs, presses keep being taken in
    meanwhile, the broken one is retried until delivered (every attempt on the record), and
    its `notifier_failing` trouble is raised after three failures and cleared by the delivery.
    (The clinic follows a policy of its own, by a rule, that calls only the healthy one.)"""
    bad, good = http_recorder(), http_recorder()
    bad.then(Answer(delay=4.0), Answer(500, b"down"), Answer(503, b"busy"))
    running = await start_hub(
        notifiers={"bad": webhook(bad, "bad"), "good": webhook(good, "good")},
        escalation={
            "steps": [{"after_s": 0, "notify": ["bad", "good"]}],
            "policies": {"clinic": {"steps": [{"after_s": 0, "notify": ["good"]}]}},
            "rules": [{"sites": ["clinic"], "policy": "clinic"}],
        },
    )
    bank = await buttons("bank-1")
    clinic = await buttons("clinic-1")
    alarm_id = await press(bank)
    await good.wait(1)
    await bad.wait(1)
    assert not any(e["action"] == "notify.failed" for e in await audit_of(running, alarm_id))
    other = await press(clinic)  # ingest goes on while a notifier hangs
    assert other != alarm_id
    await good.wait(2)

    await bad.wait(4, timeout=30)
    await wait_for(lambda: _delivered(running, alarm_id, "bad"), timeout=20)
    entries = await audit_of(running, alarm_id)
    attempts = [e["detail"]["attempt"] for e in actions(entries, "notify.attempt", notifier="bad")]
    assert attempts == [1, 2, 3, 4]
    failed = actions(entries, "notify.failed", notifier="bad")
    assert [e["detail"]["attempt"] for e in failed] == [1, 2, 3]
    assert (
        "no answer" in failed[0]["detail"]["error"] or "timed out" in failed[0]["detail"]["error"]
    )
    assert failed[1]["detail"]["error"] == "HTTP 500: down"
    assert failed[2]["detail"]["error"] == "HTTP 503: busy"
    assert all("retry_at" in e["detail"] for e in failed)
    [delivered] = actions(entries, "notify.delivered", notifier="bad")
    assert delivered["detail"]["attempt"] == 4
    [good_delivered] = actions(entries, "notify.delivered", notifier="good")
    assert good_delivered["id"] < failed[0]["id"], "the healthy notifier waited for the broken one"

    troubles = (await running.api().get("/api/v1/troubles", params={"state": "all"})).json()
    [trouble] = [t for t in troubles if t["kind"] == "notifier_failing"]
    assert (trouble["subject"], trouble["state"]) == ("notifier:bad", "cleared")
    metrics = (await running.api().get("/metrics")).text
    assert 'chuong_notify_attempts_total{notifier="bad",outcome="failed"} 3.0' in metrics
    assert 'chuong_notify_attempts_total{notifier="good",outcome="delivered"} 2.0' in metrics


async def _delivered(running: RunningHub, alarm_id: str, notifier: str) -> bool:
    return bool(actions(await audit_of(running, alarm_id), "notify.delivered", notifier=notifier))


async def test_shared_siren_stays_on_until_the_last_alarm_is_acknowledged(
    start_hub: StartHub, buttons: Buttons, mqtt_watcher: MqttWatcher
) -> None:
    """Two sites alarm; both switched the post's siren on. Acknowledging the first leaves it on
    (the second still needs it); acknowledging the second switches it off. A per-button LED
    (`{button}` in its topic) is switched for its own alarm only."""
    running = await start_hub(
        notifiers={
            "siren": SIREN,
            "led": {"type": "mqtt", "topic": "led/{button}", "payload_on": "{alarm}:on"},
        },
        escalation={"steps": [{"after_s": 0, "notify": ["siren", "led"]}]},
    )
    await mqtt_watcher.watch("post/siren", "led/+")
    bank_alarm = await press(await buttons("bank-1"))
    clinic_alarm = await press(await buttons("clinic-1"))
    await mqtt_watcher.wait("post/siren", lambda found: found == ["ON", "ON"])
    await mqtt_watcher.wait("led/bank-1", lambda found: found == [f"{bank_alarm}:on"])
    officer = running.api(Role.OFFICER)

    assert (await officer.post(f"/api/v1/alarms/{bank_alarm}/ack")).status_code == 200
    await mqtt_watcher.wait("led/bank-1", lambda found: len(found) == 2)
    assert json.loads(mqtt_watcher.on("led/bank-1")[1])["on"] is False
    await wait_for(lambda: _delivered(running, bank_alarm, "siren"))
    kept = actions(await audit_of(running, bank_alarm), "notify.delivered", notifier="siren")
    assert any(
        f"alarm {clinic_alarm} still needs it" in (e["detail"].get("note") or "") for e in kept
    )
    assert mqtt_watcher.on("post/siren") == ["ON", "ON"]
    assert mqtt_watcher.on("led/clinic-1") == [f"{clinic_alarm}:on"]

    assert (await officer.post(f"/api/v1/alarms/{clinic_alarm}/ack")).status_code == 200
    await mqtt_watcher.wait("post/siren", lambda found: found == ["ON", "ON", "OFF"])


async def test_test_press_sounds_only_the_siren_marked_for_tests(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders, mqtt_watcher: MqttWatcher
) -> None:
    """A test alarm runs the policy reduced to `tests = true` notifiers: the siren sounds, the
    phone is never called."""
    phone = http_recorder()
    running = await start_hub(
        notifiers={"siren": {**SIREN, "tests": True}, "phone": webhook(phone, "phone")},
        escalation={"steps": [{"after_s": 0, "notify": ["siren", "phone"]}]},
    )
    await mqtt_watcher.watch("post/siren")
    alarm_id = await press(await buttons("bank-1"), "test")
    await mqtt_watcher.wait("post/siren", lambda found: found == ["ON"])
    await asyncio.sleep(1.5)
    assert phone.requests == []
    entries = await audit_of(running, alarm_id)
    assert not actions(entries, "notify.queued", notifier="phone")
    [alarm] = await running.alarms()
    assert (alarm["test"], alarm["level"]) == (True, 1)


async def test_troubles_follow_their_own_policy_and_wait_while_the_site_alarms(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders
) -> None:
    """A tamper at the clinic goes to the phone by the trouble policy. A tamper at the bank
    while the bank alarms waits (the page still shows it); once the alarm is resolved, it goes."""
    phone = http_recorder()
    running = await start_hub(
        notifiers={"phone": webhook(phone, "phone")},
        escalation={
            "troubles": {"kinds": ["tamper"], "steps": [{"after_s": 0, "notify": ["phone"]}]}
        },
    )
    await (await buttons("clinic-1")).press("tamper")  # no alarm, so no ack: a trouble
    [clinic] = await phone.wait(1)
    assert clinic.json()["event"] == "trouble"
    assert clinic.json()["trouble"]["subject"] == "clinic-1"
    assert "SỰ CỐ" in clinic.json()["title"]

    bank_alarm = await press(await buttons("bank-1"))
    await (await buttons("bank-2")).press("tamper")
    await asyncio.sleep(1.5)
    assert len(phone.requests) == 1, "a trouble of an alarming site went out"
    troubles = (await running.api().get("/api/v1/troubles")).json()
    assert any(t["subject"] == "bank-2" and t["kind"] == "tamper" for t in troubles)
    body = {"outcome": "false_alarm", "note": "kiểm tra nút"}
    response = await running.api().post(f"/api/v1/alarms/{bank_alarm}/resolve", json=body)
    assert response.status_code == 200
    [_, bank] = await phone.wait(2)
    assert bank.json()["trouble"]["subject"] == "bank-2"


async def test_pending_notification_is_retried_after_a_restart(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders
) -> None:
    """The service is down when the step fires: three failures open `notifier_failing`; the hub
    is stopped with the notification undelivered; the next hub delivers it and clears the
    trouble the first one left open."""
    server = http_recorder()
    server.default = Answer(500, b"down")
    config: dict[str, Any] = {
        "notifiers": {"phone": webhook(server, "phone")},
        "escalation": {"steps": [{"after_s": 0, "notify": ["phone"]}]},
    }
    first = await start_hub(**config)
    alarm_id = await press(await buttons("bank-1"))
    await wait_for(lambda: _failing(first, "open"), timeout=20)
    await first.hub.stop()
    server.default = Answer()
    second = await start_hub(**config)
    await wait_for(lambda: _delivered(second, alarm_id, "phone"), timeout=20)
    await wait_for(lambda: _failing(second, "cleared"), timeout=10)


async def _failing(running: RunningHub, state: str) -> bool:
    response = await running.api().get("/api/v1/troubles", params={"state": "all"})
    return any(t["kind"] == "notifier_failing" and t["state"] == state for t in response.json())


async def test_command_notifier_gets_the_link_of_its_person(
    start_hub: StartHub, buttons: Buttons, tmp_path: Path
) -> None:
    """A `command` notifier (a gateway of one's own) gets CHUONG_ACK_URL, a link that
    acknowledges as its `person`; a local program's text (on stdin) carries no link."""
    out = tmp_path / "command.out"
    dump = (
        "import os, sys; text = sys.stdin.read(); "
        f"open({str(out)!r}, 'w').write(os.environ['CHUONG_ACK_URL'] + '\\n' + text)"
    )
    running = await start_hub(
        hub=HubSection(id="post", public_url="http://10.0.0.5:8080"),  # type: ignore[arg-type]
        notifiers={
            "gateway": {
                "type": "command",
                "argv": [sys.executable, "-c", dump],
                "person": "commander",
            }
        },
        escalation={"steps": [{"after_s": 0, "notify": ["gateway"]}]},
    )
    alarm_id = await press(await buttons("bank-1"))
    await wait_for(lambda: _delivered(running, alarm_id, "gateway"), timeout=20)
    link, text = out.read_text().split("\n", 1)
    assert link.startswith(f"http://10.0.0.5:8080/ack/{alarm_id}/commander/")
    assert "http" not in text
