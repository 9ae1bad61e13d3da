"""The district's side: its posts' alarm changes applied in order, each once, and acknowledged
back; a "post silent" trouble when a post's heartbeat stops.

A change is applied when it is the next of its alarm (`change_seq` one more than the last
applied); one already applied is a duplicate (acknowledged again, nothing changes); one that
comes early (an earlier one was lost on the way) is left unacknowledged, and the post sends
both again in order. The change and its record commit in one transaction, before the ack.

The district does not acknowledge or resolve a post's alarm: the officer at the post does, in
front of the site; the district sees and calls (docs/DISTRICT.md, "Who acknowledges").
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from pydantic import ValidationError

from hub.broker.mqtt import MqttAdapter, MqttMessage
from hub.clock import Clock, iso
from hub.config import Config
from hub.domain.inbound import Delivery
from hub.domain.model import TroubleKind
from hub.errors import ChuongError
from hub.metrics import Metrics
from hub.store import Store
from hub.store.ops import RecordPostChange, UpsertPost
from hub.upstream.wire import ChangeMessage, HeartbeatMessage, UpTopics, alarm_at_district
from hub.writer.pipeline import Pipeline
from hub.writer.plan import Command, Plan

log = logging.getLogger(__name__)

BATCH_MAX: Final = 500
QOS0_WAITING_MAX: Final = 10_000
"""Beyond this many messages waiting, one sent at QoS 0 is dropped (counted): posts send at
QoS 1, which the broker holds back while the district is busy; QoS 0 has no such brake, and a
faulty or hostile post could fill the district's memory with it."""
WATCH_S: Final = 1.0


@dataclass(slots=True)
class Rejected:
    topic: str
    payload: bytes
    reason: str
    detail: str
    post: str | None


@dataclass(slots=True)
class Beat:
    post: str
    name: str
    period_s: float
    known: bool
    """the district has the post on record with this name and period"""


@dataclass(slots=True)
class _Sorted:
    changes: list[ChangeMessage] = field(default_factory=list)
    beats: dict[str, Beat] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass(slots=True)
class Applied:
    acks: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    last: dict[tuple[str, str], int] = field(default_factory=dict)
    raised: dict[tuple[str, str], str] = field(default_factory=dict)
    applied: int = 0
    duplicates: int = 0
    early: int = 0


EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
ALARM_ID: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}-[0-9]{1,12}(~[0-9]{1,12})?")
"""A post's alarm id (`<hub id>-<number>`), or one a district kept under its own id (`~…`)."""


def check_moment(name: str, value: datetime | None) -> None:
    """A time from a post: with its offset, between 2000 and 2100 (or ValueError)."""
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: a time without its UTC offset")
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{name}: {value.isoformat()} is not between 2000 and 2100")


def check_change(change: ChangeMessage) -> None:
    """What the models let through but the district cannot keep: odd ids and times."""
    alarm = change.alarm
    if not ALARM_ID.fullmatch(alarm.id):
        raise ValueError(f"alarm.id: {alarm.id[:80]!r} is not a post's alarm id")
    check_moment("at", change.at)
    for name in ("raised_at", "last_press_at", "acknowledged_at", "resolved_at"):
        check_moment(f"alarm.{name}", getattr(alarm, name))
    for n, ack in enumerate(alarm.acks):
        check_moment(f"alarm.acks.{n}.at", ack.at)


def district_id(message: ChangeMessage, raised: Mapping[tuple[str, str], str]) -> str:
    """The id the district keeps a post's alarm under: the post's own, unless the district
    already has another alarm of that post under it, raised at another time. That happens when a
    post's store was replaced (a re-install, a lost disk) and the post numbers its alarms from 1
    again: its new alarm `xa-a-1` is then kept as `xa-a-1~<its raise time, Unix seconds>`, so it
    is shown, and not taken for a copy of the old one."""
    own = message.alarm.id
    known = raised.get((message.post.id, own))
    stamp = iso(message.alarm.raised_at)
    if known is None or known == stamp:
        return own
    return f"{own}~{int(message.alarm.raised_at.timestamp())}"


@dataclass(slots=True)
class ApplyPostChanges(Command):
    changes: list[ChangeMessage]
    beats: list[Beat]
    rejected: list[Rejected]
    last: dict[tuple[str, str], int]
    """the last change applied of each (post, alarm) the batch touches"""
    raised: dict[tuple[str, str], str] = field(default_factory=dict)
    """when each (post, alarm) the batch touches was raised, as the district has it"""

    def plan(self, plan: Plan) -> Applied:
        result = Applied()
        last = dict(self.last)
        raised = dict(self.raised)
        for message in self.changes:
            sender = message.post
            key = (sender.id, district_id(message, raised))
            raised.setdefault(key, iso(message.alarm.raised_at))
            done = last.get(key, 0)
            if message.change_seq <= done:
                result.duplicates += 1
                result.acks[sender.id].append(message.seq)
            elif message.change_seq > done + 1:
                result.early += 1  # not acknowledged: the post sends it again after the one missing
            else:
                self._apply(plan, message, key[1])
                last[key] = message.change_seq
                result.last[key] = message.change_seq
                result.raised[key] = raised[key]
                result.applied += 1
                result.acks[sender.id].append(message.seq)
        for beat in self.beats:
            if not beat.known:
                plan.write(UpsertPost(beat.post, beat.name, beat.period_s, plan.now))
            plan.clear_trouble(TroubleKind.POST_SILENT, beat.post, detail="the post is heard again")
        for item in self.rejected:
            plan.changes.add_rejected(
                iso(plan.now), item.topic, item.payload, item.reason, item.detail, None
            )
        return result

    @staticmethod
    def _apply(plan: Plan, message: ChangeMessage, alarm_id: str) -> None:
        current = plan.draft.alarm(alarm_id)
        alarm = alarm_at_district(
            message.alarm,
            message.post,
            alarm_id=alarm_id,
            seq=current.seq if current else plan.draft.take_alarm_seq(),
            level=current.level if current else 0,
            updated_at=plan.now,
        )
        sender = message.post.id
        plan.save_alarm(
            alarm,
            message.change,
            f"post:{sender}",
            at=plan.now,
            post_actor=message.actor,
            change_seq=message.change_seq,
            post_at=iso(message.at),
        )
        plan.write(
            RecordPostChange(
                sender,
                alarm_id,
                message.change_seq,
                message.change.value,
                message.actor,
                message.at,
                plan.now,
                message.alarm.model_dump(mode="json"),
            )
        )


@dataclass(slots=True)
class RaisePostSilent(Command):
    post: str
    detail: str

    def plan(self, plan: Plan) -> None:
        plan.raise_trouble(TroubleKind.POST_SILENT, self.post, detail=self.detail)


@dataclass(slots=True)
class _Heard:
    name: str
    period_s: float
    at: float
    """monotonic: the last heartbeat (or the district's start, for a post on record)"""
    silent: bool = False


class DistrictReceiver:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        pipeline: Pipeline,
        clock: Clock,
        metrics: Metrics,
        mqtt: MqttAdapter,
    ) -> None:
        self._grace = config.district.grace_s
        self._expect = config.district.expect
        self._expect_period_s = config.district.expect_period_s
        self._store = store
        self._pipeline = pipeline
        self._clock = clock
        self._metrics = metrics
        self._mqtt = mqtt
        self.topics = UpTopics(config.mqtt.root)
        self._queue: asyncio.Queue[MqttMessage] = asyncio.Queue()
        self._last: dict[tuple[str, str], int] = {}
        self._raised: dict[tuple[str, str], str] = {}
        self._origins: dict[str, str] = {}
        """the post that raised alarms → who sends them here: the post itself, or the district
        that forwards them (at a province); the first to send them"""
        self._posts: dict[str, _Heard] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._last = await self._store.post_last_changes()
        self._raised = await self._store.post_alarms_raised()
        self._origins = await self._store.post_origins()
        now = self._clock.monotonic()
        troubles = self._pipeline.state.troubles
        for post in await self._store.posts():
            silent = (TroubleKind.POST_SILENT, post.id) in troubles
            self._posts[post.id] = _Heard(post.name, post.period_s, now, silent)
        for expected in self._expect:  # never heard from yet: watched all the same
            if expected not in self._posts:
                silent = (TroubleKind.POST_SILENT, expected) in troubles
                self._posts[expected] = _Heard("", self._expect_period_s, now, silent)
        self._tasks = [
            asyncio.create_task(self._apply_loop(), name="district-receiver"),
            asyncio.create_task(self._watch_loop(), name="district-watch"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def handle(self, message: MqttMessage) -> None:
        """From the MQTT receive path: never blocks."""
        if message.delivery is None and self._queue.qsize() >= QOS0_WAITING_MAX:
            self._metrics.rejected.labels("upstream_overflow").inc()
            return
        self._queue.put_nowait(message)

    # -- applying ---------------------------------------------------------------------------------

    async def _apply_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._apply(batch)
            except ChuongError as exc:  # the hub is stopping: the broker keeps them unacked
                log.warning("district: %s", exc)
            except Exception:
                log.exception("district: a batch of %d upstream messages failed", len(batch))

    async def _apply(self, batch: list[MqttMessage]) -> None:
        sorted_ = _Sorted()
        for message in batch:
            self._sort(message, sorted_)
        changes, beats, rejected = sorted_.changes, sorted_.beats, sorted_.rejected
        if changes or beats or rejected:
            keys = {(c.post.id, c.alarm.id) for c in changes}
            raised = {k: self._raised[k] for k in keys if k in self._raised}
            keys.update((c.post.id, district_id(c, raised)) for c in changes)
            last = {k: self._last[k] for k in keys if k in self._last}
            raised.update((k, self._raised[k]) for k in keys if k in self._raised)
            try:
                result: Applied = await self._pipeline.execute(
                    ApplyPostChanges(changes, list(beats.values()), rejected, last, raised)
                )
            finally:
                # The link's own acknowledgement decides what the posts send again; the broker's
                # copies are released either way, or a batch that fails would hold the
                # session's window and stop every post's changes behind it.
                for delivery in sorted_.deliveries:
                    self._mqtt.ack(delivery)
            self._answer(result, sorted_)
            return
        for delivery in sorted_.deliveries:
            self._mqtt.ack(delivery)

    def _sort(self, message: MqttMessage, into: _Sorted) -> None:
        """One message: a change, a heartbeat worth recording, or a rejection."""
        if message.delivery is not None:
            into.deliveries.append(message.delivery)
        parsed = self.topics.parse(message.topic)
        if parsed is None:
            into.rejected.append(self._reject(message, "unknown_topic", "not an upstream topic"))
            return
        post, kind = parsed
        if kind == "status":
            return  # shown by the broker; silence is decided by the heartbeats
        try:
            if kind == "change":
                change = ChangeMessage.model_validate_json(message.payload)
                self._check_sender(post, change.post.id)
                check_change(change)
                self._check_owner(change)
                into.changes.append(change)
                if (heard := self._posts.get(post)) is not None:
                    heard.at = self._clock.monotonic()  # a change is a sign of life too
                return
            beat = HeartbeatMessage.model_validate_json(message.payload)
            self._check_sender(post, beat.post.id)
            check_moment("at", beat.at)
        except (ValidationError, ValueError) as exc:
            into.rejected.append(self._reject(message, "bad_upstream", str(exc), post))
            return
        heard = self._posts.get(post)
        known = (
            heard is not None and heard.name == beat.post.name and heard.period_s == beat.period_s
        )
        self._posts[post] = _Heard(
            beat.post.name, beat.period_s, self._clock.monotonic(), heard.silent if heard else False
        )
        if not known or (heard is not None and heard.silent):
            into.beats[post] = Beat(post, beat.post.name, beat.period_s, known)

    def _answer(self, result: Applied, sorted_: _Sorted) -> None:
        """After the commit: the acks to the posts, the counts."""
        self._last.update(result.last)
        self._raised.update(result.raised)
        changes = self._metrics.district_changes
        changes.labels("applied").inc(result.applied)
        changes.labels("duplicate").inc(result.duplicates)
        changes.labels("early").inc(result.early)
        for item in sorted_.rejected:
            self._metrics.rejected.labels(item.reason).inc()
        for post, seqs in result.acks.items():
            self._mqtt.publish(
                self.topics.of(post, "ack"), json.dumps({"seqs": seqs}).encode(), qos=1
            )
        for post in sorted_.beats:
            if post in self._posts:
                self._posts[post].silent = False
        if result.early:
            log.info("district: %d changes came before an earlier one; waiting", result.early)

    def _check_owner(self, change: ChangeMessage) -> None:
        """A post speaks for its own alarms only, and a district for its posts': an alarm's id
        must be its post's (`<post>-<number>`), and a post's alarms must come from the post
        itself or from the one district that first sent them. Otherwise one post could overwrite
        or hide another's alarm (the topic ACL cannot stop it: the alarm is in the payload)."""
        sender = change.post.id
        origin = change.alarm.post.id if change.alarm.post is not None else sender
        if not change.alarm.id.startswith(f"{origin}-"):
            raise ValueError(f"alarm {change.alarm.id!r} is not post {origin!r}'s")
        if origin == sender:  # a post always speaks for its own alarms, whoever claimed them
            self._origins[origin] = sender
            return
        owner = self._origins.setdefault(origin, sender)
        if owner != sender:
            raise ValueError(f"post {origin!r}'s alarms come from {owner!r}, not {sender!r}")

    @staticmethod
    def _check_sender(topic_post: str, said: str) -> None:
        if topic_post != said:
            raise ValueError(f"the topic is post {topic_post!r}, the payload says {said!r}")

    @staticmethod
    def _reject(
        message: MqttMessage, reason: str, detail: str, post: str | None = None
    ) -> Rejected:
        return Rejected(message.topic, message.payload[:4096], reason, detail[:300], post)

    # -- silence ----------------------------------------------------------------------------------

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            now = self._clock.monotonic()
            for post, heard in list(self._posts.items()):
                limit = heard.period_s + self._grace
                if heard.silent or now - heard.at <= limit:
                    continue
                detail = (
                    f"no heartbeat from post {heard.name or post} for more than {limit:.0f} s "
                    f"(its period {heard.period_s:.0f} s + grace {self._grace:.0f} s)"
                    if heard.name
                    else f"nothing heard from expected post {post} in the {limit:.0f} s since "
                    "the district started"
                )
                try:
                    await self._pipeline.execute(RaisePostSilent(post, detail))
                except ChuongError as exc:
                    log.warning("district: cannot raise post silent: %s", exc)
                    continue
                except Exception:
                    log.exception("district: cannot raise post silent")
                    continue
                heard.silent = True
                log.warning("district: %s", detail)

    def silent_posts(self) -> list[str]:
        return sorted(post for post, heard in self._posts.items() if heard.silent)
