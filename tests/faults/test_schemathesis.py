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
