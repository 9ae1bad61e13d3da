"""Guarantee 4 under the worst crash: deadlines and notifications survive kill -9 of the hub."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.button import VirtualButton
from tests.conftest import HubProcess, query_store, wait_for
from tests.integration.notify.loopback import Answer, HttpRecorder

STEP_AFTER_S = 3.0
HOOK = "/hook?key=s3cr3t-in-url"


def _rows(store: Path | str, sql: str, *params: object) -> list[dict[str, Any]]:
    return [dict(row) for row in query_store(store, sql, *params)]


def _audit(db: Path | str, alarm_id: str, action: str) -> list[dict[str, Any]]:
    rows = _rows(db, "SELECT detail FROM audit WHERE alarm_id = ? AND action = ?", alarm_id, action)
    return [json.loads(row["detail"]) for row in rows]


async def test_kill9_between_raise_and_step_then_between_attempts(
    hub_process: Callable[..., HubProcess],
    buttons: Callable[..., Any],
    http_recorder: Callable[[], HttpRecorder],
    tmp_path: Path,
) -> None:
    """The alarm is raised with its deadline (step 1 at 3 s); the hub is killed (-9) before the
    step and stays down past the deadline. The next hub fires the overdue step at once; the
    service is down, and the hub is killed again with the notification undelivered. The third
    hub retries it, and it is delivered: on the record as failed, then delivered, level 1."""
    server = http_recorder()
    server.default = Answer(500, b"down")
    config = tmp_path / "chuong.toml"
    config.write_text(
        f"""
[hub]
public_url = "http://phone.invalid:8080"

[notifiers.hook]
type = "webhook"
url = "{server.url}/hook?key=s3cr3t-in-url"
secret = "hmac-s3cr3t"
send_links = true
timeout_s = 2
retry_min_s = 0.3
retry_max_s = 1

[[escalation.steps]]
after_s = {STEP_AFTER_S}
notify = ["hook"]
""",
        encoding="utf-8",
    )
    env = {"CHUONG_CONFIG": str(config)}

    first = hub_process(env).start()
    await first.wait_ready()
    button: VirtualButton = await buttons("bank-1")
    sent = await button.press()
    alarm_id = (await button.wait_ack(sent.event_id)).ack.alarm
    raised = time.monotonic()
    [row] = _rows(first.store, "SELECT * FROM escalations WHERE alarm_id = ?", alarm_id)
    assert (row["state"], row["next_due_at"] is not None) == ("running", True)
    first.kill()
    assert server.requests == [], "the step fired before the kill: the test proves nothing"
    await asyncio.sleep(max(0.0, raised + STEP_AFTER_S + 0.5 - time.monotonic()))

    second = hub_process(env).start()
    await second.wait_ready()
    [attempt] = (await server.wait(1, HOOK))[:1]
    assert attempt.json()["alarm"]["id"] == alarm_id
    assert attempt.json()["alarm"]["level"] == 1
    await wait_for(lambda: bool(_audit(second.store, alarm_id, "notify.failed")), timeout=20)
    second.kill()
    [pending] = _rows(second.store, "SELECT * FROM outbox WHERE alarm_id = ?", alarm_id)
    assert pending["state"] == "pending"

    server.default = Answer()
    failures = len(server.requests)
    third = hub_process(env).start()
    await third.wait_ready()
    await server.wait(failures + 1, HOOK)
    await wait_for(lambda: bool(_audit(third.store, alarm_id, "notify.delivered")), timeout=20)
    [delivered] = _rows(third.store, "SELECT * FROM outbox WHERE alarm_id = ?", alarm_id)
    assert delivered["state"] == "delivered"
    assert delivered["key"] == f"alarm:{alarm_id}/1.0/hook"
    [alarm] = _rows(third.store, "SELECT level, state FROM alarms WHERE id = ?", alarm_id)
    assert alarm == {"level": 1, "state": "active"}
    assert len(_audit(third.store, alarm_id, "alarm.escalated")) == 1, "the step fired twice"
    assert all(r.json()["delivery"] == delivered["key"] for r in server.requests)
    link = server.requests[-1].json()["ack_url"]
    delivered_line = f"notify hook: alarm:{alarm_id}/1.0/hook delivered"
    # The line is written once the delivery is on record: on a busy machine, a moment after.
    await wait_for(lambda: delivered_line in third.log(), timeout=20)
    logged = third.log()  # the three hubs' log, one file
    assert f"notify hook: alarm:{alarm_id}/1.0/hook failed (attempt 1): HTTP 500" in logged
    for secret in ("s3cr3t-in-url", "hmac-s3cr3t", link.rsplit("/", 1)[1], "/ack/"):
        assert secret not in logged, f"{secret!r} is in the hub's log"
