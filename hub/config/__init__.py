"""The hub's configuration: a TOML file, every key overridable from the environment.

One module per section (Frigate's layout); `Config` composes them. Precedence, highest first:
`CHUONG_<SECTION>__<KEY>` environment variables, then the TOML file, then the defaults, which are
chosen so that `chuong run` with no file works against a broker on localhost.

`load_config` turns every problem into one line `section.key: message` inside a `ConfigError`;
`chuong check-config` prints those lines and exits 1.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from hub.config.escalation import EscalationSection, check_references
from hub.config.hub import HubSection
from hub.config.log import LogSection
from hub.config.mqtt import MqttSection
from hub.config.profiles import ProfilesSection
from hub.config.server import HttpSection
from hub.config.store import StoreSection
from hub.config.strict import file_type_problems, key_of, suggestion
from hub.config.supervision import SupervisionSection
from hub.config.upstream import DistrictSection, UpstreamSection
from hub.config.web import WebSection
from hub.errors import ConfigError
from hub.notify.registry import NotifierSection
from hub.notify.settings import check_notifier_names

ENV_PREFIX: Final = "CHUONG_"
CONFIG_PATH_ENV: Final = "CHUONG_CONFIG"

__all__ = [
    "Config",
    "DistrictSection",
    "EscalationSection",
    "HttpSection",
    "HubSection",
    "LogSection",
    "MqttSection",
    "ProfilesSection",
    "StoreSection",
    "SupervisionSection",
    "UpstreamSection",
    "WebSection",
    "load_config",
]


class Config(BaseSettings):
    """The whole configuration. Unknown keys anywhere are errors."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
        validate_default=True,
    )

    hub: HubSection = Field(default_factory=HubSection)
    mqtt: MqttSection = Field(default_factory=MqttSection)
    store: StoreSection = Field(default_factory=StoreSection)
    http: HttpSection = Field(default_factory=HttpSection)
    log: LogSection = Field(default_factory=LogSection)
    notifiers: dict[str, NotifierSection] = Field(
        default_factory=dict, description="Ways to reach a device or a person, by name."
    )
    escalation: EscalationSection = Field(default_factory=EscalationSection)
    web: WebSection = Field(default_factory=WebSection)
    supervision: SupervisionSection = Field(default_factory=SupervisionSection)
    profiles: ProfilesSection = Field(default_factory=ProfilesSection)
    upstream: UpstreamSection | None = Field(
        default=None, description="The link to the district (or province); absent: none."
    )
    district: DistrictSection = Field(default_factory=DistrictSection)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _references(self) -> Config:
        problems = check_notifier_names(self.notifiers) + check_references(
            self.escalation, self.notifiers, links=self.hub.public_url is not None
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"chuong-hub-{self.hub.id}"

    @property
    def telemetry_client_id(self) -> str:
        """The telemetry connection's client id (a broker as shipped uses its user name)."""
        return f"{self.client_id}-telemetry"


def load_config(path: Path | str | None = None) -> Config:
    """Read the TOML file (if any), apply the environment, validate; raise `ConfigError`.

    Without `path`, the file named by `CHUONG_CONFIG` is read, if set; otherwise defaults apply.
    """
    env = os.environ
    if path is None and env.get(CONFIG_PATH_ENV):
        path = env[CONFIG_PATH_ENV]
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(Path(path))
    problems = _unknown_env_sections(env)
    if problems:
        raise ConfigError(problems)
    strict = file_type_problems(Config, data)
    lines = [f"{key}: {message}" for key, message in strict]
    try:
        config = Config(**data)
    except ValidationError as exc:
        said = {key for key, _ in strict}
        lines += [line for line in _describe(exc, env, data) if line.split(":")[0] not in said]
        raise ConfigError(lines) from exc
    except SettingsError as exc:  # a value the environment source itself cannot parse
        raise ConfigError([*lines, f"environment: {exc}"]) from exc
    if lines:
        raise ConfigError(lines)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError([f"{path}: no such file"]) from exc
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc


def _unknown_env_sections(env: Mapping[str, str]) -> list[str]:
    sections = set(Config.model_fields)
    problems = []
    for name in env:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_PATH_ENV:
            continue
        section, _, key = upper[len(ENV_PREFIX) :].partition("__")
        section = section.lower()
        if section in sections and not key:
            problems.append(
                f"{name}: set one key at a time, as {ENV_PREFIX}{section.upper()}__<KEY>"
            )
        elif section not in sections:
            problems.append(
                f"{name}: unknown section {section!r} (known: {', '.join(sorted(sections))})"
            )
    return problems


def _describe(exc: ValidationError, env: Mapping[str, str], data: Any) -> list[str]:
    lines = []
    for error in exc.errors():
        key = key_of(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            close = suggestion(Config, data, error["loc"])
            message = "unknown key" + (f" (did you mean {close}?)" if close else "")
        elif error["type"] == "url_parsing":
            message = (
                f"expected a full address with http:// or https://, such as "
                f"http://192.168.1.10:8080 (got {error['input']!r})"
            )
        if not key:  # a check across sections names its keys itself, one line each
            lines.extend(message.splitlines())
            continue
        env_name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
        source = f" (from {env_name})" if env_name in {k.upper() for k in env} else ""
        lines.append(f"{key}: {message}{source}")
    return lines
