"""The HTTP API: roles on the alarms, and 404/409/422 with reasons. (Every route for every kind
of caller: tests/faults/test_auth_matrix.py.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hub.domain.model import Role
from simulator.button import VirtualButton
from tests.conftest import RunningHub

pytestmark = pytest.mark.both_stores
"""Every test here runs on SQLite and on PostgreSQL."""

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]


@pytest.mark.parametrize(
    ("role", "read", "ack", "resolve_active"),
    [(Role.VIEWER, 200, 403, 403), (Role.OFFICER, 200, 200, 409), (Role.ADMIN, 200, 200, 200)],
)
async def test_roles(
    start_hub: StartHub, buttons: Buttons, role: Role, read: int, ack: int, resolve_active: int
) -> None:
    """Viewers read; officers acknowledge (and resolve only acknowledged alarms); admins may also
    resolve an alarm nobody acknowledged."""
    running = await start_hub()
    button = await buttons("bank-1")
    first = await button.press()
    alarm_id = (await button.wait_ack(first.event_id)).ack.alarm
    client = running.api(role)
    assert (await client.get("/api/v1/alarms")).status_code == read
    assert (await client.get(f"/api/v1/alarms/{alarm_id}")).status_code == read
    assert (await client.get("/api/v1/devices")).status_code == read
    assert (await client.get("/api/v1/sites")).status_code == read
    assert (await client.get("/api/v1/troubles")).status_code == read
    body = {"outcome": "genuine", "note": "xong"}
    response = await client.post(f"/api/v1/alarms/{alarm_id}/resolve", json=body)
    assert response.status_code == resolve_active, response.text
    if resolve_active == 403:
        assert "officer" in response.json()["detail"]
    if resolve_active == 409:
        assert "acknowledged before" in response.json()["detail"]
    if resolve_active != 200:
        response = await client.post(f"/api/v1/alarms/{alarm_id}/ack")
        assert response.status_code == ack, response.text


async def test_unknown_alarm_is_404(start_hub: StartHub) -> None:
    """Reading, acknowledging or resolving an alarm that does not exist: 404 with the id."""
    running = await start_hub()
    api = running.api()
    for response in (
        await api.get("/api/v1/alarms/post-999"),
        await api.post("/api/v1/alarms/post-999/ack"),
        await api.post("/api/v1/alarms/post-999/resolve", json={"outcome": "other", "note": "x"}),
        await api.get("/api/v1/devices/nobody"),
    ):
        assert response.status_code == 404
        assert "999" in response.json()["detail"] or "nobody" in response.json()["detail"]


async def test_invalid_transitions_are_409(start_hub: StartHub, buttons: Buttons) -> None:
    """Acknowledging twice, or acknowledging or resolving a resolved alarm: 409 with the reason."""
    running = await start_hub()
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    api = running.api(Role.OFFICER)
    assert (await api.post(f"/api/v1/alarms/{alarm_id}/ack")).status_code == 200
    twice = await api.post(f"/api/v1/alarms/{alarm_id}/ack")
    assert twice.status_code == 409
    assert "already acknowledged by token:test-officer" in twice.json()["detail"]
    body = {"outcome": "false_alarm", "note": "bấm nhầm"}
    assert (await api.post(f"/api/v1/alarms/{alarm_id}/resolve", json=body)).status_code == 200
    for response in (
        await api.post(f"/api/v1/alarms/{alarm_id}/ack"),
        await api.post(f"/api/v1/alarms/{alarm_id}/resolve", json=body),
    ):
        assert response.status_code == 409
        assert "resolved" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "genuine"}, "note"),
        ({"outcome": "genuine", "note": "   "}, "note"),
        ({"outcome": "won", "note": "x"}, "outcome"),
        ({"note": "x"}, "outcome"),
        ({"outcome": "genuine", "note": "x" * 2001}, "note"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(
    start_hub: StartHub, buttons: Buttons, body: dict[str, str], field: str
) -> None:
    """A resolve without an outcome or a note (or with a bad one) is 422, naming the field."""
    running = await start_hub()
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    response = await running.api().post(f"/api/v1/alarms/{alarm_id}/resolve", json=body)
    assert response.status_code == 422
    assert_unprocessable(response.json())
    assert any(field in error["loc"] for error in response.json()["errors"])
    assert f"body.{field}: " in response.json()["detail"]


async def test_bad_query_is_422(start_hub: StartHub) -> None:
    """An unknown state filter or an out-of-range limit is 422 with the reason."""
    running = await start_hub()
    api = running.api(Role.VIEWER)
    response = await api.get("/api/v1/alarms", params={"state": "burning"})
    assert response.status_code == 422
    assert_unprocessable(response.json())
    assert "query.state: unknown state 'burning'" in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["query", "state"]
    limited = await api.get("/api/v1/alarms", params={"limit": 0})
    assert limited.status_code == 422
    assert_unprocessable(limited.json())
    assert limited.json()["detail"].startswith("query.limit: ")
    month = await api.get("/api/v1/reports/monthly", params={"month": "2026-13"})
    assert month.status_code == 422
    assert_unprocessable(month.json())


def assert_unprocessable(body: dict[str, Any]) -> None:
    """Every 422, pydantic's or the route's own, has one shape: `detail` (one line) and
    `errors` (each with loc, msg, type)."""
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["errors"]
    assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])


async def test_the_openapi_description_lists_the_errors(start_hub: StartHub) -> None:
    """acknowledge and resolve list their 404 and 409; the 422 body is described as it is sent."""
    running = await start_hub()
    spec = (await running.api(None).get("/openapi.json")).json()
    for action in ("ack", "resolve"):
        answers = spec["paths"][f"/api/v1/alarms/{{alarm_id}}/{action}"]["post"]["responses"]
        assert {"200", "404", "409", "422"} <= set(answers)
        problem = answers["409"]["content"]["application/json"]["schema"]["$ref"]
        assert problem == "#/components/schemas/Problem"
    schemas = spec["components"]["schemas"]
    assert set(schemas["HTTPValidationError"]["properties"]) == {"detail", "errors"}
    assert schemas["HTTPValidationError"]["properties"]["detail"]["type"] == "string"


async def test_state_filter_and_health(start_hub: StartHub, buttons: Buttons) -> None:
    """`state=` filters (comma-separated); /healthz and /readyz need no credentials."""
    running = await start_hub()
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    api = running.api(Role.VIEWER)
    assert [
        a["id"]
        for a in (await api.get("/api/v1/alarms", params={"state": "active,acknowledged"})).json()
    ] == [alarm_id]
    assert (await api.get("/api/v1/alarms", params={"state": "resolved"})).json() == []
    anonymous = running.api(None)
    assert (await anonymous.get("/healthz")).json()["status"] == "ok"
    assert (await anonymous.get("/readyz")).json() == {"status": "ready"}
