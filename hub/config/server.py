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
    request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A request's line, headers and body must arrive within this time of its "
        "first byte (or of the connection's opening), else 408 and the connection is closed.",
    )
    max_connections: int = Field(
        default=256,
        ge=16,
        le=100_000,
        description="HTTP connections at once (lowered to leave room under the open-file limit). "
        "Over it, the oldest connection still waiting for a request makes room, or the new one "
        "gets 503.",
    )
    max_connections_per_address: int = Field(
        default=32,
        ge=1,
        le=100_000,
        description="HTTP connections at once from one client address (a TLS proxy on the same "
        "machine is one address for all its clients).",
    )
    max_body_kib: int = Field(
        default=32,
        ge=1,
        le=10_240,
        description="Largest request body, in KiB: larger ones get 413 before they are read. The "
        "API's bodies are small (a note is at most 2,000 characters).",
    )
