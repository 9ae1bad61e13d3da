"""Unit tests of the upstream plans (hub/upstream): what the post queues with each alarm change,
and what the district applies, repeats or waits for, before any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.clock import iso
from hub.config import Config
from hub.domain import alarms
from hub.domain.model import Alarm, AlarmChange, AlarmKind, AlarmState, Outcome, Site, TroubleKind
from hub.domain.state import HubState
from hub.domain.views import AlarmView
from hub.errors import InvalidTransition
from hub.escalation.engine import AcknowledgeByLink, EscalationHooks
from hub.escalation.policies import Policies
from hub.store.ops import (
    QueueUpstream,
    RecordPostChange,
    StartEscalation,
    StopEscalation,
    UpsertPost,
)
from hub.upstream.district import ApplyPostChanges, Beat, district_id
from hub.upstream.post import UpstreamHook, send_now
from hub.upstream.wire import ChangeMessage, PostId, UpTopics
from hub.writer.commands import AcknowledgeAlarm
from hub.writer.plan import Plan

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
BANK = Site("bank", "Ngân hàng", "1 QL1A", "0272 381 000")


def state() -> HubState:
    return HubState(next_alarm_seq=1, next_trouble_id=1)


def plan(st: HubState, now: datetime = NOW, **kw: object) -> Plan:
    return Plan(hub_id="district", state=st, now=now, earlier={}, **kw)  # type: ignore[arg-type]


def raise_at_post(seq: int, now: datetime = NOW) -> Alarm:
    return alarms.raise_alarm(
        hub_id="xa-a",
        seq=seq,
        button="bank-1",
        event_id="e1",
        site=BANK,
        registered=True,
        test=False,
        now=now,
    )


def post_alarm_views() -> list[tuple[AlarmChange, AlarmView]]:
    """An alarm's life at post `xa-a`: raised, pressed again, acknowledged, resolved."""
    raised = raise_at_post(7)
    pressed = alarms.add_press(raised, "bank-1", "e2", NOW + timedelta(seconds=1))
    acked = alarms.acknowledge(pressed, "user:an", NOW + timedelta(seconds=5))
    resolved = alarms.resolve(
        acked, "user:an", NOW + timedelta(seconds=9), Outcome.OTHER, "ok", may_skip_ack=False
    )
    return [
        (AlarmChange.RAISED, AlarmView.of(raised)),
        (AlarmChange.PRESS, AlarmView.of(pressed)),
        (AlarmChange.ACKNOWLEDGED, AlarmView.of(acked)),
        (AlarmChange.RESOLVED, AlarmView.of(resolved)),
    ]


def messages() -> list[ChangeMessage]:
    return [
        ChangeMessage(
            post=PostId(id="xa-a", name="Xã A"),
            seq=100 + n,
            change_seq=n,
            change=change,
            actor="user:an",
            at=NOW,
            alarm=view,
        )
        for n, (change, view) in enumerate(post_alarm_views(), start=1)
    ]


def apply(st: HubState, msgs: list[ChangeMessage], last: dict[tuple[str, str], int]) -> Plan:
    p = plan(st)
    result = ApplyPostChanges(msgs, [], [], last).plan(p)
    p.result = result  # type: ignore[attr-defined]
    st.absorb(p.draft)
    return p


def test_the_post_queues_every_alarm_change_with_its_actor() -> None:
    """The hook adds one `QueueUpstream` per change, carrying the alarm after it and who did it."""
    p = plan(state(), hooks=[UpstreamHook().on_alarm])
    raised = raise_at_post(1)
    p.save_alarm(raised, AlarmChange.RAISED, "button:bank-1")
    [op] = [op for op in p.changes.ops if isinstance(op, QueueUpstream)]
    assert op.alarm_id == raised.id
    assert op.change == "raised"
    assert op.body["actor"] == "button:bank-1"
    assert op.body["alarm"]["site"]["name"] == "Ngân hàng"


def test_the_district_applies_in_order_acks_duplicates_and_waits_for_a_missing_change() -> None:
    """Changes 1 and 3 arrive (2 lost): 1 is applied and acknowledged, 3 is neither. Then 2, 3
    and 1 again: 2 and 3 applied in order, 1 acknowledged again and not applied twice."""
    st = state()
    one, two, three, four = messages()
    first = apply(st, [one, three], {})
    result = first.result  # type: ignore[attr-defined]
    assert (result.applied, result.early, dict(result.acks)) == (1, 1, {"xa-a": [101]})
    alarm = st.alarms[one.alarm.id]
    assert alarm.post is not None
    assert alarm.post.id == "xa-a"
    assert alarm.post.name == "Xã A"
    assert alarm.site is not None
    assert alarm.site.name == "Ngân hàng"
    recorded = [op for op in first.changes.ops if isinstance(op, RecordPostChange)]
    assert [(r.post_id, r.change_seq) for r in recorded] == [("xa-a", 1)]

    second = apply(st, [two, three, one], {(one.post.id, one.alarm.id): 1})
    result = second.result  # type: ignore[attr-defined]
    assert (result.applied, result.duplicates) == (2, 1)
    assert sorted(result.acks["xa-a"]) == [101, 102, 103]
    assert st.alarms[one.alarm.id].state is AlarmState.ACKNOWLEDGED
    assert st.alarms[one.alarm.id].seq == alarm.seq  # the district's own number, kept

    apply(st, [four], {(one.post.id, one.alarm.id): 3})
    assert one.alarm.id not in st.alarms  # resolved: no longer open at the district


def test_the_district_does_not_acknowledge_a_posts_alarm() -> None:
    """The post's officer acknowledges; the district refuses, naming the post."""
    st = state()
    one = messages()[0]
    apply(st, [one], {})
    with pytest.raises(InvalidTransition, match="Xã A"):
        AcknowledgeAlarm(one.alarm.id, "user:boss").plan(plan(st))
    by_link = AcknowledgeByLink(Policies(Config().escalation, {}), one.alarm.id, "boss", None)
    with pytest.raises(InvalidTransition, match="Xã A"):  # nor from a phone link
        by_link.plan(plan(st))

    fire = one.model_copy(update={"alarm": one.alarm.model_copy(update={"kind": AlarmKind.FIRE})})
    other = state()
    apply(other, [fire], {})
    assert other.alarms[one.alarm.id].kind is AlarmKind.FIRE  # the alarm's kind travels with it


def test_a_heartbeat_records_a_new_post_and_ends_its_silence() -> None:
    st = state()
    p = plan(st)
    p.raise_trouble(TroubleKind.POST_SILENT, "xa-a", detail="no heartbeat")
    st.absorb(p.draft)
    p = plan(st)
    ApplyPostChanges([], [Beat("xa-a", "Xã A", 30.0, known=False)], [], {}).plan(p)
    assert [type(op) for op in p.changes.ops] == [UpsertPost]
    assert [t.state.value for t in p.changes.troubles.values()] == ["cleared"]


def test_upstream_topics() -> None:
    topics = UpTopics("chuong/v1")
    assert topics.parse("chuong/v1/up/xa-a/change") == ("xa-a", "change")
    assert topics.parse("chuong/v1/up/xa-a/heartbeat") == ("xa-a", "heartbeat")
    assert topics.parse("chuong/v1/up/XA/change") is None
    assert topics.parse("chuong/v1/up/xa-a/ack") is None  # the district's own answer
    assert topics.parse("chuong/v1/dev/b1/event") is None


def test_the_districts_own_escalation_starts_with_the_posts_raise_and_stops_at_its_ack() -> None:
    """A district policy "unacknowledged at the post for 3 minutes rings at the district": the
    post's alarm arriving starts it (from the raise at the post); the post's acknowledgement
    arriving stops it and cancels what was not sent."""
    config = Config(
        notifiers={"duty": {"type": "webhook", "url": "http://127.0.0.1:9/duty"}},
        escalation={"steps": [{"after_s": 180, "notify": ["duty"]}]},
    )
    hooks = EscalationHooks(Policies(config.escalation, config.notifiers))
    st = state()
    one, two, three, _ = messages()
    p = plan(st, hooks=[hooks.on_alarm])
    ApplyPostChanges([one, two], [], [], {}).plan(p)
    [start] = [op for op in p.changes.ops if isinstance(op, StartEscalation)]
    assert start.started_at == one.alarm.raised_at
    assert start.next_due_at == one.alarm.raised_at + timedelta(seconds=180)
    st.absorb(p.draft)
    p = plan(st, hooks=[hooks.on_alarm])
    ApplyPostChanges([three], [], [], {("xa-a", one.alarm.id): 2}).plan(p)
    assert [type(op) for op in p.changes.ops if isinstance(op, StopEscalation)] == [StopEscalation]


def test_a_copy_goes_again_only_after_its_wait_and_once_the_broker_took_the_last() -> None:
    """A new row goes at once; again after `resend_s` only if nothing waits in the client; each
    wait doubles up to 16 times `resend_s` (a slow district is not buried under copies)."""
    assert send_now(None, 0.0, 10.0, may_resend=False) == (0.0, 10.0)
    assert send_now((0.0, 10.0), 9.9, 10.0, may_resend=True) is None
    assert send_now((0.0, 10.0), 10.0, 10.0, may_resend=False) is None
    sent: tuple[float, float] | None = (0.0, 10.0)
    waits = []
    now = 0.0
    for _ in range(8):
        assert sent is not None
        now = sent[0] + sent[1]
        sent = send_now(sent, now, 10.0, may_resend=True)
        assert sent is not None
        waits.append(sent[1])
    assert waits == [20.0, 40.0, 80.0, 160.0, 160.0, 160.0, 160.0, 160.0]


def test_a_post_whose_store_was_replaced_numbers_from_1_again_and_is_not_taken_for_a_copy() -> None:
    """A post re-installed with an empty store raises `xa-a-7` again, days later. The district
    has the old `xa-a-7` (changes 1 to 4): the new one is kept beside it, under an id of its own,
    and its changes are applied in order, not acknowledged as copies and dropped; a true copy of
    an old change is still a copy."""
    st = state()
    old = messages()
    apply(st, old, {})
    old_id = old[0].alarm.id
    raised = {("xa-a", old_id): iso(old[0].alarm.raised_at)}
    last = {("xa-a", old_id): 4}

    later = NOW + timedelta(days=3)
    again = raise_at_post(7, now=later)
    assert again.id == old_id
    new = ChangeMessage(
        post=PostId(id="xa-a", name="Xã A"),
        seq=1,
        change_seq=1,
        change=AlarmChange.RAISED,
        actor="button:bank-1",
        at=later,
        alarm=AlarmView.of(again),
    )
    p = plan(st, now=later)
    result = ApplyPostChanges([new, old[1]], [], [], last, raised).plan(p)
    st.absorb(p.draft)
    assert (result.applied, result.duplicates) == (1, 1)
    kept = f"{old_id}~{int(later.timestamp())}"
    assert kept in st.alarms
    assert st.alarms[kept].raised_at == later
    assert st.alarms[kept].state is AlarmState.ACTIVE
    assert result.last == {("xa-a", kept): 1}
    [record] = [op for op in p.changes.ops if isinstance(op, RecordPostChange)]
    assert (record.alarm_id, record.change_seq) == (kept, 1)
    assert district_id(new, raised | result.raised) == kept
    assert district_id(old[2], raised | result.raised) == old_id
