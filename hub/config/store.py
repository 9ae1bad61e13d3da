"""[store]: the SQLite file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StoreSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path("var/chuong.db"), description="SQLite database file.")
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
