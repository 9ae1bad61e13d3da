"""[store]: the SQLite file, or a PostgreSQL server (`url`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class RetentionSection(BaseModel):
    """[store.retention]: how long each kind of row is kept (docs/DECISIONS.md, "Retention")."""

    model_config = ConfigDict(extra="forbid")

    history_days: int = Field(
        default=0,
        ge=0,
        le=36500,
        description="Alarms, presses, troubles and the audit log: kept this many days after "
        "they ended; 0 = for ever (the default: the post's record).",
    )
    outbox_days: int = Field(
        default=30, ge=1, le=36500, description="Sent, failed or cancelled notices."
    )
    escalations_days: int = Field(
        default=30, ge=1, le=36500, description="Finished escalations of ended alarms."
    )
    interval_s: float = Field(
        default=3600.0, gt=0, le=86400, description="How often the hub prunes."
    )
    batch: int = Field(
        default=500, ge=1, le=100000, description="Most rows deleted in one transaction."
    )

    @model_validator(mode="after")
    def _history_outlives_the_rest(self) -> RetentionSection:
        if self.history_days and max(self.outbox_days, self.escalations_days) > self.history_days:
            raise ValueError(
                "history_days must be 0 (for ever) or at least outbox_days and escalations_days"
            )
        return self


class StoreSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path("var/chuong.db"), description="SQLite database file.")
    url: str | None = Field(
        default=None,
        description="PostgreSQL instead of SQLite: postgresql://user:password@host:port/database "
        "(docs/HA.md). Unset: the SQLite file `path` (the default).",
    )
    batch_max: int = Field(
        default=1000, ge=1, le=10000, description="Most messages committed in one transaction."
    )
    rejected_keep: int = Field(
        default=10000, ge=100, description="Rejected messages kept (the oldest are pruned)."
    )
    busy_timeout_ms: int = Field(default=5000, ge=0, description="Wait for a lock this long.")
    retry_max_s: float = Field(
        default=5.0, gt=0, le=60, description="Largest wait between retries of a failed commit."
    )
    probe_interval_s: float = Field(
        default=5.0, gt=0, le=300, description="How often an idle hub proves the store writable."
    )
    retention: RetentionSection = Field(default_factory=RetentionSection)

    @field_validator("url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("store.url must be a postgresql:// URL (or unset for SQLite)")
        return value or None
