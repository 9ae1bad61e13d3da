"""One shape for every error the API answers: `{"detail": "<the reason, one line>"}`.

A refusal a person may meet on the page also names itself for a program: `code` (a stable word,
`site_has_buttons`) and `params` (its values, as strings: `{"site": "cho-moi", "buttons":
"cho-1"}`). The page says it in its own language from these; `detail` stays the English reason
for API users and logs. Both are left out when the refusal has no code (docs/HTTP.md, "Refusals").

A 422 (the request does not fit: a body field, a query parameter) has the same `detail`, naming
each field (`body.outcome: Field required; query.limit: …`), and also `errors`, the fields one by
one: `[{"loc": ["body", "outcome"], "msg": "Field required", "type": "missing"}]`. Whether
pydantic found the problem or the route did (an unknown state filter), the body is the same, and
the OpenAPI description says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import ChuongError, CodedValueError

UNPROCESSABLE = 422  # the name of the status changed across Starlette versions


class Problem(BaseModel):
    """Why a request failed."""

    detail: str = Field(description="The reason, one line, for a person.")
    code: str | None = Field(
        default=None,
        description="A stable name of the refusal (`site_has_buttons`), for programs and the "
        "page's own wording; left out when there is none.",
    )
    params: dict[str, str] | None = Field(
        default=None, description="The refusal's values, by name (with `code`)."
    )


class Refused(HTTPException):
    """An HTTP refusal with a stable `code` and its `params` (answered next to `detail`)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        code: str | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers=headers)
        self.code = code
        self.params = params or {}


def refused(
    status_code: int, reason: ChuongError | str, code: str | None = None, **params: object
) -> Refused:
    """The refusal of `reason`: a `ChuongError` brings its own code (`hub.errors.coded`) unless
    one is given here."""
    if isinstance(reason, ChuongError):
        detail = str(reason)
        if code is None:
            code = reason.code
            params = {**reason.params, **params}
    else:
        detail = reason
    return Refused(status_code, detail, code, {name: str(value) for name, value in params.items()})


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", "outcome"], ["query", "limit"].')
    msg: str
    type: str
    params: dict[str, str] | None = Field(
        default=None,
        description="With a `type` of the hub's own (`password_short`): its values; left out "
        "otherwise.",
    )


class Unprocessable(BaseModel):
    """The request does not fit: `detail` names every field, `errors` lists them (a field's
    `type` is the stable name of its problem)."""

    detail: str = Field(description="The reason, one line, for a person.")

    errors: list[FieldProblem]


def unprocessable(
    message: str, *loc: str, kind: str = "value_error", params: dict[str, str] | None = None
) -> RequestValidationError:
    """A 422 of the route's own, as pydantic's are: `raise unprocessable(why, "query", "state")`;
    `kind` is the field's `type` (a stable word the page turns into its own wording), `params`
    its values."""
    error: dict[str, Any] = {"loc": loc, "msg": message, "type": kind}
    if params:
        error["params"] = params
    return RequestValidationError([error])


def unprocessable_error(error: ChuongError, *loc: str) -> RequestValidationError:
    """The 422 of a `ChuongError`, its code as the field's type (else `value_error`)."""
    return unprocessable(str(error), *loc, kind=error.code or "value_error", params=error.params)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route's error statuses (404, 409, …)."""
    return {code: {"model": Problem} for code in statuses}


async def _unprocessable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_field(error) for error in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors)
    body = Unprocessable(detail=detail, errors=errors)
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=UNPROCESSABLE)


def _field(error: Any) -> FieldProblem:
    loc: Sequence[Any] = error.get("loc", ())
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    params = error.get("params")
    kind = str(error.get("type", "value_error"))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, CodedValueError):  # a validator's refusal with a code of its own
        kind, params = cause.code, cause.params
    return FieldProblem(
        loc=[part if isinstance(part, int) else str(part) for part in loc],
        msg=message,
        type=kind,
        params={str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else None,
    )


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own answer to an HTTPException (`{"detail"}`, its headers), with the code."""
    assert isinstance(exc, StarletteHTTPException)
    body: dict[str, Any] = {"detail": exc.detail}
    if isinstance(exc, Refused) and exc.code is not None:
        body["code"] = exc.code
        body["params"] = exc.params
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def install(app: FastAPI) -> None:
    """The 422 handler, the refusals' handler, and the OpenAPI description of the 422 body in
    place of FastAPI's."""
    app.add_exception_handler(RequestValidationError, _unprocessable)
    app.add_exception_handler(StarletteHTTPException, _refused)

    described = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = described()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            if "HTTPValidationError" in components:
                shape = Unprocessable.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(shape.pop("$defs", {}))
                components["HTTPValidationError"] = shape
        return app.openapi_schema or described()

    app.openapi = openapi  # type: ignore[method-assign]
