"""[mqtt]: the broker connection."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from devices.topics import DEFAULT_ROOT, check_root

TELEMETRY_SUFFIX = "-telemetry"
"""The telemetry connection's user is the hub's with this suffix, unless configured."""


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
    telemetry_username: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Broker user of the hub's second, clean-session connection, which takes the "
        "buttons' heartbeats and check-ins so that they are never queued for an absent hub "
        "(docs/BROKER.md). Default: <username>-telemetry.",
    )
    telemetry_password: SecretStr | None = Field(
        default=None,
        description="Its password (`chuong registry credentials` makes it). Without it, a hub "
        "that logs in with a password takes the heartbeats on its own persistent session, as "
        "before, and warns at start.",
    )
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
        if self.telemetry_username is not None and self.telemetry_username == self.username:
            raise ValueError(
                "telemetry_username must differ from username: one user is one session on the "
                "broker, and the clean telemetry connection would wipe the hub's"
            )
        if self.telemetry_password is not None and self.telemetry_user is None:
            raise ValueError("telemetry_password given without username or telemetry_username")
        return self

    @property
    def telemetry_user(self) -> str | None:
        """The telemetry connection's user: `telemetry_username`, else `<username>-telemetry`."""
        if self.telemetry_username is not None:
            return self.telemetry_username
        return None if self.username is None else f"{self.username}{TELEMETRY_SUFFIX}"

    def telemetry_login(self) -> tuple[str | None, str | None] | None:
        """(user, password) of the telemetry connection; None when it cannot have one of its own
        and the heartbeats stay on the hub's session: the hub logs in with a password and has
        no telemetry password, or with a client certificate (it would be the same user)."""
        if self.cert_file is not None:
            return None
        if self.password is not None and self.telemetry_password is None:
            return None
        password = self.telemetry_password.get_secret_value() if self.telemetry_password else None
        return self.telemetry_user, password
