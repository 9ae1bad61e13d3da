"""[mqtt]: the broker connection."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from devices.topics import DEFAULT_ROOT, check_root


class MqttSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    root: str = Field(default=DEFAULT_ROOT, description="Topic root of the contract.")
    client_id: str | None = Field(
        default=None,
        max_length=128,
        description="Fixed MQTT client id (default chuong-hub-<hub.id>); the persistent session "
        "belongs to it, so it must never change between restarts. The broker as shipped "
        "replaces it by the user name (use_username_as_clientid): there the user is the session.",
    )
    username: str | None = Field(default=None, description="Broker user of the hub.")
    password: SecretStr | None = Field(default=None, description="Broker password of the hub.")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive.")
    session_expiry_s: int = Field(
        default=30 * 24 * 3600,
        ge=60,
        le=0xFFFFFFFE,
        description="How long the broker keeps the hub's session (and queues presses) while the "
        "hub is away. Must cover the longest outage of the hub.",
    )
    receive_maximum: int = Field(
        default=65535,
        ge=1,
        le=65535,
        description="Messages the broker may have in flight to the hub before their PUBACK: the "
        "largest group commit, and the most held in memory while the store cannot write. Keep "
        "it at the most: Mosquitto 2.0.11 stops delivering a reconnecting hub's queue once it "
        "has sent this many queued QoS 0 messages (docs/BROKER.md).",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60, description="First reconnect delay.")
    reconnect_max_s: float = Field(
        default=30.0, gt=0, le=600, description="Largest reconnect delay."
    )
    tls: bool = Field(default=False, description="Connect with TLS.")
    ca_file: Path | None = Field(
        default=None, description="CA certificate(s) to verify the broker."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate, for mutual TLS.")
    key_file: Path | None = Field(default=None, description="Client key, for mutual TLS.")

    @field_validator("root")
    @classmethod
    def _root_is_valid(cls, value: str) -> str:
        return check_root(value)

    @model_validator(mode="after")
    def _consistent(self) -> MqttSection:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        return self
