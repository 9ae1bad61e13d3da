"""schemathesis against the hub's own OpenAPI spec: whatever a client sends, never a 5xx.

Every operation of the spec (the routes of later parts included, automatically) is called with
generated valid and invalid inputs by an admin token, against a real hub process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from simulator.broker import Mosquitto, free_port

EXAMPLES = int(os.environ.get("PROOF_API_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def hub_url_and_token() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        broker = Mosquitto(work / "mosquitto").start()
        port = free_port()
        env = {
            **os.environ,
            "CHUONG_HUB__ID": "post",
            "CHUONG_MQTT__PORT": str(broker.port),
            "CHUONG_STORE__PATH": str(work / "hub.db"),
            "CHUONG_HTTP__PORT": str(port),
        }
        created = subprocess.run(
            [sys.executable, "-m", "hub", "token", "create", "--name", "fuzz", "--role", "admin"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        with (work / "hub.log").open("wb") as log:
            hub = subprocess.Popen(
                [sys.executable, "-m", "hub", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                            break
                    assert hub.poll() is None, (work / "hub.log").read_text()
                    assert time.monotonic() < deadline, "the hub did not become ready"
                    time.sleep(0.1)
                yield url, created.stdout.strip()
                assert hub.poll() is None, "the hub died under the fuzzing"
                assert "Traceback" not in (work / "hub.log").read_text()
            finally:
                hub.terminate()
                hub.wait(20)
                broker.kill()


def test_no_input_makes_the_api_fail(hub_url_and_token: tuple[str, str]) -> None:
    """Every operation but the endless live stream, called with EXAMPLES generated valid and
    EXAMPLES generated invalid requests each, answers below 500, and the hub keeps running."""
    url, token = hub_url_and_token
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json").exclude(path="/api/v1/stream")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    calls: list[int] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            def call(case: schemathesis.Case) -> None:
                response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"})
                calls.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")
                assert response.status_code < 500

            try:
                call()
            except AssertionError:
                pass  # collected in `failures`, reported together below
            except Unsatisfiable:
                # An operation with no input at all has no invalid request to generate.
                assert mode is GenerationMode.NEGATIVE, f"no valid request for {operation.label}"
    assert failures == []
    assert len(calls) >= len(operations) * EXAMPLES, "the generator made too few requests"
    assert {200, 422} <= set(calls), "neither accepted nor refused requests were generated"


EXTREMES: Final = {
    "date-time": [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59.999999",
        "0001-01-01T00:00:00",
    ],
    "integer": ["-1", "0", str(2**63), str(-(2**63) - 1), "9" * 400],
    "number": ["1e309", "-1e309", "nan", "inf"],
    "string": ["", "\u0000", "x" * 8000, "ệ" * 2000, "../../etc/passwd", "%00"],
}
"""Values at and past the edges of each kind of parameter, which random generation rarely
reaches (a time with no UTC form was a 500 before issue 13)."""


def _kinds(schema: dict[str, Any]) -> set[str]:
    """The kinds of a parameter's schema: its format if it has one, else its type."""
    found: set[str] = set()
    for option in schema.get("anyOf", [schema]):
        kind = option.get("format") or option.get("type")
        if kind in EXTREMES:
            found.add(kind)
        elif "enum" in option or "$ref" in option:
            found.add("string")
    return found


def test_extreme_parameter_values_never_make_the_api_fail(
    hub_url_and_token: tuple[str, str],
) -> None:
    """Every query and path parameter of every operation, one at a time, set to each extreme
    value of its kind (times with no UTC form, 400-digit integers, infinities, NUL bytes, long
    strings): never a 5xx."""
    url, token = hub_url_and_token
    spec = httpx.get(f"{url}/openapi.json", timeout=10).json()
    failures: list[str] = []
    calls = 0
    with httpx.Client(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        for path, operations in spec["paths"].items():
            if path == "/api/v1/stream":
                continue
            for method, operation in operations.items():
                parameters = [p for p in operation.get("parameters", []) if p["in"] != "header"]
                plain = {p["name"]: "x" for p in parameters if p["in"] == "path"}
                for parameter in parameters:
                    for kind in _kinds(parameter.get("schema", {})):
                        for value in EXTREMES[kind]:
                            query, route = {}, {**plain}
                            if parameter["in"] == "path":
                                route[parameter["name"]] = quote(value, safe="") or "x"
                            else:
                                query[parameter["name"]] = value
                            target = path.format(**route)
                            response = api.request(method.upper(), target, params=query)
                            calls += 1
                            if response.status_code >= 500:
                                failures.append(
                                    f"{method.upper()} {target} {query}: {response.status_code}"
                                )
    assert failures == []
    assert calls >= 100, calls
