"""Unit tests of the [supervision] and [profiles] config sections: errors name section.key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.config import load_config
from hub.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("CHUONG_"):
            monkeypatch.delenv(name)


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "chuong.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_defaults() -> None:
    config = load_config()
    assert (config.supervision.offline_after_s, config.supervision.flap_grace_s) == (90, 15)
    assert (config.supervision.clock_ahead_s, config.supervision.clock_behind_s) == (20, 40)
    assert config.profiles.listen == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[supervision]\ntick_s = 0", "supervision.tick_s: Input should be greater than 0"),
        (
            "[supervision]\nlow_battery_percent = 40\nbattery_ok_percent = 30",
            "supervision: battery_ok_percent must be above low_battery_percent",
        ),
        ("[supervision]\nofline_after_s = 60", "supervision.ofline_after_s: unknown key"),
        ('[profiles]\nlisten = ["zigbee"]', "profiles.listen: unknown profile 'zigbee'"),
        ('[profiles]\nzigbee2mqtt_base_topic = "z2m/#"', "profiles.zigbee2mqtt_base_topic"),
        (
            "[supervision.mass_loss]\nwindow_s = 1",
            "supervision.mass_loss.window_s: Input should be greater than or equal to 5",
        ),
        ("[supervision.mass_loss]\nsite_buttons = 1", "supervision.mass_loss.site_buttons: "),
        ("[supervision.mass_loss]\nwindow = 60", "supervision.mass_loss.window: unknown key"),
        (
            "[supervision.mass_loss]\ncommune_percent = 130",
            "supervision.mass_loss.commune_percent: ",
        ),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, text: str, problem: str) -> None:
    found = problems(tmp_path, text)
    assert any(line.startswith(problem) for line in found), found


def test_the_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUONG_SUPERVISION__OFFLINE_AFTER_S", "45")
    monkeypatch.setenv("CHUONG_SUPERVISION__MASS_LOSS__WINDOW_S", "60")
    config = load_config()
    assert config.supervision.offline_after_s == 45
    assert config.supervision.mass_loss.window_s == 60
