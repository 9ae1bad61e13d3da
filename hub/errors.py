"""The hub's own errors. Lower-level errors are re-raised as these, `from` the original.

ChuongError
├── ConfigError           the configuration does not validate (carries one line per problem)
├── StoreError            the store cannot be opened, migrated or written
│   └── RowConflict       a command-line change clashes with a row (hub/store/admin.py)
├── RegistryError         a registry file or entry is invalid
│   ├── RegistryNotFound  no site, button or open trouble with that id (HTTP 404)
│   └── RegistryConflict  it exists already, or is still in use (HTTP 409)
└── AlarmError            an operation on an alarm cannot be done
    ├── AlarmNotFound     no alarm with that id (HTTP 404)
    └── InvalidTransition the alarm's state does not allow it (HTTP 409)
"""

from __future__ import annotations

from typing import TypeVar


class ChuongError(Exception):
    """Base of every error chuong raises on purpose.

    `code` (with `params`) names the refusal for a program: the API answers it next to the English
    `detail`, and the page says it in its own language (docs/HTTP.md, "Refusals")."""

    code: str | None = None
    params: dict[str, str] = {}  # noqa: RUF012  # replaced per instance by `coded`


class CodedValueError(ValueError):
    """A ValueError of a validator (pydantic reports it as the field's error) with a code: the
    API answers the code as that field's `type` (hub/api/errors.py)."""

    def __init__(self, message: str, code: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = {name: str(value) for name, value in params.items()}


E = TypeVar("E", bound=ChuongError)


def coded(error: E, code: str, **params: object) -> E:
    """`error` with a stable code and its values: `raise coded(RegistryError(why), "x", id=i)`."""
    error.code = code
    error.params = {name: str(value) for name, value in params.items()}
    return error


class ConfigError(ChuongError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StoreError(ChuongError):
    pass


class RegistryError(ChuongError):
    pass


class RegistryNotFound(RegistryError):
    pass


class RegistryConflict(RegistryError):
    pass


class AlarmError(ChuongError):
    pass


class AlarmNotFound(AlarmError):
    def __init__(self, alarm_id: str) -> None:
        super().__init__(f"no alarm {alarm_id!r}")
        self.alarm_id = alarm_id


class InvalidTransition(AlarmError):
    pass
