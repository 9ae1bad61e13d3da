"""[web]: the duty officer's page: sessions and login lock-out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="How long a login lasts (a whole duty shift); then the page asks again.",
    )
    login_window_min: float = Field(
        default=15.0,
        gt=0,
        le=24 * 60,
        description="Failed logins are counted over this many minutes.",
    )
    login_failures_per_user: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Failed logins for one user name from one address (or in one browser that "
        "logged in as that user before) before that is refused for the rest of the window. "
        "Failures elsewhere never lock a name out (docs/PAGE.md).",
    )
    login_failures_per_address: int = Field(
        default=30,
        ge=1,
        le=10000,
        description="Failed logins from one address, for any user, before it is refused for "
        "the rest of the window.",
    )
