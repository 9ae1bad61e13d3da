"""What the models alone cannot say about the TOML file: strict scalars, "did you mean", and keys
written as people read them.

- Strict scalars. pydantic turns `"yes"` into True and `"8080"` into 8080, which the environment
  needs (every variable is text) but which, in a TOML file, hides a mistake: a flag or a number
  written in quotes. `file_type_problems` walks the file's values along the models and refuses
  text (or a flag for a number, a number for a flag) where a bool, an int or a float is expected.
- "did you mean": `suggestion` finds the known keys next to an unknown one.
- `key_of` writes a location as `section.key`, numbering list items from 1, as escalation steps
  (and so levels) are numbered.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

Loc = tuple[int | str, ...]


def key_of(loc: Sequence[int | str]) -> str:
    """`escalation.steps.2.notify` for pydantic's ("escalation", "steps", 1, "notify"); a bad
    key of a table is named by itself (pydantic adds a part `[key]`)."""
    return ".".join(
        str(part + 1) if isinstance(part, int) else part for part in loc if part != "[key]"
    )


def file_type_problems(model: type[BaseModel], data: Any) -> list[tuple[str, str]]:
    """(key, message) for every flag or number of the file written as something else."""
    return [(key_of(loc), message) for loc, message in _walk(model, data, ())]


def suggestion(model: type[BaseModel], data: Any, loc: Sequence[int | str]) -> str | None:
    """The known key closest to the unknown last part of `loc`, if one is close."""
    if not loc or not isinstance(loc[-1], str):
        return None
    parent = _model_at(model, data, tuple(loc[:-1]))
    if parent is None:
        return None
    typed = loc[-1].lower()
    known = list(parent.model_fields)
    distance, close = min(((_edits(typed, name), name) for name in known), default=(9, ""))
    if distance <= max(1, len(typed) // 4):
        return close
    found = difflib.get_close_matches(typed, known, n=1, cutoff=0.75)
    return found[0] if found else None


def _edits(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours that turn a into b."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(
                rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _walk(model: type[BaseModel], data: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if not isinstance(data, dict):
        return
    model = _concrete(model, data)
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is not None:
            yield from _check(field.annotation, value, (*loc, name))


def _check(annotation: Any, value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    kind = _scalar(annotation)
    if kind is bool and not isinstance(value, bool):
        yield loc, f"write true or false, without quotes (got {_shown(value)})"
        return
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
        yield loc, f"write a number, without quotes (got {_shown(value)})"
        return
    for inner in _options(annotation):
        origin = get_origin(inner)
        if isinstance(inner, type) and issubclass(inner, BaseModel) and isinstance(value, dict):
            if _matches(inner, value):
                yield from _walk(inner, value, loc)
        elif origin is list and isinstance(value, list):
            (item,) = get_args(inner) or (Any,)
            for index, element in enumerate(value):
                yield from _check(item, element, (*loc, index))
        elif origin is dict and isinstance(value, dict):
            _, item = get_args(inner) or (str, Any)
            for key, element in value.items():
                yield from _check(item, element, (*loc, key))


def _model_at(model: type[BaseModel], data: Any, loc: Loc) -> type[BaseModel] | None:
    """The model that holds the keys at `loc` (following the file's data where a union, such as
    a notifier's `type`, decides)."""
    annotation: Any = model
    for part in loc:
        found = None
        for inner in _options(annotation):
            origin = get_origin(inner)
            if isinstance(inner, type) and issubclass(inner, BaseModel) and isinstance(part, str):
                model_here = _concrete(inner, data)
                field = model_here.model_fields.get(part)
                if field is not None and _matches(model_here, data):
                    found = field.annotation
            elif origin is list and isinstance(part, int):
                found = (get_args(inner) or (Any,))[0]
            elif origin is dict and isinstance(part, str):
                found = (get_args(inner) or (str, Any))[1]
            if found is not None:
                break
        if found is None:
            return None
        annotation = found
        data = _step(data, part)
    models = [
        _concrete(inner, data)
        for inner in _options(annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel) and _matches(inner, data)
    ]
    return models[0] if len(models) == 1 else None


def _concrete(model: type[BaseModel], data: Any) -> type[BaseModel]:
    """The subclass a `type` key names, for a base read by type (a notifier's settings)."""
    if not isinstance(data, dict) or "type" not in data:
        return model
    pending = list(model.__subclasses__())
    while pending:
        sub = pending.pop()
        if _tagged(sub) and _matches(sub, data):
            return sub
        pending.extend(sub.__subclasses__())
    return model


def _tagged(model: type[BaseModel]) -> bool:
    field = model.model_fields.get("type")
    return field is not None and get_origin(field.annotation) is Literal


def _step(data: Any, part: int | str) -> Any:
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and part < len(data):
        return data[part]
    return None


def _options(annotation: Any) -> list[Any]:
    """The alternatives of a union (without None), through `Annotated`."""
    if get_origin(annotation) is Annotated:
        return _options(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [
            option
            for arg in get_args(annotation)
            if arg is not type(None)
            for option in _options(arg)
        ]
    return [annotation]


def _matches(model: type[BaseModel], data: Any) -> bool:
    """A model of a union tagged by `type` (the notifiers) matches data of its own type only."""
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return True
    return isinstance(data, dict) and data.get("type") in get_args(field.annotation)


def _scalar(annotation: Any) -> type | None:
    """bool, int or float when that is all the annotation accepts (besides None)."""
    options = _options(annotation)
    if len(options) != 1:
        return None
    (option,) = options
    if get_origin(option) is Literal:
        values = get_args(option)
        if all(isinstance(v, bool) for v in values):
            return bool
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return int
        return None
    return option if option in (bool, int, float) else None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value) if isinstance(value, int | float) else type(value).__name__
