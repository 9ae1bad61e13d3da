"""Who is calling, and may they: bearer tokens (and, for the page, session cookies).

Viewers read; officers also acknowledge and resolve; admins also manage the registry and may
resolve an alarm nobody acknowledged. Every `/api/` route declares the role it needs with
`Depends(require(Role.X))`; the authorisation tests walk the route table to make sure none forgets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.api.context import ApiContext
from hub.api.errors import refused
from hub.api.tokens import hash_token
from hub.domain.model import Role

_bearer = HTTPBearer(auto_error=False, description="A token from `chuong token create`.")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    kind: str
    """token or user"""

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    ctx = context(request)
    if credentials is not None:
        found = await ctx.store.token_by_hash(hash_token(credentials.credentials))
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the token is not valid (unknown or revoked)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Principal(found[0], Role(found[1]), "token")
    session_auth: Callable[[Request], Awaitable[Principal | None]] | None = getattr(
        request.app.state, "session_auth", None
    )
    if session_auth is not None:
        principal = await session_auth(request)
        if principal is not None:
            return principal
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "authentication required: send 'Authorization: Bearer <token>' or log in",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.role.allows(role):
            raise refused(
                status.HTTP_403_FORBIDDEN,
                f"this needs the {role.value} role; you are {principal.role.value}",
                "role_needed",
                role=role.value,
                yours=principal.role.value,
            )
        return principal

    check.required_role = role  # type: ignore[attr-defined]  # read by the authorisation tests
    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Officer = Annotated[Principal, Depends(require(Role.OFFICER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Context = Annotated[ApiContext, Depends(context)]
