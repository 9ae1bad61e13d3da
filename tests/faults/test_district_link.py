"""The link between posts and their district cut, with the posts' hubs restarted meanwhile
(docs/DISTRICT.md, "The link cut"): once the link returns, every alarm change of every post is at
the district exactly once, in order per alarm, and the district's alarms are the posts' alarms.

The district's broker is stopped for `PROOF_OUTAGE_S` (5 s in `make test`, 60 s in `make proof`)
while buttons at two posts keep pressing and the posts' officers acknowledge and resolve; each
post hub is stopped and started again once during the cut; the district hub is killed with
SIGKILL during the catch-up. Every wait is for a condition, bounded
only to stop a test that hangs.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

from tests.conftest import wait_for
from tests.integration.district import (
    DISTRICT_ENV,
    Node,
    changes_received,
    changes_sent,
    closing_nodes,
    make_node,
    open_troubles,
    post_env,
    registry,
)

OUTAGE_S = float(os.environ.get("PROOF_OUTAGE_S", "5"))
"""5 s in `make test`; `make proof` runs it with 60 s."""
CATCH_UP_S = 120.0
"""bound on the catch-up after the link returns; only a hung link reaches it"""


async def _round(post: Node, site: str, n: int) -> None:
    """One alarm's life at the post: a press, a second button joins, a repeat, the officer
    acknowledges and resolves it (the admin token may resolve at once; it acknowledges first)."""
    first, second = post.buttons[0], post.buttons[1]
    await first.press()
    await second.press()
    await first.press()

    async with post.api() as api:

        async def open_alarm() -> str | None:
            found = (await api.get("/api/v1/alarms", params={"state": "active"})).json()
            alarms = found["alarms"] if isinstance(found, dict) else found
            ready = [a for a in alarms if a["press_count"] >= 3 and a["site"]["id"] == site]
            return str(ready[0]["id"]) if ready else None

        alarm_id: str | None = None

        async def pressed_three_times() -> bool:
            nonlocal alarm_id
            alarm_id = await open_alarm()
            return alarm_id is not None

        await wait_for(pressed_three_times, 60)
        acked = await api.post(f"/api/v1/alarms/{alarm_id}/ack", json={"note": f"r{n}"})
        acked.raise_for_status()
        resolved = await api.post(
            f"/api/v1/alarms/{alarm_id}/resolve", json={"outcome": "false_alarm", "note": f"r{n}"}
        )
        resolved.raise_for_status()


async def test_a_cut_link_and_restarted_posts_lose_and_repeat_no_change(tmp_path: Path) -> None:
    """District broker down for OUTAGE_S; at each post alarms are raised, joined, pressed again,
    acknowledged and resolved, and each post hub restarts once; once the link is back and the
    first changes have arrived, the district hub is killed (SIGKILL) and started again. Then: the
    district holds each post's changes exactly once (one audit entry each), numbered 1.. without
    gaps per alarm, in the post's order; the district's alarms end in the posts' states; no post
    is left silent. During the cut each post shows `upstream_lost`; after it, no more."""
    district = make_node(tmp_path, "district", DISTRICT_ENV)
    with closing_nodes([district]) as nodes:
        district.hub.start()
        await district.hub.wait_ready()
        sites = {"post-a": "bank", "post-b": "clinic"}
        posts = [
            make_node(tmp_path, name, post_env(district, name), registry(site, site, 2))
            for name, site in sites.items()
        ]
        nodes.extend(posts)
        for post in posts:
            post.hub.start()
        for post in posts:
            await post.hub.wait_ready()
            site = sites[post.name]
            await post.button(f"{site}-1")
            await post.button(f"{site}-2")
            await _round(post, site, 0)  # one alarm across the link before the cut

        district.broker.stop()
        cut_at = time.monotonic()
        rounds = 1
        restarted: set[str] = set()
        while time.monotonic() - cut_at < OUTAGE_S or len(restarted) < len(posts):
            for post in posts:
                await _round(post, sites[post.name], rounds)
            for post in posts:
                if post.name not in restarted:
                    post.restart()
                    await post.hub.wait_ready(60)
                    restarted.add(post.name)
                    break
            rounds += 1
        for post in posts:  # each post's officer is told the district cannot see it

            async def lost(post: Node = post) -> bool:
                return await open_troubles(post, "upstream_lost") == ["hub"]

            await wait_for(lost, 30)
        outage = time.monotonic() - cut_at
        before = sum(len(changes_received(district, post.name)) for post in posts)
        district.broker.start()
        back_at = time.monotonic()

        def catching_up() -> bool:
            return sum(len(changes_received(district, p.name)) for p in posts) > before

        await wait_for(catching_up, CATCH_UP_S, interval=0.05)
        district.hub.kill()  # kill -9 in the middle of the catch-up: still each change once
        district.hub.close()
        district.hub.start()
        await district.hub.wait_ready(60)

        def all_acknowledged() -> bool:
            return all(
                post.rows("SELECT count(*) FROM upstream WHERE acked_at IS NULL")[0][0] == 0
                and len(changes_received(district, post.name)) == len(changes_sent(post))
                for post in posts
            )

        await wait_for(all_acknowledged, CATCH_UP_S, interval=0.2)
        caught_up = time.monotonic() - back_at

        for post in posts:
            sent = changes_sent(post)
            received = changes_received(district, post.name)
            assert sorted(received) == sorted(sent)
            per_alarm: dict[str, list[int]] = {}
            for alarm_id, change_seq, _ in sent:
                per_alarm.setdefault(alarm_id, []).append(change_seq)
            for seqs in per_alarm.values():
                assert seqs == list(range(1, len(seqs) + 1))  # the post's order, no gaps
            applied = Counter(
                r[0]
                for r in district.rows(
                    "SELECT alarm_id FROM audit WHERE actor = ? AND action LIKE 'alarm.%'",
                    f"post:{post.name}",
                )
            )
            assert applied == Counter(alarm_id for alarm_id, _, _ in sent)  # each once
            in_order = district.rows(
                "SELECT alarm_id, change_seq FROM post_changes WHERE post_id = ? ORDER BY id",
                post.name,
            )
            for alarm_id, seqs in per_alarm.items():
                assert [s for a, s in in_order if a == alarm_id] == seqs  # applied in order
            states = dict(post.rows("SELECT id, state FROM alarms"))
            at_district = dict(
                district.rows("SELECT id, state FROM alarms WHERE post_id = ?", post.name)
            )
            assert at_district == states

        def none_silent() -> bool:
            return not district.rows(
                "SELECT subject FROM troubles WHERE kind = 'post_silent' AND state = 'open'"
            )

        await wait_for(none_silent, 30)
        for post in posts:

            async def found(post: Node = post) -> bool:
                return await open_troubles(post, "upstream_lost") == []

            await wait_for(found, 30)
        total = sum(len(changes_sent(post)) for post in posts)
        print(
            f"link cut {outage:.1f} s, {rounds} rounds per post, {total} changes, "
            f"each post restarted once; all at the district {caught_up:.2f} s after the link "
            "returned, each once, in order"
        )
        await asyncio.sleep(0)
