"""Signed presses end to end: a keyed button's presses raise alarms; an impostor on its topic, a
forged signature and a replayed message do not, and the officer sees `possible_forgery`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from devices.signing import key_id
from hub.clock import SystemClock
from hub.registry.commands import set_sign_key
from hub.store.db import open_sync_at
from simulator.button import VirtualButton
from tests.conftest import RunningHub, store_location, wait_for

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]


async def _key_for(store: Path | str, button: str) -> str:
    """`chuong registry keys` as an installer runs it (the key is printed once), without blocking
    the event loop the hub under test runs on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "registry",
        "keys",
        "--button",
        button,
        env={
            "PATH": "/usr/bin:/bin",
            **(
                {"CHUONG_STORE__URL": store}
                if isinstance(store, str)
                else {"CHUONG_STORE__PATH": str(store)}
            ),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    key = out.decode().strip()
    assert key_id(key) in err.decode()
    return key


async def test_signed_presses_raise_alarms_and_forgeries_do_not(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """The keyed button's signed presses become alarms. An impostor on its topic without the
    key, a made-up signature, and a captured press replayed with a new id are refused (no alarm,
    each in the rejected log, one `possible_forgery` trouble for the button and its site); the
    captured press replayed as it was is a duplicate and changes nothing."""
    running = await start_hub()
    pipeline = running.hub.pipeline
    assert pipeline is not None
    key = await _key_for(store_location(running.config), "bank-1")
    genuine = await buttons("bank-1", sign_key=key)

    async def keyed() -> bool:  # the running hub reloads the registry at its next batch
        await genuine.heartbeat()
        button = pipeline.state.registry.buttons.get("bank-1")
        return button is not None and button.sign_key == key

    await wait_for(keyed)
    press = await genuine.press()
    alarm_id = (await genuine.wait_ack(press.event_id)).ack.alarm
    captured = json.loads(genuine.last_sent)

    impostor = await buttons("impostor")
    topic = "chuong/v1/dev/bank-1/event"
    await impostor.publish(topic, json.dumps({"id": "fake-1", "type": "press"}))
    await impostor.publish(topic, json.dumps({**captured, "id": "fake-2", "sig": "00" * 32}))
    await impostor.publish(topic, json.dumps({**captured, "id": "replayed-as-new"}))
    await impostor.publish(topic, genuine.last_sent)
    api = running.api()

    async def all_refused() -> bool:
        reasons = [r["reason"] for r in (await api.get("/api/v1/rejected")).json()]
        return sorted(reasons) == ["bad_signature", "bad_signature", "unsigned"]

    await wait_for(all_refused)
    await wait_for(lambda: sum(1 for a in genuine.acks if a.ack.event == press.event_id) >= 2)
    alarms = await running.alarms()
    assert [a["id"] for a in alarms] == [alarm_id]
    assert alarms[0]["press_count"] == 1
    troubles = (await api.get("/api/v1/troubles")).json()
    forgery = [
        (t["kind"], t["subject"], t["site_id"]) for t in troubles if t["kind"] == "possible_forgery"
    ]
    assert forgery == [("possible_forgery", "bank-1", "bank")]
    again = await genuine.press()
    assert (await genuine.wait_ack(again.event_id)).ack.alarm == alarm_id, (
        "the genuine button still works"
    )


async def test_the_audit_log_names_a_new_key_by_its_id_only(
    tmp_path: Path, store_url: str | None
) -> None:
    """The audit entry of a new key names the key's id, never the key."""
    with contextlib.closing(open_sync_at(store_url or tmp_path / "hub.db")) as conn:
        conn.execute("INSERT INTO buttons (id, created_at, updated_at) VALUES ('b1', 'x', 'x')")
        set_sign_key(conn, "b1", "cd" * 32, SystemClock().now())
        detail = conn.execute(
            "SELECT detail FROM audit WHERE action = 'registry.sign_key'"
        ).fetchone()[0]
    assert json.loads(detail) == {"key_id": key_id("cd" * 32)}
    assert "cd" * 32 not in detail
