"""A district hub and two post hubs, each a real process with its own Mosquitto
(docs/DISTRICT.md): presses at both posts show at the district with their post and site; a post
hub killed is "post silent" at the district within its heartbeat period plus the grace."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub.config import HubSection
from hub.upstream.district import ApplyPostChanges
from simulator.button import VirtualButton
from tests.conftest import LINK_KEY_NOTIFIER, RunningHub, ack_link, wait_for
from tests.hub.upstream.test_plans import messages
from tests.integration.district import (
    DISTRICT_ENV,
    GRACE_S,
    HEARTBEAT_S,
    Node,
    changes_received,
    changes_sent,
    closing_nodes,
    lose_store,
    make_node,
    post_env,
    registry,
    seed_node,
)


async def start_post(
    tmp_path: Path, district: Node, nodes: list[Node], store_url: str | None
) -> Node:
    """Post A (Xã Phước Hòa, one bank button) reporting to `district`, started and ready."""
    post = make_node(
        tmp_path,
        "post-a",
        post_env(district, "Xã Phước Hòa"),
        registry("bank", "Ngân hàng", 1),
        store_url,
    )
    nodes.append(post)
    post.hub.start()
    await post.hub.wait_ready()
    return post


async def _district_alarms(district: Node) -> list[dict[str, object]]:
    async with district.api() as api:
        response = await api.get("/api/v1/alarms")
        response.raise_for_status()
        return list(response.json()["alarms"] if "alarms" in response.json() else response.json())


async def test_presses_at_two_posts_show_at_the_district_and_a_killed_post_is_silent(
    tmp_path: Path, fresh_store: Callable[[], str | None]
) -> None:
    """Presses at post A (a bank) and post B (a clinic) reach the district's API with the right
    post and site; the post's acknowledgement follows; the district refuses to acknowledge a
    post's alarm (409). Post B killed: the district raises `post_silent` for B (not A) within
    B's heartbeat period plus the grace (and the watch's second). Post C, expected by the
    district's configuration, never comes up: it is silent too; A never is."""
    expecting = {
        **DISTRICT_ENV,
        "CHUONG_DISTRICT__EXPECT": '["post-a", "post-b", "post-c"]',
        "CHUONG_DISTRICT__EXPECT_PERIOD_S": "1",
    }
    district = make_node(tmp_path, "district", expecting, store_url=fresh_store())
    with closing_nodes([district]) as nodes:
        district.hub.start()
        await district.hub.wait_ready()
        a = make_node(
            tmp_path,
            "post-a",
            post_env(district, "Xã Phước Hòa"),
            registry("bank", "Ngân hàng", 1),
            fresh_store(),
        )
        b = make_node(
            tmp_path,
            "post-b",
            post_env(district, "Xã Tân Thạch"),
            registry("clinic", "Trạm y tế", 1),
            fresh_store(),
        )
        nodes.extend([a, b])
        for post in (a, b):
            post.hub.start()
        for post in (a, b):
            await post.hub.wait_ready()
        bank, clinic = await a.button("bank-1"), await b.button("clinic-1")
        started = time.monotonic()
        await bank.press()
        await clinic.press()

        async def both_seen() -> bool:
            return len(await _district_alarms(district)) == 2

        await wait_for(both_seen, 20)
        seen_after = time.monotonic() - started
        alarms = {a_["post"]["id"]: a_ for a_ in await _district_alarms(district)}  # type: ignore[index]
        assert alarms["post-a"]["post"] == {"id": "post-a", "name": "Xã Phước Hòa"}
        assert alarms["post-a"]["site"]["name"] == "Ngân hàng"  # type: ignore[index]
        assert alarms["post-b"]["post"] == {"id": "post-b", "name": "Xã Tân Thạch"}
        assert alarms["post-b"]["site"]["name"] == "Trạm y tế"  # type: ignore[index]
        print(f"both presses at the district {seen_after:.2f} s after the first press")

        alarm_a = str(alarms["post-a"]["id"])
        async with district.api() as api:
            refused = await api.post(f"/api/v1/alarms/{alarm_a}/ack", json={})
            assert refused.status_code == 409, refused.text
            assert "post-a" in refused.json()["detail"] or "Phước Hòa" in refused.json()["detail"]
        async with a.api() as api:
            (await api.post(f"/api/v1/alarms/{alarm_a}/ack", json={})).raise_for_status()

        async def acknowledged_at_district() -> bool:
            found = {x["id"]: x for x in await _district_alarms(district)}
            return found[alarm_a]["state"] == "acknowledged"

        await wait_for(acknowledged_at_district, 20)
        assert changes_received(district, "post-a") == changes_sent(a)

        async def counted() -> bool:  # the link's metrics, at both ends
            async with a.api() as api:
                post_side = (await api.get("/metrics")).text
            async with district.api() as api:
                district_side = (await api.get("/metrics")).text
            return (
                "chuong_upstream_connected 1.0" in post_side
                and "chuong_upstream_acknowledged_total 2.0" in post_side
                and 'chuong_district_changes_total{outcome="applied"} 3.0' in district_side
            )

        await wait_for(counted, 20)

        async def troubles() -> list[dict[str, object]]:
            async with district.api() as api:
                body = (await api.get("/api/v1/troubles")).json()
                return list(body["troubles"] if isinstance(body, dict) else body)

        def both_watched() -> bool:  # a post is watched from its first heartbeat
            return len(district.rows("SELECT id FROM posts")) == 2

        await wait_for(both_watched, 20)
        b.hub.kill()
        killed = time.monotonic()

        async def b_silent() -> bool:
            return any(
                t["kind"] == "post_silent" and t["subject"] == "post-b" for t in await troubles()
            )

        await wait_for(b_silent, HEARTBEAT_S + GRACE_S + 15)
        print(f"post silent raised {time.monotonic() - killed:.2f} s after the kill")
        silent = {t["subject"] for t in await troubles() if t["kind"] == "post_silent"}
        assert silent == {"post-b", "post-c"}  # post-c, expected, never came up
        await asyncio.sleep(0)


async def test_a_post_without_upstream_sends_nothing_and_keeps_no_outbox(
    start_hub: Callable[..., Awaitable[RunningHub]],
    buttons: Callable[..., Awaitable[VirtualButton]],
) -> None:
    """Without [upstream] the hub is as before: no link, no upstream row for a raised alarm."""
    running = await start_hub()
    assert running.hub.upstream is None
    assert running.hub.district is None
    button = await buttons("bank-1")
    press = await button.press()
    await button.wait_ack(press.event_id)
    rows = running.hub.store.upstream_pending(10)
    assert await rows == []


async def test_a_district_passes_its_posts_alarms_on_to_the_province(
    tmp_path: Path, fresh_store: Callable[[], str | None]
) -> None:
    """post → district → province, the same link twice: a press at the post shows at the
    province with the post (not the district) as its post, and the site; the post's
    acknowledgement follows it there; the province watches the district's heartbeat."""
    province = make_node(
        tmp_path,
        "province",
        {**DISTRICT_ENV, "CHUONG_HUB__NAME": "Tỉnh"},
        store_url=fresh_store(),
    )
    with closing_nodes([province]) as nodes:
        province.hub.start()
        await province.hub.wait_ready()
        district = make_node(
            tmp_path,
            "district",
            {**DISTRICT_ENV, **post_env(province, "Huyện Châu Thành")},
            store_url=fresh_store(),
        )
        nodes.append(district)
        district.hub.start()
        await district.hub.wait_ready()
        post = await start_post(tmp_path, district, nodes, fresh_store())
        await (await post.button("bank-1")).press()

        async def at_province() -> bool:
            return len(await _district_alarms(province)) == 1

        await wait_for(at_province, 20)
        [alarm] = await _district_alarms(province)
        assert alarm["post"] == {"id": "post-a", "name": "Xã Phước Hòa"}
        assert alarm["site"]["name"] == "Ngân hàng"  # type: ignore[index]
        async with post.api() as api:
            (await api.post(f"/api/v1/alarms/{alarm['id']}/ack", json={})).raise_for_status()

        async def acknowledged_at_province() -> bool:
            [found] = await _district_alarms(province)
            return found["state"] == "acknowledged"

        await wait_for(acknowledged_at_province, 20)
        assert province.rows("SELECT id, name FROM posts") == [("district", "Huyện Châu Thành")]


async def test_a_phone_link_at_the_district_does_not_acknowledge_a_posts_alarm(
    start_hub: Callable[..., Awaitable[RunningHub]],
) -> None:
    """The district's own escalation may call someone with a link; following it on a post's
    alarm acknowledges nothing: 409, a page naming the post and telling to phone it."""
    running = await start_hub(
        registry=None,
        hub=HubSection(id="district", mode="district", name="Huyện"),
        notifiers={"boss": LINK_KEY_NOTIFIER},
    )
    assert running.hub.pipeline is not None
    raised = messages()[0]
    await running.hub.pipeline.execute(ApplyPostChanges([raised], [], [], {}))
    link = await ack_link(running, raised.alarm.id)
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as phone:
        answer = await phone.post(link)
    assert answer.status_code == 409
    assert "Xã A" in answer.text
    assert "gọi điện cho công an xã" in answer.text
    [alarm] = await running.alarms()
    assert alarm["state"] == "active"


async def test_a_post_reinstalled_with_an_empty_store_still_reaches_the_district(
    tmp_path: Path, fresh_store: Callable[[], str | None]
) -> None:
    """A post's store is lost (a new disk, a re-install) and the post starts again with the same
    `hub.id`: it numbers its alarms from 1 again. Its next press must still show at the district,
    beside the old alarm of the same number, not be taken for a copy of it and dropped."""
    district = make_node(tmp_path, "district", DISTRICT_ENV, store_url=fresh_store())
    with closing_nodes([district]) as nodes:
        district.hub.start()
        await district.hub.wait_ready()
        post = await start_post(tmp_path, district, nodes, fresh_store())
        button = await post.button("bank-1")
        await button.press()

        def seen(count: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(await _district_alarms(district)) == count

            return check

        await wait_for(seen(1), 20)
        [first] = await _district_alarms(district)

        post.hub.terminate()
        post.hub.close()
        lose_store(post, fresh_store())  # the post starts from nothing
        post.token = seed_node(post.hub, registry("bank", "Ngân hàng", 1))
        await asyncio.sleep(1.1)  # a raise time in another second than the first alarm's
        post.hub.start()
        await post.hub.wait_ready()
        await button.press()

        await wait_for(seen(2), 20)
        ids = {str(alarm["id"]) for alarm in await _district_alarms(district)}
        assert str(first["id"]) in ids
        [again] = ids - {str(first["id"])}
        assert again.startswith(f"{first['id']}~")
        async with post.api() as api:
            [at_post] = (await api.get("/api/v1/alarms")).json()
        assert at_post["id"] == first["id"]  # the post did number it as its first again


def _publish(node: Node, topic: str, payload: bytes) -> None:
    """One QoS 1 message to `node`'s broker, as a post's hub would send it."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(node.broker.host, node.broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


async def test_a_post_cannot_touch_another_posts_alarm_and_bad_dates_do_not_stall_the_district(
    tmp_path: Path, fresh_store: Callable[[], str | None]
) -> None:
    """Post B (or whoever holds its broker password) sends a change `resolved` for post A's open
    alarm, on B's own topic: refused (`bad_upstream`), A's alarm stays open at the district. A
    change whose times no calendar can hold (year 1) is refused the same way, and the changes
    after it, from every post, still go through."""
    district = make_node(tmp_path, "district", DISTRICT_ENV, store_url=fresh_store())
    with closing_nodes([district]) as nodes:
        district.hub.start()
        await district.hub.wait_ready()
        post = await start_post(tmp_path, district, nodes, fresh_store())
        button = await post.button("bank-1")
        await button.press()

        async def count(n: int) -> bool:
            return len(await _district_alarms(district)) == n

        await wait_for(lambda: count(1), 20)
        [alarm] = await _district_alarms(district)
        async with post.api() as api:
            [own] = (await api.get("/api/v1/alarms")).json()
        resolved = {**own, "state": "resolved", "resolved_at": own["raised_at"]}
        forged = {
            "v": 1,
            "post": {"id": "post-b", "name": "Xã B"},
            "seq": 1,
            "change_seq": 1,
            "change": "resolved",
            "actor": "user:x",
            "at": own["raised_at"],
            "alarm": resolved,
        }
        _publish(district, "chuong/v1/up/post-b/change", json.dumps(forged).encode())
        ancient = {**forged, "post": {"id": "post-a", "name": "Xã Phước Hòa"}, "seq": 99}
        ancient["alarm"] = {**own, "id": "post-a-77", "raised_at": "0001-01-01T00:00:00+05:00"}
        _publish(district, "chuong/v1/up/post-a/change", json.dumps(ancient).encode())

        async def both_refused() -> bool:
            async with district.api() as api:
                rows = (await api.get("/api/v1/rejected")).json()
            found = rows["rejected"] if isinstance(rows, dict) else rows
            return sum(1 for r in found if r["reason"] == "bad_upstream") == 2

        await wait_for(both_refused, 20)
        await button.press()  # the district goes on: A's second press still arrives
        await wait_for(lambda: count(1), 20)

        async def pressed_twice() -> bool:
            [now] = await _district_alarms(district)
            return now["press_count"] == 2

        await wait_for(pressed_twice, 20)
        [still] = await _district_alarms(district)
        assert still["id"] == alarm["id"]
        assert still["state"] == "active"
