"""[upstream]: the link from this hub to the hub above it (a post to its district, a district to
its province); absent, the hub sends nothing upstream. [district]: how a district hub watches its
posts. docs/DISTRICT.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from devices.messages import BUTTON_ID_RE
from devices.topics import DEFAULT_ROOT, check_root
from hub.errors import ConfigError


class UpstreamSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, description="The district's broker: host name or address.")
    port: int = Field(default=8883, ge=1, le=65535, description="The district broker's port.")
    tls: bool = Field(default=True, description="Connect with TLS (the link crosses networks).")
    ca_file: Path | None = Field(default=None, description="CA certificate(s) of the district.")
    cert_file: Path | None = Field(default=None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(default=None, description="Client key (mutual TLS).")
    username: str | None = Field(default=None, description="This post's user at the district.")
    password: SecretStr | None = Field(default=None, description="Its password.")
    password_file: Path | None = Field(
        default=None, description="A file whose first line is the password (instead of password)."
    )
    root: str = Field(default=DEFAULT_ROOT, description="Topic root at the district's broker.")
    heartbeat_s: float = Field(
        default=30.0, ge=1, le=3600, description="How often the post says it is alive."
    )
    resend_s: float = Field(
        default=10.0,
        ge=0.5,
        le=600,
        description="A change the district has not acknowledged after this long is sent again.",
    )
    lost_after_s: float = Field(
        default=60.0,
        ge=1,
        le=86_400,
        description="The link down this long is an `upstream_lost` trouble at the post.",
    )
    window: int = Field(
        default=200, ge=1, le=10_000, description="Changes in flight at once, at most."
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=600)
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        le=0xFFFFFFFE,
        description="How long the district broker keeps the link's session (the acks to it).",
    )

    @field_validator("root")
    @classmethod
    def _root_is_valid(cls, value: str) -> str:
        return check_root(value)

    @model_validator(mode="after")
    def _consistent(self) -> UpstreamSection:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password needs a username")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self

    def secret(self) -> SecretStr | None:
        """The password, read from `password_file` if that is how it is given."""
        if self.password_file is None:
            return self.password
        try:
            text = self.password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                [f"upstream.password_file: cannot read {self.password_file}: {exc.strerror}"]
            ) from exc
        lines = text.splitlines()
        return SecretStr(lines[0] if lines else "")


class DistrictSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="A post is silent once no heartbeat came for its own period plus this.",
    )
    expect: list[str] = Field(
        default_factory=list,
        description="Ids of the posts that must be heard from: one never heard is silent too, "
        "after `expect_period_s` plus the grace from the district's start.",
    )
    expect_period_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="The heartbeat period assumed for an expected post not heard from yet.",
    )

    @field_validator("expect")
    @classmethod
    def _ids_are_valid(cls, value: list[str]) -> list[str]:
        for post in value:
            if not BUTTON_ID_RE.match(post):
                raise ValueError(f"{post!r} is not a hub id (1-64 of a-z, 0-9, '_' or '-')")
        return value
