"""One shape for every error the API answers: `{"detail": "<the reason, one line>"}`.

A 422 (the request does not fit: a body field, a query parameter) has the same `detail`, naming
each field (`body.outcome: Field required; query.limit: …`), and also `errors`, the fields one by
one: `[{"loc": ["body", "outcome"], "msg": "Field required", "type": "missing"}]`. Whether
pydantic found the problem or the route did (an unknown state filter), the body is the same, and
the OpenAPI description says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

UNPROCESSABLE = 422  # the name of the status changed across Starlette versions


class Problem(BaseModel):
    """Why a request failed."""

    detail: str = Field(description="The reason, one line, for a person.")


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", "outcome"], ["query", "limit"].')
    msg: str
    type: str


class Unprocessable(Problem):
    """The request does not fit: `detail` names every field, `errors` lists them."""

    errors: list[FieldProblem]


def unprocessable(message: str, *loc: str) -> RequestValidationError:
    """A 422 of the route's own, as pydantic's are: `raise unprocessable(why, "query", "state")`."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route's error statuses (404, 409, …)."""
    return {code: {"model": Problem} for code in statuses}


async def _unprocessable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_field(error) for error in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors)
    body = Unprocessable(detail=detail, errors=errors)
    return JSONResponse(body.model_dump(mode="json"), status_code=UNPROCESSABLE)


def _field(error: Any) -> FieldProblem:
    loc: Sequence[Any] = error.get("loc", ())
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return FieldProblem(
        loc=[part if isinstance(part, int) else str(part) for part in loc],
        msg=message,
        type=str(error.get("type", "value_error")),
    )


def install(app: FastAPI) -> None:
    """The 422 handler, and the OpenAPI description of its body in place of FastAPI's."""
    app.add_exception_handler(RequestValidationError, _unprocessable)

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
