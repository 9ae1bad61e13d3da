"""devices/esphome/chuong-button.yaml, the reference DIY button, validated by ESPHome itself
(`esphome config`, from the .venv-esphome that `make test` installs: ESPHome pins paho-mqtt 1.x,
which the hub cannot share a venv with)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "devices" / "esphome" / "chuong-button.yaml"


def esphome() -> str:
    found = os.environ.get("CHUONG_ESPHOME") or str(ROOT / ".venv-esphome" / "bin" / "esphome")
    if not Path(found).exists():
        pytest.fail(f"ESPHome is not installed at {found}: run `make test`, which installs it")
    return found


def validate(tmp_path: Path, text: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "button.yaml").write_text(text)
    shutil.copy(CONFIG.parent / "secrets.example.yaml", tmp_path / "secrets.yaml")
    shutil.copy(CONFIG.parent / "chuong_sign.h", tmp_path / "chuong_sign.h")
    return subprocess.run(
        [esphome(), *options, "config", str(tmp_path / "button.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def test_the_reference_button_is_a_valid_esphome_config_on_the_contracts_topics(
    tmp_path: Path,
) -> None:
    """ESPHome accepts it; with the button id `vcb-quay-1` it publishes its event, heartbeat and
    status (birth and last will, retained) on the contract's topics and listens on its ack."""
    result = validate(tmp_path, CONFIG.read_text(), "-s", "button_id", "vcb-quay-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration is valid!" in result.stdout + result.stderr
    text = result.stdout
    status = "chuong/v1/dev/vcb-quay-1/status"
    for message, online in (("birth_message", "true"), ("will_message", "false")):
        block = (
            f"  {message}:\n    topic: {status}\n    payload: '{{\"online\":{online}}}'\n"
            "    qos: 1\n    retain: true\n"
        )
        assert block in text, message
    assert "  username: vcb-quay-1\n" in text
    assert "  keepalive: 15s\n" in text
    assert "  - topic: chuong/v1/dev/vcb-quay-1/ack\n      qos: 1\n" in text
    assert "topic: chuong/v1/dev/vcb-quay-1/event" in text
    assert "topic: chuong/v1/dev/vcb-quay-1/heartbeat" in text
    assert "return false;" in text  # the buzzer stays silent unless asked for


def test_a_broken_config_is_refused(tmp_path: Path) -> None:
    """The check can fail: a keepalive that is not a time is an error."""
    broken = CONFIG.read_text().replace("keepalive: 15s", "keepalive: soon")
    result = validate(tmp_path, broken)
    assert result.returncode != 0
