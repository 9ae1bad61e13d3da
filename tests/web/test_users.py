"""Managing the people who log in through the API (what the page's admin view calls)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable

from hub.domain.model import Role
from tests.conftest import RunningHub
from tests.web.conftest import Session, run_sql

LogIn = Callable[..., Awaitable[Session]]


async def test_an_admin_adds_changes_and_removes_a_user(web_hub: RunningHub, login: LogIn) -> None:
    """Add (the new user logs in), refuse a taken or malformed name and a short password, change
    the role (applies at once), reset the password (their sessions end; the new one works),
    remove (their session ends); each step audited with the admin's name. An admin may not
    remove or demote themselves."""
    admin = await login(web_hub, Role.ADMIN)
    api, headers = admin.client, admin.headers
    new = {
        "username": "TrucBan2",
        "role": "viewer",
        "password": "mat-khau-dai-1",
        "display_name": " Nguyễn Văn An ",
    }
    added = await api.post("/api/v1/users", json=new, headers=headers)
    assert added.status_code == 201, added.text
    view = added.json()
    assert (view["username"], view["role"], view["display_name"]) == (
        "trucban2",
        "viewer",
        "Nguyễn Văn An",
    )
    for body, status, reason in [
        ({**new, "password": "khac-hẳn-123"}, 409, "exists already"),
        ({**new, "username": "có dấu"}, 422, "user name"),
        ({**new, "username": "ok2", "password": "ngan"}, 422, "password"),
        ({**new, "role": "boss"}, 422, "role"),
    ]:
        refused = await api.post("/api/v1/users", json=body, headers=headers)
        assert refused.status_code == status, refused.text
        assert reason in refused.text

    person = web_hub.api(None)
    login_body = {"username": "trucban2", "password": "mat-khau-dai-1"}
    assert (await person.post("/login", json=login_body)).status_code == 200
    assert (await person.get("/api/v1/session")).json()["role"] == "viewer"
    names = (await person.get("/api/v1/users/names")).json()  # a viewer may read the names
    assert names == {"admin": "", "officer": "", "trucban2": "Nguyễn Văn An", "viewer": ""}
    assert (await person.get("/api/v1/users")).status_code == 403  # not the rest
    promoted = await api.patch("/api/v1/users/trucban2", json={"role": "officer"}, headers=headers)
    assert promoted.json()["role"] == "officer"
    assert (await person.get("/api/v1/session")).json()["role"] == "officer"  # at once
    reset = {"password": "mat-khau-moi-2"}
    assert (await api.patch("/api/v1/users/trucban2", json=reset, headers=headers)).is_success
    assert (await person.get("/api/v1/session")).status_code == 401  # their sessions ended
    assert (await person.post("/login", json=login_body)).status_code == 401
    assert (await person.post("/login", json={**login_body, **reset})).status_code == 200
    gone = await api.delete("/api/v1/users/trucban2", headers=headers)
    assert gone.status_code == 204
    assert (await person.get("/api/v1/session")).status_code == 401
    listed = (await api.get("/api/v1/users")).json()
    assert [u["username"] for u in listed] == ["admin", "officer", "viewer"]

    assert (await api.delete("/api/v1/users/admin", headers=headers)).status_code == 409
    demote = await api.patch("/api/v1/users/admin", json={"role": "viewer"}, headers=headers)
    assert demote.status_code == 409
    assert "yourself" in demote.text
    assert (await api.delete("/api/v1/users/nobody", headers=headers)).status_code == 404

    def audited(conn: sqlite3.Connection) -> list[tuple[str, str, dict[str, str]]]:
        rows = conn.execute(
            "SELECT action, actor, detail FROM audit WHERE action IN "
            "('user.created', 'user.changed', 'user.removed') ORDER BY id"
        )
        return [(a, b, json.loads(c)) for a, b, c in rows]

    assert await run_sql(web_hub, audited) == [
        (
            "user.created",
            "user:admin",
            {"username": "trucban2", "role": "viewer", "display_name": "Nguyễn Văn An"},
        ),
        ("user.changed", "user:admin", {"username": "trucban2", "role": "officer"}),
        ("user.changed", "user:admin", {"username": "trucban2", "password": "changed"}),
        ("user.removed", "user:admin", {"username": "trucban2"}),
    ]
