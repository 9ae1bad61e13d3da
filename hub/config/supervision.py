"""[supervision]: how the hub decides that a button cannot be trusted right now."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MassLossSection(BaseModel):
    """[supervision.mass_loss]: several buttons going offline at once is an alarm (kind
    `comm_loss`), not a handful of troubles: a robber who cuts a shop's power or Wi-Fi."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Raise communication-loss alarms.")
    window_s: float = Field(
        default=120.0,
        ge=5,
        le=3600,
        description="Drops within this long of each other count as one loss (a button's last "
        "will comes up to 1.5 keep-alives after it lost power).",
    )
    site_buttons: int | None = Field(
        default=None,
        ge=2,
        le=1000,
        description="How many of a site's mains buttons must drop (default: all of them, for a "
        "site with two or more; a site with fewer than this needs all of its own).",
    )
    commune_percent: float | None = Field(
        default=30.0,
        gt=0,
        le=100,
        description="This share of the commune's mains buttons, at two sites or more, dropping "
        "together raises one alarm for the commune; unset: no commune rule.",
    )
    commune_min_buttons: int = Field(
        default=5,
        ge=2,
        le=100000,
        description="The commune rule needs at least this many buttons, whatever the share.",
    )
    settle_s: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="Drops heard in this long after the hub (re)connects to the broker do not "
        "count: the broker then replays losses that happened while the hub was away, all at "
        "once (a restart or a broker outage must not look like a mass loss).",
    )


class SupervisionSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Watch every registered button.")
    tick_s: float = Field(
        default=5.0, gt=0, le=60, description="How often every button's liveness is reviewed."
    )
    offline_after_s: float = Field(
        default=90.0,
        ge=1,
        le=7200,
        description="A mains button is offline after this long without a message (its "
        "heartbeats are due at least every 60 s); also how long a registered button may stay "
        "unheard of after the hub starts listening.",
    )
    flap_grace_s: float = Field(
        default=15.0,
        ge=0,
        le=600,
        description="An `offline` from a button (its last will) must last this long before it "
        "is a trouble; shorter drops are flapping (EN 50131 ignores faults under 10 s).",
    )
    checkin_grace: float = Field(
        default=0.2,
        ge=0,
        le=5,
        description="Silence allowed beyond a button's check-in period, as a fraction of it "
        "(0.2: a battery button waking every 12 h is offline after 14.4 h).",
    )
    low_battery_percent: int = Field(
        default=20, ge=1, le=99, description="A battery at or below this is a trouble."
    )
    battery_ok_percent: int = Field(
        default=30,
        ge=2,
        le=100,
        description="The low-battery trouble clears when the battery reads at least this.",
    )
    clock_ahead_s: float = Field(
        default=20.0,
        gt=0,
        le=86400,
        description="A press stamped this far ahead of the hub's clock opens a clock_skew "
        "trouble (SIA DC-09: +20 s); the press still raises its alarm.",
    )
    clock_behind_s: float = Field(
        default=40.0,
        gt=0,
        le=86400,
        description="A press stamped this far behind the hub's clock opens a clock_skew trouble "
        "(SIA DC-09: -40 s).",
    )

    mass_loss: MassLossSection = Field(
        default_factory=MassLossSection,
        description="Several buttons offline at once: an alarm (docs/SUPERVISION.md).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SupervisionSection:
        if self.battery_ok_percent <= self.low_battery_percent:
            raise ValueError("battery_ok_percent must be above low_battery_percent")
        return self
