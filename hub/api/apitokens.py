"""API tokens, managed by an admin from the page (the command line: `chuong token …`).

    GET    /api/v1/tokens          every token: name, role, made when and by whom, revoked when
    POST   /api/v1/tokens          {"name", "role"}: 201 with the token itself, shown this once
    DELETE /api/v1/tokens/{name}   revokes the live token of that name (at once)

Admins only. The store keeps only each token's SHA-256 (hub/api/tokens.py), so a lost token cannot
be shown again: revoke it and make another. Each change is a pipeline command with its audit entry
(`token.created`, `token.revoked`, the admin as actor); the token itself is never in the audit log
nor in any answer but the one that created it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from hub.api.auth import Admin, Context
from hub.api.context import ApiContext
from hub.api.errors import refused, responses, unprocessable
from hub.api.tokens import hash_token, new_token
from hub.domain.model import Role
from hub.store.ops import InsertToken, RevokeToken, TokenRow
from hub.writer.plan import Command, Plan

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

TokenName = Annotated[str, Path(min_length=1, max_length=100)]


class TokenView(BaseModel):
    name: str
    role: Role
    created_at: str
    created_by: str
    """`cli`, or `user:<name>` for an admin on the page"""
    revoked_at: str | None


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What uses it: `tong-dai-huyen`.")
    role: Role


class CreatedToken(TokenView):
    token: str
    """the token itself: shown in this answer only, never again"""


@dataclass(slots=True)
class CreateToken(Command):
    name: str
    role: Role
    token_hash: str
    actor: str

    def plan(self, plan: Plan) -> None:
        plan.write(InsertToken(self.name, self.role, self.token_hash, self.actor, plan.now))
        plan.audit("token.created", self.actor, name=self.name, role=self.role.value)


@dataclass(slots=True)
class RevokeTokenCommand(Command):
    name: str
    actor: str

    def plan(self, plan: Plan) -> None:
        plan.write(RevokeToken(self.name, plan.now))
        plan.audit("token.revoked", self.actor, name=self.name)


def _view(row: TokenRow) -> TokenView:
    return TokenView(
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
    )


async def _live(ctx: ApiContext, name: str) -> TokenRow | None:
    return next(
        (row for row in await ctx.store.list_tokens() if row.name == name and not row.revoked_at),
        None,
    )


@router.get("", response_model=list[TokenView], summary="API tokens (never the tokens themselves)")
async def list_tokens(ctx: Context, _: Admin) -> list[TokenView]:
    return [_view(row) for row in await ctx.store.list_tokens()]


@router.post(
    "",
    response_model=CreatedToken,
    status_code=status.HTTP_201_CREATED,
    summary="Make a token: the answer is the only place it is ever shown",
    responses=responses(409),
)
async def create_token(body: NewToken, ctx: Context, who: Admin) -> CreatedToken:
    name = body.name.strip()
    if not name:
        raise unprocessable("a token name cannot be only spaces", "body", "name", kind="blank")
    if await _live(ctx, name) is not None:
        raise refused(
            status.HTTP_409_CONFLICT,
            f"a live token named {name!r} exists already; revoke it or choose another name",
            "token_exists",
            name=name,
        )
    token = new_token()
    await ctx.pipeline.execute(CreateToken(name, body.role, hash_token(token), who.actor))
    made = await _live(ctx, name)
    if made is None or made.created_by != who.actor:  # another admin took the name meanwhile
        raise refused(
            status.HTTP_409_CONFLICT,
            f"a live token named {name!r} exists already; revoke it or choose another name",
            "token_exists",
            name=name,
        )
    return CreatedToken(**_view(made).model_dump(), token=token)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a token: it stops working at once",
    responses=responses(404),
)
async def revoke_token(name: TokenName, ctx: Context, who: Admin) -> None:
    if await _live(ctx, name) is None:
        raise refused(
            status.HTTP_404_NOT_FOUND, f"no live token named {name!r}", "token_not_found", name=name
        )
    await ctx.pipeline.execute(RevokeTokenCommand(name, who.actor))
