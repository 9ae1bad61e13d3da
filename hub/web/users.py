"""The people who log in, managed by an admin from the page (the command line: `chuong user …`).

    GET    /api/v1/users               every user: name, display name, role, since, open sessions
    GET    /api/v1/users/names         {user name: display name} (viewers: the page shows who
                                       acted by their name)
    POST   /api/v1/users               {"username", "role", "password"}: 201; 409 if taken
    PATCH  /api/v1/users/{name}        {"role"?, "password"?, "display_name"?, "disabled"?}: a
                                       new password, or disabling them, ends their sessions
    DELETE /api/v1/users/{name}        removes them and ends their sessions

Admins only. Each change is a pipeline command, committed with its audit entry (`user.created`,
`user.changed`, `user.disabled`, `user.enabled`, `user.removed`, the admin as actor). A disabled
user keeps their name, role and password but cannot log in, and has no session; re-enabling gives
the account back as it was. Its SQL cannot fail in the writer's batch
(presses share it): a name is checked on the read connection first and the statements are written
so that a name taken or gone meanwhile changes nothing; the answer then reads what happened.
An admin cannot remove or disable themselves or take away their own admin role (nobody would be
left to undo it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, Field

from hub.api.auth import Admin, Context, Principal, Viewer
from hub.api.context import ApiContext
from hub.api.errors import refused, unprocessable, unprocessable_error
from hub.api.stream import end_streams_of
from hub.clock import iso
from hub.domain.model import Role
from hub.errors import ChuongError
from hub.store.ops import DeleteUser, EndUserSessions, InsertUser, SetUserField
from hub.web.accounts import PASSWORD_MAX, check_password, check_username, hash_password
from hub.writer.plan import Command, Plan

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserName = Annotated[str, Path(max_length=64)]


class UserView(BaseModel):
    username: str
    display_name: str
    """as people know them ("Nguyễn Văn An"); '' for none: the page shows the user name"""
    role: Role
    created_at: str
    sessions: int
    """sessions open now"""
    disabled: bool = False
    """an admin disabled them: they cannot log in"""
    disabled_at: str | None = None


DisplayName = Annotated[str, Field(max_length=100)]


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    role: Role
    password: str = Field(max_length=PASSWORD_MAX)
    display_name: DisplayName = ""


class UserChange(BaseModel):
    role: Role | None = None
    password: str | None = Field(default=None, max_length=PASSWORD_MAX)
    display_name: DisplayName | None = None
    disabled: bool | None = Field(
        default=None, description="true: they cannot log in, and their sessions end; false: again"
    )


@dataclass(slots=True)
class CreateUser(Command):
    username: str
    role: Role
    password_hash: str
    display_name: str
    actor: str

    def plan(self, plan: Plan) -> None:
        op = InsertUser(self.username, self.role, self.password_hash, self.display_name, plan.now)
        plan.write(op)
        plan.audit(
            "user.created",
            self.actor,
            username=self.username,
            role=self.role.value,
            display_name=self.display_name or None,
        )


@dataclass(slots=True)
class ChangeUser(Command):
    username: str
    role: Role | None
    password_hash: str | None
    display_name: str | None
    actor: str
    disabled: bool | None = None

    def plan(self, plan: Plan) -> None:
        if self.disabled is not None:
            at = iso(plan.now) if self.disabled else None
            plan.write(SetUserField(self.username, "disabled_at", at, plan.now))
            if self.disabled:
                plan.write(EndUserSessions(self.username))
            verb = "user.disabled" if self.disabled else "user.enabled"
            plan.audit(verb, self.actor, username=self.username)
            if self.role is None and self.password_hash is None and self.display_name is None:
                return
        if self.display_name is not None:
            plan.write(SetUserField(self.username, "display_name", self.display_name, plan.now))
        if self.role is not None:
            plan.write(SetUserField(self.username, "role", self.role.value, plan.now))
        if self.password_hash is not None:
            plan.write(SetUserField(self.username, "password_hash", self.password_hash, plan.now))
            plan.write(EndUserSessions(self.username))
        plan.audit(
            "user.changed",
            self.actor,
            username=self.username,
            role=self.role.value if self.role else None,
            password="changed" if self.password_hash else None,
            display_name=self.display_name,
        )


@dataclass(slots=True)
class RemoveUser(Command):
    username: str
    actor: str

    def plan(self, plan: Plan) -> None:
        plan.write(EndUserSessions(self.username))
        plan.write(DeleteUser(self.username))
        plan.audit("user.removed", self.actor, username=self.username)


async def _users(ctx: ApiContext) -> dict[str, UserView]:
    return {
        user.username: UserView(
            username=user.username,
            role=user.role,
            created_at=user.created_at,
            display_name=user.display_name,
            sessions=user.sessions,
            disabled=user.disabled_at is not None,
            disabled_at=user.disabled_at,
        )
        for user in await ctx.store.list_users(ctx.clock.now())
    }


def _checked(check: Any, value: str, field: str) -> str:
    try:
        result: str = check(value)
    except ChuongError as exc:
        raise unprocessable_error(exc, "body", field) from None
    return result


async def _existing(ctx: ApiContext, username: str) -> tuple[str, UserView]:
    name = _checked(check_username, username, "username")
    found = (await _users(ctx)).get(name)
    if found is None:
        raise refused(
            status.HTTP_404_NOT_FOUND, f"no user named {name!r}", "user_not_found", user=name
        )
    return name, found


def _not_yourself(who: Principal, name: str, what: str, code: str) -> None:
    if who.kind == "user" and who.name == name:
        raise refused(
            status.HTTP_409_CONFLICT, f"you cannot {what} yourself: ask another admin", code
        )


@router.get("", response_model=list[UserView], summary="The people who log in to the page")
async def list_users(ctx: Context, _: Admin) -> list[UserView]:
    return list((await _users(ctx)).values())


@router.get("/names", response_model=dict[str, str], summary="Display names, by user name")
async def display_names(ctx: Context, _: Viewer) -> dict[str, str]:
    return {name: user.display_name for name, user in (await _users(ctx)).items()}


@router.post("", response_model=UserView, status_code=status.HTTP_201_CREATED, summary="Add a user")
async def add_user(body: NewUser, ctx: Context, who: Admin) -> UserView:
    name = _checked(check_username, body.username, "username")
    password = _checked(check_password, body.password, "password")
    if name in await _users(ctx):
        raise refused(
            status.HTTP_409_CONFLICT,
            f"a user named {name!r} exists already",
            "user_exists",
            user=name,
        )
    password_hash = await asyncio.to_thread(hash_password, password)  # ~0.1 s of CPU
    display_name = body.display_name.strip()
    await ctx.pipeline.execute(CreateUser(name, body.role, password_hash, display_name, who.actor))
    return (await _users(ctx))[name]


@router.patch("/{username}", response_model=UserView, summary="Change a user's role or password")
async def change_user(
    username: UserName, body: UserChange, request: Request, ctx: Context, who: Admin
) -> UserView:
    name, _found = await _existing(ctx, username)
    if body.role is not None and body.role is not Role.ADMIN:
        _not_yourself(who, name, "take the admin role from", "not_yourself_role")
    if body.disabled:
        _not_yourself(who, name, "disable", "not_yourself_disable")
    password_hash = None
    if body.password is not None:
        password = _checked(check_password, body.password, "password")
        password_hash = await asyncio.to_thread(hash_password, password)
    display_name = None if body.display_name is None else body.display_name.strip()
    if (
        body.role is None
        and password_hash is None
        and display_name is None
        and body.disabled is None
    ):
        raise unprocessable(
            "nothing to change: give a role, a password, a display name or disabled",
            "body",
            kind="nothing_to_change",
        )
    await ctx.pipeline.execute(
        ChangeUser(name, body.role, password_hash, display_name, who.actor, body.disabled)
    )
    if body.disabled or password_hash is not None:
        end_streams_of(request.app, name)  # their open pages: to the login
    changed = (await _users(ctx)).get(name)
    if changed is None:
        raise refused(
            status.HTTP_404_NOT_FOUND,
            f"user {name!r} was removed meanwhile",
            "user_not_found",
            user=name,
        )
    return changed


@router.delete("/{username}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a user")
async def remove_user(username: UserName, request: Request, ctx: Context, who: Admin) -> None:
    name, _found = await _existing(ctx, username)
    _not_yourself(who, name, "remove", "not_yourself_remove")
    await ctx.pipeline.execute(RemoveUser(name, who.actor))
    end_streams_of(request.app, name)
