"""The shipped systemd unit is valid and hardened (checked by systemd itself)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).parents[2] / "systemd" / "chuong-hub.service"


def _installed_copy(tmp_path: Path) -> Path:
    """The unit with its /opt/chuong paths pointing at this checkout's virtualenv."""
    venv = Path(sys.executable).parent.parent
    copy = tmp_path / "chuong-hub.service"
    copy.write_text(UNIT.read_text().replace("/opt/chuong/.venv", str(venv)))
    return copy


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit (syntax, directives, executables)."""
    result = subprocess.run(
        ["systemd-analyze", "verify", str(_installed_copy(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "chuong-hub.service" not in result.stderr, result.stderr


def test_unit_is_notify_with_watchdog_and_hardening() -> None:
    """Type=notify with a watchdog, config checked before start, a dedicated user, and the
    hardening the deployment relies on."""
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=30",
        "ExecStartPre=/opt/chuong/.venv/bin/chuong check-config",
        "User=chuong",
        "ProtectSystem=strict",
        "StateDirectory=chuong",
        "NoNewPrivileges=true",
        "Restart=always",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), line


def test_unit_exposure_is_low(tmp_path: Path) -> None:
    """`systemd-analyze security` rates the unit's exposure 2.5 or better (lower is safer)."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(_installed_copy(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for chuong-hub.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5
