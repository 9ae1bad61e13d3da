"""The store's typed operations and reads (hub/store/ops.py): each operation a feature puts in a
batch does what it says once committed, and each read returns its record (real SQLite)."""

from __future__ import annotations

import contextlib
import sqlite3
import typing
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.messages import EventType, PressEvent
from hub.clock import iso
from hub.domain.inbound import PressIn
from hub.domain.model import Button, Role, Site
from hub.store import Changes, Store, admin
from hub.store.changes import statement_of
from hub.store.db import open_sync
from hub.store.ops import (
    AbandonNotifier,
    CancelAlarmNotifications,
    CancelNotifierForAlarm,
    CancelTroubleNotifications,
    DeleteButton,
    DeleteExpiredSessions,
    DeleteSession,
    DeleteSite,
    DeleteUser,
    EndUserSessions,
    FinishNotification,
    InsertButton,
    InsertSession,
    InsertSite,
    InsertToken,
    InsertUser,
    MarkUpstreamAcked,
    Op,
    PressRow,
    QueueNotification,
    QueueUpstream,
    RecheckSiteTroubles,
    RecordNotificationAttempt,
    RecordPostChange,
    RehashPassword,
    RetryNotification,
    RevokeToken,
    SetUserField,
    StartEscalation,
    StopEscalation,
    UntestedButton,
    UpdateButton,
    UpdateEscalation,
    UpdateSite,
    UpdateTestMode,
    UpsertPost,
)
from hub.writer.plan import Plan

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "hub.db")
    await store.open()
    yield store
    await store.close()


async def commit(store: Store, *ops: Op) -> None:
    changes = Changes()
    changes.ops.extend(ops)
    await store.commit(changes)


def rows(store: Store, sql: str, *params: object) -> list[sqlite3.Row]:
    with contextlib.closing(open_sync(store.path)) as conn:
        return conn.execute(sql, params).fetchall()


def test_every_operation_has_a_statement() -> None:
    """A new operation added to `Op` without its statement fails here, not at its first batch."""
    samples: dict[type, Op] = {
        type(op): op
        for op in (
            StartEscalation("alarm:a", "default", NOW, LATER, NOW, alarm_id="a"),
            UpdateEscalation("alarm:a", {1: 1}, None, "finished", NOW),
            RecheckSiteTroubles("bank", NOW),
            StopEscalation("alarm:a", NOW),
            QueueNotification("k", "siren", "alarm", {}, NOW),
            CancelAlarmNotifications("a", NOW),
            CancelNotifierForAlarm("a", "sms", NOW),
            CancelTroubleNotifications(1, NOW),
            RecordNotificationAttempt(1, 1),
            RetryNotification(1, "busy", LATER),
            FinishNotification(1, "delivered", None, 1, NOW),
            AbandonNotifier("siren", "gone", NOW),
            InsertSite(Site("bank", "Bank"), NOW),
            DeleteSite("bank"),
            InsertButton(Button("b1", "bank"), NOW),
            DeleteButton("b1"),
            UpdateTestMode("site", "bank", True, NOW),
            DeleteExpiredSessions(NOW),
            InsertSession("h", 1, NOW, LATER, "127.0.0.1"),
            RehashPassword(1, "hash", NOW),
            DeleteSession("h"),
            UpdateSite(Site("bank", "Bank"), NOW),
            UpdateButton(Button("b1", "bank"), NOW),
            InsertUser("an", Role.OFFICER, "hash", "Nguyễn Văn An", NOW),
            SetUserField("an", "role", "viewer", NOW),
            EndUserSessions("an"),
            DeleteUser("an"),
            InsertToken("district", Role.VIEWER, "hash", "user:an", NOW),
            RevokeToken("district", NOW),
            QueueUpstream("post-1", "raised", {"alarm": {}}, NOW),
            MarkUpstreamAcked((1, 2), NOW),
            RecordPostChange("p1", "p1-1", 1, "raised", "button:b1", NOW, NOW, {}),
            UpsertPost("p1", "Xã Phước Hòa", 30.0, NOW),
        )
    }
    assert set(samples) == set(typing.get_args(Op))
    for op in samples.values():
        sql, params = statement_of(op)
        assert sql.count("?") == len(params), op


def test_an_unknown_operation_is_refused() -> None:
    with pytest.raises(TypeError, match="no statement"):
        statement_of("DROP TABLE presses")  # type: ignore[arg-type]


async def test_a_press_row_lands_in_the_columns_of_its_field_names(store: Store) -> None:
    """The press row is mapped by name: each field reaches the column that bears its name."""
    row = PressRow(
        button_id="b1",
        event_id="e1",
        type="press",
        alarm_id=None,
        received_at=iso(NOW),
        device_ts=iso(NOW - timedelta(seconds=1)),
        seq=7,
        battery=81,
        test=1,
        anomalies='["seq"]',
    )
    changes = Changes()
    changes.presses.append(row)
    await store.commit(changes)
    [stored] = rows(store, f"SELECT {', '.join(PressRow._fields)} FROM presses")
    assert {name: stored[name] for name in PressRow._fields} == row._asdict()


# -- escalations ---------------------------------------------------------------------------------


async def test_escalations_start_once_fall_due_update_and_stop(store: Store) -> None:
    await commit(store, StartEscalation("alarm:a", "default", NOW, NOW, NOW, alarm_id="a"))
    # Started again (a replay, an adoption): the first row is kept as it is.
    await commit(store, StartEscalation("alarm:a", "other", LATER, LATER, LATER, alarm_id="a"))
    [due] = await store.due_escalations(10)
    assert (due.subject, due.alarm_id, due.policy, due.progress) == ("alarm:a", "a", "default", {})
    assert (due.started_at, due.next_due_at) == (NOW, NOW)

    await commit(store, UpdateEscalation("alarm:a", {1: 2, 2: 1}, LATER, "running", NOW))
    [due] = await store.due_escalations(10)
    assert (due.progress, due.next_due_at) == ({1: 2, 2: 1}, LATER)

    await commit(store, StopEscalation("alarm:a", LATER))
    assert await store.due_escalations(10) == []
    [row] = rows(store, "SELECT state, updated_at FROM escalations")
    assert tuple(row) == ("stopped", iso(LATER))


async def test_due_escalations_come_earliest_first_with_their_trouble(store: Store) -> None:
    plan = Plan(hub_id="post", state=await store.load_state(), now=NOW, earlier={})
    trouble = plan.raise_trouble("offline", "b1", detail="quiet", site_id="bank")
    assert trouble is not None
    await store.commit(plan.changes)
    await commit(
        store,
        StartEscalation("alarm:late", "default", NOW, LATER, NOW, alarm_id="late"),
        StartEscalation(
            f"trouble:{trouble.id}",
            "troubles",
            NOW,
            NOW,
            NOW,
            trouble_id=trouble.id,
            site_id="bank",
        ),
        StartEscalation("alarm:done", "default", NOW, None, NOW, alarm_id="done"),
    )
    first, second = await store.due_escalations(10)
    assert (first.trouble_id, first.trouble_kind, first.trouble_subject) == (
        trouble.id,
        "offline",
        "b1",
    )
    assert second.subject == "alarm:late"
    assert [d.subject for d in await store.due_escalations(1)] == [first.subject]


async def test_a_resolved_alarm_brings_its_sites_trouble_escalations_forward(store: Store) -> None:
    """Running trouble escalations of the site fall due now; others, and alarms', do not move."""
    far = NOW + timedelta(hours=1)
    await commit(
        store,
        StartEscalation("trouble:1", "troubles", NOW, far, NOW, trouble_id=1, site_id="bank"),
        StartEscalation("trouble:2", "troubles", NOW, far, NOW, trouble_id=2, site_id="cafe"),
        StartEscalation("alarm:a", "default", NOW, far, NOW, alarm_id="a", site_id="bank"),
    )
    await commit(store, RecheckSiteTroubles("bank", LATER))
    found = dict(tuple(r) for r in rows(store, "SELECT subject, next_due_at FROM escalations"))
    assert found == {"trouble:1": iso(LATER), "trouble:2": iso(far), "alarm:a": iso(far)}


# -- the outbox ----------------------------------------------------------------------------------


async def test_a_notification_is_queued_once_and_read_back(store: Store) -> None:
    body = {"alarm": {"id": "a"}, "step": 1, "tên": "Cà phê"}
    await commit(store, QueueNotification("k1", "siren", "alarm", body, NOW, alarm_id="a"))
    await commit(store, QueueNotification("k1", "siren", "alarm", {"other": 1}, LATER))
    row = await store.next_pending_notification("siren")
    assert row is not None
    assert (row.key, row.notifier, row.event, row.alarm_id, row.trouble_id) == (
        "k1",
        "siren",
        "alarm",
        "a",
        None,
    )
    assert (row.body, row.created_at, row.next_attempt_at, row.attempts) == (body, NOW, NOW, 0)
    assert await store.pending_notifiers() == {"siren"}
    assert await store.next_pending_notification("sms") is None


async def test_attempts_retries_and_outcomes(store: Store) -> None:
    await commit(store, QueueNotification("k1", "sms", "alarm", {}, NOW, alarm_id="a"))
    await commit(store, QueueNotification("k2", "sms", "alarm", {}, NOW, alarm_id="a"))
    first = await store.next_pending_notification("sms")
    assert first is not None
    await commit(
        store,
        RecordNotificationAttempt(first.seq, 1),
        RetryNotification(first.seq, "modem busy", LATER),
    )
    second = await store.next_pending_notification("sms")
    assert second is not None
    assert second.key == "k2"  # the retried one now waits until LATER
    await commit(store, FinishNotification(second.seq, "delivered", None, 1, NOW))
    retried = await store.next_pending_notification("sms")
    assert retried is not None
    assert (retried.key, retried.attempts, retried.next_attempt_at) == ("k1", 1, LATER)
    await commit(store, FinishNotification(retried.seq, "failed", "no signal", 2, LATER))
    assert await store.pending_notifiers() == set()
    found = {
        r["key"]: tuple(r)[1:] for r in rows(store, "SELECT key, state, last_error FROM outbox")
    }
    assert found == {"k1": ("failed", "no signal"), "k2": ("delivered", None)}


async def test_cancelling_and_abandoning(store: Store) -> None:
    """An alarm's cancel takes its pending `alarm` rows only (a `clear` still goes out); a
    trouble's takes its rows; one notifier's cancel for an alarm (its person acknowledged) takes
    only that notifier's rows of that alarm; abandoning a notifier fails all of its pending
    rows."""
    await commit(
        store,
        QueueNotification("a/alarm", "siren", "alarm", {}, NOW, alarm_id="a"),
        QueueNotification("a/clear", "siren", "clear", {}, NOW, alarm_id="a"),
        QueueNotification("b/alarm", "siren", "alarm", {}, NOW, alarm_id="b"),
        QueueNotification("t/1", "sms", "trouble", {}, NOW, trouble_id=1),
        QueueNotification("t/2", "sms", "trouble", {}, NOW, trouble_id=2),
        QueueNotification("gone/1", "fax", "alarm", {}, NOW, alarm_id="b"),
        QueueNotification("b/boss", "boss", "alarm", {}, NOW, alarm_id="b"),
        QueueNotification("c/boss", "boss", "alarm", {}, NOW, alarm_id="c"),
    )
    await commit(
        store,
        CancelNotifierForAlarm("b", "boss", LATER),
        CancelAlarmNotifications("a", LATER),
        CancelTroubleNotifications(1, LATER),
        AbandonNotifier("fax", "the notifier is no longer configured", LATER),
    )
    found = {r["key"]: r["state"] for r in rows(store, "SELECT key, state FROM outbox")}
    assert found == {
        "a/alarm": "cancelled",
        "a/clear": "pending",
        "b/alarm": "pending",
        "t/1": "cancelled",
        "t/2": "pending",
        "gone/1": "failed",
        "b/boss": "cancelled",
        "c/boss": "pending",
    }


async def test_another_active_alarm_of_a_notifier(store: Store) -> None:
    """A shared siren stays on while another active alarm switched it on."""
    plan = Plan(hub_id="post", state=await store.load_state(), now=NOW, earlier={})
    for button in ("b1", "b2"):
        plan.inbound(PressIn(button, PressEvent(id="e", type=EventType.PRESS), NOW, None))
    await store.commit(plan.changes)
    first, second = sorted(plan.changes.alarms)
    await commit(store, QueueNotification("x", "siren", "alarm", {}, NOW, alarm_id=second))
    assert await store.other_active_alarm("siren", first) == second
    assert await store.other_active_alarm("siren", second) is None
    await commit(store, CancelAlarmNotifications(second, NOW))
    assert await store.other_active_alarm("siren", first) is None


# -- the registry --------------------------------------------------------------------------------


async def test_sites_and_buttons_added_changed_and_removed(store: Store) -> None:
    bank = Site("bank", "Vietcombank", "12 QL1A", "0272", 10.5, 106.4)
    button = Button("b1", "bank", "quầy", "zigbee2mqtt", "0x01", False, "battery", 600)
    await commit(store, InsertSite(bank, NOW), InsertButton(button, NOW))
    registry = await store.load_registry()
    assert registry.sites == {"bank": bank}
    assert registry.buttons == {"b1": button}

    await commit(
        store,
        UpdateTestMode("site", "bank", True, LATER),
        UpdateTestMode("button", "b1", True, NOW),
    )
    registry = await store.load_registry()
    assert registry.sites["bank"].test_mode
    assert registry.buttons["b1"].test_mode

    await commit(store, DeleteButton("b1"), DeleteSite("bank"))
    registry = await store.load_registry()
    assert (registry.sites, registry.buttons) == ({}, {})


async def test_untested_buttons_never_tested_first(store: Store) -> None:
    await commit(
        store,
        InsertSite(Site("bank", "Bank"), NOW),
        InsertButton(Button("old", "bank"), NOW),
        InsertButton(Button("never", "bank"), NOW),
        InsertButton(Button("fresh", None), NOW),
    )
    changes = Changes()
    for button, at in (("old", NOW - timedelta(days=40)), ("fresh", NOW - timedelta(days=1))):
        changes.presses.append(
            PressRow(button, f"t-{button}", "test", None, iso(at), None, None, None, 1, None)
        )
    await store.commit(changes)
    cutoff = NOW - timedelta(days=30)
    expected = [
        UntestedButton("never", "bank", "Bank", "", None),
        UntestedButton("old", "bank", "Bank", "", iso(NOW - timedelta(days=40))),
    ]
    assert await store.untested_buttons(cutoff) == expected
    with contextlib.closing(open_sync(store.path)) as conn:
        assert admin.untested_buttons(conn, cutoff) == expected


# -- users and sessions --------------------------------------------------------------------------


async def test_sessions_open_expire_and_close(store: Store) -> None:
    with contextlib.closing(open_sync(store.path)) as conn:
        assert admin.add_user(conn, "lan", Role.OFFICER, "hash-1", NOW, "cli")
    user = await store.find_user("lan")
    assert user is not None
    assert (user.username, user.role, user.password_hash) == ("lan", Role.OFFICER, "hash-1")
    assert await store.find_user("nobody") is None

    await commit(
        store,
        InsertSession("live", user.id, NOW, NOW + timedelta(hours=8), "10.0.0.2"),
        InsertSession("stale", user.id, NOW - timedelta(days=2), NOW - timedelta(days=1), "x"),
        RehashPassword(user.id, "hash-2", NOW),
    )
    session = await store.find_session("live", NOW)
    assert session is not None
    assert (session.username, session.role) == ("lan", Role.OFFICER)
    assert await store.find_session("live", NOW + timedelta(hours=9)) is None  # expired
    assert await store.find_session("stale", NOW) is None
    refreshed = await store.find_user("lan")
    assert refreshed is not None
    assert refreshed.password_hash == "hash-2"

    await commit(store, DeleteExpiredSessions(NOW))
    assert [r[0] for r in rows(store, "SELECT id_hash FROM sessions")] == ["live"]
    await commit(store, DeleteSession("live"))
    assert await store.find_session("live", NOW) is None


async def test_a_disabled_user_has_no_session_and_is_known_as_disabled(store: Store) -> None:
    """`disabled_at` set: `find_user` says so, `find_session` finds none of theirs (even one left
    over), the list shows since when; cleared, all is as before."""
    with contextlib.closing(open_sync(store.path)) as conn:
        assert admin.add_user(conn, "lan", Role.OFFICER, "hash-1", NOW, "cli")
    user = await store.find_user("lan")
    assert user is not None
    assert user.disabled is False
    await commit(store, InsertSession("live", user.id, NOW, NOW + timedelta(hours=8), "x"))
    await commit(store, SetUserField("lan", "disabled_at", iso(NOW), NOW))
    found = await store.find_user("lan")
    assert found is not None
    assert found.disabled is True
    assert await store.find_session("live", NOW) is None
    [listed] = await store.list_users(NOW)
    assert listed.disabled_at == iso(NOW)
    await commit(store, SetUserField("lan", "disabled_at", None, NOW))
    assert await store.find_session("live", NOW) is not None


async def test_api_tokens_made_once_per_live_name_and_revoked(store: Store) -> None:
    """A second live token of the same name changes nothing (the batch does not fail); revoked,
    the name may be used again; the list never holds a hash."""
    await commit(store, InsertToken("district", Role.VIEWER, "hash-1", "user:an", NOW))
    await commit(store, InsertToken("district", Role.ADMIN, "hash-2", "user:binh", NOW))
    [live] = await store.list_tokens()
    assert (live.name, live.role, live.created_by, live.revoked_at) == (
        "district",
        "viewer",
        "user:an",
        None,
    )
    await commit(store, RevokeToken("district", LATER))
    await commit(store, InsertToken("district", Role.ADMIN, "hash-3", "cli", LATER))
    listed = await store.list_tokens()
    assert [(t.role, t.revoked_at) for t in listed] == [("admin", None), ("viewer", iso(LATER))]
    assert await store.token_by_hash("hash-1") is None
    assert await store.token_by_hash("hash-3") == ("district", "admin")


# -- the command line's side (hub/store/admin.py) ------------------------------------------------


def test_users_from_the_command_line(tmp_path: Path) -> None:
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        assert admin.add_user(conn, "lan", Role.VIEWER, "h1", NOW, "demo")
        assert not admin.add_user(conn, "lan", Role.ADMIN, "h2", NOW, "cli")  # taken
        conn.execute(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ('s', 1, ?, ?)",
            (iso(NOW), iso(LATER)),
        )
        [summary] = admin.list_users(conn, NOW)
        assert (summary.username, summary.role, summary.sessions) == ("lan", Role.VIEWER, 1)
        assert admin.set_password(conn, "lan", "h3", Role.OFFICER, NOW, "cli") == 1
        assert admin.set_password(conn, "nobody", "h", None, NOW, "cli") is None
        [summary] = admin.list_users(conn, NOW)
        assert (summary.role, summary.sessions) == (Role.OFFICER, 0)
        assert admin.remove_user(conn, "lan", NOW, "cli")
        assert not admin.remove_user(conn, "lan", NOW, "cli")
        actions = [tuple(r) for r in conn.execute("SELECT actor, action FROM audit ORDER BY id")]
    assert actions == [
        ("demo", "user.created"),
        ("cli", "user.password_changed"),
        ("cli", "user.removed"),
    ]


def test_tokens_from_the_command_line(tmp_path: Path) -> None:
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        assert admin.add_token(conn, "hà nội", Role.ADMIN, "hash-a", NOW)
        assert not admin.add_token(conn, "hà nội", Role.VIEWER, "hash-b", NOW)  # live name
        assert admin.revoke_token(conn, "hà nội", LATER)
        assert not admin.revoke_token(conn, "hà nội", LATER)
        assert admin.add_token(conn, "hà nội", Role.VIEWER, "hash-c", LATER)  # name free again
        listed = [(t.name, t.role, t.revoked_at) for t in admin.list_tokens(conn)]
    assert sorted(listed, key=str) == sorted(
        [("hà nội", "admin", iso(LATER)), ("hà nội", "viewer", None)], key=str
    )


def test_registry_changes_from_the_command_line(tmp_path: Path) -> None:
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        sites = [Site("bank", "Bank")]
        buttons = [Button("b1", "bank", profile="zigbee2mqtt", native_id="0x01")]
        assert admin.import_registry(conn, sites, buttons, NOW, "cli") == {"sites": 1, "buttons": 1}
        assert admin.import_registry(conn, sites, buttons, LATER, "cli") == {
            "sites": 0,
            "buttons": 0,
        }
        assert admin.site_ids(conn) == {"bank"}
        clash = [Button("b2", "bank", profile="zigbee2mqtt", native_id="0x01")]
        with pytest.raises(admin.RowConflict) as caught:
            admin.import_registry(conn, [], clash, NOW, "cli")
        assert caught.value.key == "b2"
        assert [b.id for b in admin.all_buttons(conn)] == ["b1"]  # the whole import rolled back

        assert admin.set_test_mode(conn, "button", "b1", True, NOW, "cli")
        assert not admin.set_test_mode(conn, "site", "nowhere", True, NOW, "cli")
        assert admin.set_sign_key(conn, "b1", "k" * 64, {"key_id": "abc"}, NOW, "cli")
        assert not admin.set_sign_key(conn, "b9", None, {"removed": True}, NOW, "cli")
        [listing] = admin.button_listings(conn)
        assert listing.button.test_mode
        assert listing.button.sign_key == "k" * 64
        assert (listing.online, listing.last_seen, listing.battery) == (None, None, None)
        assert [s.id for s in admin.all_sites(conn)] == ["bank"]
        actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["registry.imported", "registry.test_mode", "registry.sign_key"]
