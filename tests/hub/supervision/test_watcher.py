"""Unit tests of hub/supervision/watcher.py: the Supervise command, the review loop and the
clock check, against an in-memory state and plans (no broker, no store, no sleeping)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.messages import EventType, PressEvent
from hub.config import SupervisionSection
from hub.domain.bus import Bus, DeviceChanged
from hub.domain.inbound import PressIn
from hub.domain.model import Button, DeviceState, Site
from hub.domain.state import HubState, Registry
from hub.supervision.decide import CLOCK_SKEW, LOW_BATTERY, OFFLINE, Raise
from hub.supervision.watcher import (
    REVIEW_SLICE,
    SUPERVISE_CHUNK,
    Reviewer,
    Supervise,
    Supervisor,
    _log,
)
from hub.writer.plan import Command, Plan

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
CONFIG = SupervisionSection(offline_after_s=90, flap_grace_s=15, tick_s=1)
BANK = Site("bank", "Ngân hàng")


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def new_state(*devices: DeviceState) -> HubState:
    registry = Registry(
        sites={"bank": BANK},
        buttons={"b1": Button("b1", "bank"), "b2": Button("b2", "bank")},
    )
    return HubState(next_alarm_seq=1, next_trouble_id=1, registry=registry, devices=devices)


def heard(button: str, at: datetime, **fields: Any) -> DeviceState:
    return DeviceState(button_id=button, first_seen=at, last_seen=at, **fields)


def execute(state: HubState, command: Command, now: datetime) -> tuple[Plan, Any]:
    plan = Plan(hub_id="post", state=state, now=now, earlier={})
    result = command.plan(plan)
    state.absorb(plan.draft)
    return plan, result


class FakePipeline:
    """Plans each command against the state and folds it in, as the writer does after a commit."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self.commands: list[Command] = []

    async def execute(self, command: Command) -> Any:
        self.commands.append(command)
        return execute(self.state, command, T0)[1]

    async def quiet(self, limit_s: float) -> None:
        """An idle writer: let the loop run once."""
        await asyncio.sleep(0)


class BusyPipeline(FakePipeline):
    """A writer that is busy until `idle` is set: `quiet` waits for it (its limit is ignored,
    so that the test does not depend on time)."""

    def __init__(self, state: HubState) -> None:
        super().__init__(state)
        self.idle = asyncio.Event()
        self.waits = 0

    async def quiet(self, limit_s: float) -> None:
        self.waits += 1
        await self.idle.wait()


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return 0.0


def test_supervise_takes_a_silent_button_offline_with_its_site_and_audit() -> None:
    """b1 silent for 100 s: `online` false, an `offline` trouble carrying site `bank`, a
    `button.offline` audit entry by `hub`, a device event for the page."""
    state = new_state(heard("b1", T0, online=True), heard("b2", T0 + s(99), online=True))
    command = Supervise(Reviewer.of(CONFIG), ("b1", "b2"), T0 - s(600), T0 + s(100))
    plan, applied = execute(state, command, T0 + s(130))
    assert [button for button, _ in applied] == ["b1", "b1"]
    trouble = state.troubles[(OFFLINE, "b1")]
    assert (trouble.site_id, trouble.raised_at) == ("bank", T0 + s(100))
    assert "silent for 100 s" in trouble.detail
    assert state.devices["b1"].online is False
    assert state.devices["b1"].online_since == T0 + s(100)
    assert state.devices["b1"].last_seen == T0  # being declared offline is not being heard
    actions = [(row[1], row[2], row[4]) for row in plan.changes.audit]
    assert ("hub", "button.offline", "b1") in actions
    assert ("hub", "trouble.raised", "b1") in actions
    assert any(isinstance(e, DeviceChanged) and e.device.online is False for e in plan.events)


def test_supervise_decides_again_on_the_committed_state() -> None:
    """A heartbeat that reached the state before the command ran keeps the button online."""
    state = new_state(heard("b1", T0 + s(95), online=True))
    command = Supervise(Reviewer.of(CONFIG), ("b1",), T0 - s(600), T0 + s(100))
    _, applied = execute(state, command, T0 + s(100))
    assert applied == []
    assert (OFFLINE, "b1") not in state.troubles


def test_removing_a_button_clears_its_troubles() -> None:
    state = new_state(heard("b1", T0, online=False, online_since=T0, battery=5))
    execute(state, Supervise(Reviewer.of(CONFIG), ("b1",), T0, T0 + s(100)), T0 + s(100))
    assert {(OFFLINE, "b1"), (LOW_BATTERY, "b1")} <= set(state.troubles)
    del state.registry.buttons["b1"]
    execute(state, Supervise(Reviewer.of(CONFIG), ("b1",), T0, T0 + s(101)), T0 + s(101))
    assert (OFFLINE, "b1") not in state.troubles
    assert (LOW_BATTERY, "b1") not in state.troubles


async def test_the_review_runs_only_while_the_hub_listens_and_commits_only_changes() -> None:
    """No broker connection: nothing is reviewed. Connected: one command for the buttons that
    need it, none when nothing changed."""
    state = new_state(heard("b1", T0, online=True), heard("b2", T0, online=True))
    pipeline, bus, clock = FakePipeline(state), Bus(), FakeClock(T0)
    supervisor = Supervisor(config=CONFIG, pipeline=pipeline, bus=bus, clock=clock)  # type: ignore[arg-type]
    await supervisor.start()
    try:
        clock.current = T0 + s(500)
        await supervisor.tick()
        assert (supervisor.ticks, pipeline.commands) == (0, [])
        clock.current = T0 + s(10)
        supervisor.listening_since = clock.current  # the hub connected (hub/broker/watch.py)
        clock.current = T0 + s(60)
        await supervisor.tick()
        assert (supervisor.ticks, pipeline.commands) == (1, [])
        clock.current = T0 + s(101)  # silence counts from the connection: 91 s
        await supervisor.tick()
        assert len(pipeline.commands) == 1
        assert isinstance(pipeline.commands[0], Supervise)
        assert pipeline.commands[0].buttons == ("b1", "b2")
        await supervisor.tick()
        assert len(pipeline.commands) == 1
        supervisor.listening_since = None  # cut off: no review, whatever the silence
        clock.current = T0 + s(1000)
        await supervisor.tick()
        assert len(pipeline.commands) == 1
    finally:
        await supervisor.stop()


async def test_the_review_loop_keeps_running_after_a_failure() -> None:
    class Failing(FakePipeline):
        async def execute(self, command: Command) -> Any:
            raise RuntimeError("boom")

    state = new_state(heard("b1", T0, online=True))
    clock = FakeClock(T0 + s(1000))
    config = SupervisionSection(tick_s=0.01)
    supervisor = Supervisor(config=config, pipeline=Failing(state), bus=Bus(), clock=clock)  # type: ignore[arg-type]
    supervisor.listening_since = T0
    await supervisor.start()
    try:
        await asyncio.sleep(0.1)
        assert supervisor._task is not None
        assert not supervisor._task.done()
    finally:
        await supervisor.stop()


def press_at(button: str, received: datetime, device_time: datetime | None) -> PressIn:
    event = PressEvent(id=f"e{received.timestamp()}", type=EventType.PRESS, ts=device_time)
    return PressIn(button, event, received, None)


def clock_plan(supervisor: Supervisor, state: HubState, item: PressIn) -> Plan:
    plan = Plan(hub_id="post", state=state, now=item.received_at, earlier={})
    supervisor.check_clock(plan, item)
    state.absorb(plan.draft)
    return plan


def test_a_press_stamped_outside_the_window_opens_clock_skew_and_one_inside_clears_it() -> None:
    state = new_state()
    supervisor = Supervisor(
        config=CONFIG, pipeline=FakePipeline(state), bus=Bus(), clock=FakeClock(T0)
    )  # type: ignore[arg-type]
    supervisor.listening_since = T0 - s(3600)
    clock_plan(supervisor, state, press_at("b1", T0, T0 + s(25)))
    trouble = state.troubles[(CLOCK_SKEW, "b1")]
    assert trouble.site_id == "bank"
    assert "25 s ahead of" in trouble.detail
    clock_plan(supervisor, state, press_at("b1", T0 + s(60), T0 + s(61)))
    assert (CLOCK_SKEW, "b1") not in state.troubles
    clock_plan(supervisor, state, press_at("b1", T0 + s(120), T0 + s(60)))
    assert "60 s behind" in state.troubles[(CLOCK_SKEW, "b1")].detail


def test_a_late_press_just_after_reconnecting_is_not_a_skewed_clock() -> None:
    """Presses queued in the broker while the hub was away arrive late: not judged as behind
    until the hub has listened for `clock_behind_s`; ahead is judged at once."""
    state = new_state()
    supervisor = Supervisor(
        config=CONFIG, pipeline=FakePipeline(state), bus=Bus(), clock=FakeClock(T0)
    )  # type: ignore[arg-type]
    supervisor.listening_since = T0
    clock_plan(supervisor, state, press_at("b1", T0 + s(1), T0 - s(300)))
    assert (CLOCK_SKEW, "b1") not in state.troubles
    clock_plan(supervisor, state, press_at("b2", T0 + s(1), T0 + s(300)))
    assert (CLOCK_SKEW, "b2") in state.troubles


def test_unregistered_buttons_and_presses_without_time_are_not_judged() -> None:
    state = new_state()
    supervisor = Supervisor(
        config=CONFIG, pipeline=FakePipeline(state), bus=Bus(), clock=FakeClock(T0)
    )  # type: ignore[arg-type]
    supervisor.listening_since = T0 - s(3600)
    clock_plan(supervisor, state, press_at("stranger", T0, T0 + s(300)))
    clock_plan(supervisor, state, press_at("b1", T0, None))
    assert state.troubles == {}


def test_raise_actions_are_logged_with_the_button(caplog: Any) -> None:
    """The log line names the button and the trouble."""
    caplog.set_level("INFO")
    _log("b1", Raise(OFFLINE, "silent for 100 s"))
    assert "b1: offline trouble: silent for 100 s" in caplog.text


def online_fleet(count: int) -> HubState:
    """`count` buttons of one site, all heard at T0 and online."""
    buttons = {f"b{n:05d}": Button(f"b{n:05d}", "bank") for n in range(count)}
    return HubState(
        next_alarm_seq=1,
        next_trouble_id=1,
        registry=Registry(sites={"bank": BANK}, buttons=buttons),
        devices=[heard(b, T0, online=True) for b in buttons],
    )


async def test_a_big_review_lets_the_loop_run_between_slices_and_finds_every_button() -> None:
    """A province's buttons are reviewed in slices of `REVIEW_SLICE`: the loop runs (reads and
    acknowledges presses) between two, and the review still finds every button that is due."""
    count = 3 * REVIEW_SLICE + 7
    state = online_fleet(count)
    buttons = state.registry.buttons
    pipeline, clock = FakePipeline(state), FakeClock(T0 + s(500))
    supervisor = Supervisor(config=CONFIG, pipeline=pipeline, bus=Bus(), clock=clock)  # type: ignore[arg-type]
    supervisor.listening_since = T0
    seen_during: list[bool] = []
    review = asyncio.create_task(supervisor.tick())
    asyncio.get_running_loop().call_soon(lambda: seen_during.append(review.done()))
    await review
    assert seen_during == [False]  # the loop ran while the review was under way
    assert supervisor.slices == 3
    [command] = pipeline.commands
    assert isinstance(command, Supervise)
    assert command.buttons == tuple(sorted(buttons))


async def test_buttons_heard_again_are_set_online_in_chunks_losses_in_one_command() -> None:
    """A fleet heard from again (after a power cut) is set online in commands of at most
    `SUPERVISE_CHUNK`, one after the other (presses arriving meanwhile go ahead of the next);
    the buttons going offline are decided together in one command, the first, so that a mass
    loss is judged on all of them at once."""
    heard_again = [f"a{n:04d}" for n in range(2 * SUPERVISE_CHUNK + 5)]
    silent = [f"z{n:04d}" for n in range(SUPERVISE_CHUNK + 3)]
    buttons = {b: Button(b, "bank") for b in heard_again + silent}
    now = T0 + s(500)
    state = HubState(
        next_alarm_seq=1,
        next_trouble_id=1,
        registry=Registry(sites={"bank": BANK}, buttons=buttons),
        devices=[heard(b, now - s(1)) for b in heard_again]
        + [heard(b, T0, online=True) for b in silent],
    )
    pipeline, clock = FakePipeline(state), FakeClock(now)
    supervisor = Supervisor(config=CONFIG, pipeline=pipeline, bus=Bus(), clock=clock)  # type: ignore[arg-type]
    supervisor.listening_since = T0
    await supervisor.tick()
    commands = [c for c in pipeline.commands if isinstance(c, Supervise)]
    assert [len(c.buttons) for c in commands] == [len(silent), SUPERVISE_CHUNK, SUPERVISE_CHUNK, 5]
    assert commands[0].buttons == tuple(silent)
    assert sum((c.buttons for c in commands[1:]), ()) == tuple(heard_again)
    assert all(state.devices[b].online for b in heard_again)
    assert all((OFFLINE, b) in state.troubles for b in silent)


async def test_the_review_waits_for_the_writer_to_be_idle_between_slices() -> None:
    """While the writer has presses to commit, the review does not go on past the slice under
    way (the loop serves the presses); once the writer is idle, it finishes and finds every
    button."""
    count = 3 * REVIEW_SLICE
    state = online_fleet(count)
    buttons = state.registry.buttons
    pipeline, clock = BusyPipeline(state), FakeClock(T0 + s(500))
    supervisor = Supervisor(config=CONFIG, pipeline=pipeline, bus=Bus(), clock=clock)  # type: ignore[arg-type]
    supervisor.listening_since = T0
    review = asyncio.create_task(supervisor.tick())
    for _ in range(20):
        await asyncio.sleep(0)
    assert (pipeline.waits, supervisor.slices, pipeline.commands) == (1, 0, [])
    pipeline.idle.set()
    await review
    assert supervisor.slices == 2
    [command] = pipeline.commands
    assert isinstance(command, Supervise)
    assert command.buttons == tuple(sorted(buttons))
