"""Unit tests of hub/escalation/policy.py: what is due now, with fixed times and no sleeping."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hub.clock import iso, parse_iso
from hub.domain import alarms
from hub.domain.model import (
    Alarm,
    AlarmDevice,
    AlarmKind,
    Outcome,
    Site,
    SiteRef,
    Trouble,
    TroubleState,
)
from hub.escalation.policy import (
    DEFAULT_POLICY,
    MUTED_RECHECK,
    Firing,
    Policy,
    Rule,
    Step,
    choose,
    decide,
    decide_for_alarm,
    decide_for_trouble,
    link_acknowledges,
    next_due,
    still_waiting,
)

RAISED = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
POLICY = Policy(
    DEFAULT_POLICY,
    (
        Step(1, 0, ("post-siren",)),
        Step(2, 30, ("duty-phone",), repeat_s=60),
        Step(3, 300, ("commander",)),
    ),
)


def at(seconds: float) -> datetime:
    return RAISED + timedelta(seconds=seconds)


def alarm(**changes: object) -> Alarm:
    raised = alarms.raise_alarm(
        hub_id="post",
        seq=1,
        button="bank-1",
        event_id="e1",
        site=Site("bank", "Ngân hàng"),
        registered=True,
        test=False,
        now=RAISED,
    )
    return replace(raised, **changes)  # type: ignore[arg-type]


def test_first_step_fires_at_the_raise_and_the_next_deadline_is_the_second() -> None:
    """At the raise, step 1 (after_s 0) is due; the next deadline is step 2's, 30 s later."""
    decision = decide(POLICY, RAISED, {}, at(0))
    assert decision.firings == (Firing(1, 0, ("post-siren",)),)
    assert decision.progress == {1: 1}
    assert decision.next_due == at(30)
    assert decision.level == 1


def test_nothing_is_due_before_its_time() -> None:
    """At 29.9 s only step 1 has fired; nothing more is due."""
    decision = decide(POLICY, RAISED, {1: 1}, at(29.9))
    assert decision.firings == ()
    assert decision.progress == {1: 1}
    assert decision.next_due == at(30)
    assert decision.level == 0


def test_step_repeats_every_repeat_s_and_keeps_its_rhythm_from_the_raise() -> None:
    """Step 2 fires at 30 s, then at 90, 150, … (rounds 1, 2, …), whatever the moment it ran."""
    first = decide(POLICY, RAISED, {1: 1}, at(30.4))
    assert first.firings == (Firing(2, 0, ("duty-phone",)),)
    assert first.next_due == at(90)
    second = decide(POLICY, RAISED, first.progress, at(91))
    assert second.firings == (Firing(2, 1, ("duty-phone",)),)
    assert second.progress == {1: 1, 2: 2}
    assert second.next_due == at(150)


def test_after_a_long_stop_overdue_steps_fire_at_once_and_only_once() -> None:
    """The hub was down from 10 s to 400 s: at 400 s steps 2 and 3 fire together, step 2 once
    (as its latest round, 6), not seven times; its next round keeps the rhythm (at 450 s)."""
    decision = decide(POLICY, RAISED, {1: 1}, at(400))
    assert decision.firings == (
        Firing(2, 6, ("duty-phone",)),
        Firing(3, 0, ("commander",)),
    )
    assert decision.progress == {1: 1, 2: 7, 3: 1}
    assert decision.level == 3
    assert decision.next_due == at(450)


def test_a_deadline_read_back_from_the_store_is_due() -> None:
    """Deadlines are stored to the millisecond (truncated): at the stored time the step is due,
    so the scheduler never wakes to find nothing to do."""
    policy = Policy("p", (Step(1, 0.3337, ("a",), repeat_s=0.3337),))
    decision = decide(policy, RAISED, {1: 1}, at(0.1))
    assert decision.next_due is not None
    stored = parse_iso(iso(decision.next_due))
    assert stored < decision.next_due
    assert decide(policy, RAISED, {1: 1}, stored).firings == (Firing(1, 1, ("a",)),)


def test_a_policy_without_repeats_finishes() -> None:
    """Once every step without repeat has fired, there is no next deadline."""
    policy = Policy("p", (Step(1, 0, ("a",)), Step(2, 10, ("b",))))
    decision = decide(policy, RAISED, {1: 1}, at(10))
    assert decision.firings == (Firing(2, 0, ("b",)),)
    assert decision.next_due is None
    assert next_due(policy, RAISED, {}) == at(0)


def test_acknowledged_or_resolved_alarm_fires_nothing_more() -> None:
    """Steps fire only while the alarm is active."""
    acknowledged = alarms.acknowledge(alarm(), "token:duty", at(5))
    decision = decide_for_alarm(POLICY, acknowledged, {1: 1}, at(400))
    assert decision.firings == ()
    assert decision.next_due is None
    resolved = alarms.resolve(
        acknowledged, "token:duty", at(6), Outcome.FALSE_ALARM, "x", may_skip_ack=False
    )
    assert decide_for_alarm(POLICY, resolved, {1: 1}, at(400)).firings == ()
    active = decide_for_alarm(POLICY, alarm(), {1: 1}, at(31))
    assert active.firings == (Firing(2, 0, ("duty-phone",)),)


def test_only_keeps_the_step_numbers_and_drops_empty_steps() -> None:
    """Reducing a policy to some notifiers (test alarms) drops steps left with none; the others
    keep their numbers, so the level stays the configured step's."""
    reduced = POLICY.only({"commander"})
    assert reduced.steps == (Step(3, 300, ("commander",)),)
    assert decide(reduced, RAISED, {}, at(300)).level == 3
    assert POLICY.only(set()).steps == ()


def trouble(state: TroubleState = TroubleState.OPEN) -> Trouble:
    return Trouble(1, "tamper", "bank-1", "bank", state, RAISED, None, "")


def test_trouble_waits_while_its_site_has_an_open_alarm() -> None:
    """A due trouble step of a site with an open alarm does not fire; it is looked at again
    after MUTED_RECHECK, and fires once the site has no open alarm."""
    policy = Policy("troubles", (Step(1, 120, ("duty-phone",)),))
    held = decide_for_trouble(policy, trouble(), {}, at(130), site_alarming=True)
    assert held.firings == ()
    assert held.progress == {}
    assert held.next_due == at(130) + MUTED_RECHECK
    fired = decide_for_trouble(policy, trouble(), {}, at(160), site_alarming=False)
    assert fired.firings == (Firing(1, 0, ("duty-phone",)),)
    early = decide_for_trouble(policy, trouble(), {}, at(60), site_alarming=True)
    assert early.next_due == at(120)


def test_cleared_trouble_fires_nothing() -> None:
    policy = Policy("troubles", (Step(1, 0, ("duty-phone",)),))
    decision = decide_for_trouble(
        policy, trouble(TroubleState.CLEARED), {}, at(10), site_alarming=False
    )
    assert decision.firings == ()
    assert decision.next_due is None


def alarm_at(site_id: str | None, *buttons: str, unregistered: bool = False) -> Alarm:
    return alarm(
        site=None if site_id is None else SiteRef(site_id, site_id, "", ""),
        devices=tuple(AlarmDevice(button, "e1") for button in buttons or ("bank-1",)),
        unregistered=unregistered,
    )


def test_rules_choose_a_policy_by_site_button_or_unregistered() -> None:
    """The first rule that matches wins (site and button ids as shell patterns); without a
    match, the default policy."""
    rules = [
        Rule("market", sites=("market-*",)),
        Rule("vault", buttons=("vault-?",)),
        Rule("stranger", unregistered=True),
    ]
    assert choose(rules, alarm_at("market-phuoc")) == "market"
    assert choose(rules, alarm_at("bank", "bank-1", "vault-1")) == "vault"
    assert choose(rules, alarm_at(None, "x9", unregistered=True)) == "stranger"
    assert choose(rules, alarm_at("bank")) == DEFAULT_POLICY
    assert not Rule("x", sites=("bank",)).matches(alarm_at(None))
    assert not Rule("x", sites=("bank",), unregistered=False).matches(
        alarm_at("bank", unregistered=True)
    )


def test_a_kind_follows_its_policy_after_the_rules_and_before_the_default() -> None:
    """Rules come first (one may name kinds); then the kind's policy; else the default."""
    rules = [Rule("market-fire", sites=("market-*",), kinds=(AlarmKind.FIRE,))]
    kinds = {AlarmKind.FIRE: "fire", AlarmKind.MEDICAL: "medical"}
    fire = replace(alarm_at("bank"), kind=AlarmKind.FIRE)
    assert choose(rules, fire, kinds) == "fire"
    assert choose(rules, replace(alarm_at("market-1"), kind=AlarmKind.FIRE), kinds) == "market-fire"
    assert choose(rules, alarm_at("market-1"), kinds) == DEFAULT_POLICY
    assert choose(rules, replace(fire, kind=AlarmKind.MEDICAL), kinds) == "medical"
    assert choose(rules, replace(fire, kind=AlarmKind.ASSISTANCE), kinds) == DEFAULT_POLICY
    assert choose(rules, fire) == DEFAULT_POLICY


def test_each_person_of_an_each_step_acknowledges() -> None:
    """Step 1 (any) calls the duty officer; step 2 (each) the commander and the deputy. At level
    2 the commander alone does not acknowledge the alarm, the deputy after him does; the duty
    officer of the `any` step does alone; a person no fired step names does (as before)."""
    policy = Policy(
        DEFAULT_POLICY,
        (
            Step(1, 0, ("duty-phone",), people=("duty",)),
            Step(2, 30, ("boss", "deputy", "siren"), each=True, people=("boss", "deputy")),
        ),
    )
    assert not link_acknowledges(policy, 2, [], "boss")
    assert still_waiting(policy, 2, ["boss"]) == ("deputy",)
    assert link_acknowledges(policy, 2, ["boss"], "deputy")
    assert link_acknowledges(policy, 2, [], "duty")
    assert link_acknowledges(policy, 2, [], "someone-else")
    assert link_acknowledges(policy, 1, [], "boss"), "step 2 has not fired: as before"
    assert link_acknowledges(None, 0, [], "boss")
    assert still_waiting(policy, 1, []) == ()
