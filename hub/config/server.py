"""[http]: the API and the status page."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HttpSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Serve the API and the page.")
    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port (0 picks a free one).")
    stream_queue: int = Field(
        default=1000, ge=10, description="Events buffered per live-stream client before it is cut."
    )
