"""The shipped systemd unit is valid and hardened (checked by systemd itself)."""

from __future__ import annotations

import grp
import os
import re
import stat
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
        "LimitNOFILE=65536",
        "UMask=0027",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), line


def test_unit_reaches_the_modem_and_the_siren_and_no_other_device() -> None:
    """The SMS notifier's USB modem (group dialout) and the siren through ALSA (group audio) are
    reachable: no PrivateDevices= to hide them, the two device classes allowed, the groups given.
    Every other device stays closed."""
    text = UNIT.read_text()
    assert not re.search(r"^PrivateDevices=(true|yes)", text, re.MULTILINE)
    assert re.search(r"^DevicePolicy=closed$", text, re.MULTILINE)
    allowed = set(re.findall(r"^DeviceAllow=(\S+) rw$", text, re.MULTILINE))
    assert allowed == {"char-ttyUSB", "char-ttyACM", "char-alsa"}
    [groups] = re.findall(r"^SupplementaryGroups=(.*)$", text, re.MULTILINE)
    assert set(groups.split()) == {"dialout", "audio"}


def test_the_headers_install_commands_make_the_installers_layout(tmp_path: Path) -> None:
    """The unit's header gives the install by hand; run in a throwaway root, its commands make the
    same owners and modes as `make install-post` promises (the test of the installer itself is
    tests/integration/test_install.py). useradd, pip and systemctl are left out."""
    commands = [
        line.removeprefix("#   ")
        for line in UNIT.read_text().splitlines()
        if line.startswith("#   install ")
    ]
    assert len(commands) >= 4, commands
    root = tmp_path / "root"
    script = "\n".join(
        re.sub(r"(?<=\s)/(etc|var)/", f"{root}/\\1/", command) for command in commands
    )
    group = "root" if os.geteuid() != 0 else _service_group()
    script = "set -e\n" + script.replace("chuong:chuong", f"{group}:{group}")
    script = re.sub(r"-([og]) chuong\b", rf"-\1 {group}", script)
    (root / "etc/systemd/system").mkdir(parents=True)
    subprocess.run(["bash", "-c", script], cwd=UNIT.parents[1], check=True)
    layout = {
        path.relative_to(root).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in root.rglob("*")
    }
    assert layout["etc/chuong"] == 0o750
    assert layout["etc/chuong/hub.toml"] == 0o640
    assert layout["var/lib/chuong"] == 0o750
    assert layout["etc/systemd/system/chuong-hub.service"] == 0o644
    assert (root / "etc/chuong/hub.toml").stat().st_gid == grp.getgrnam(group).gr_gid


def _service_group() -> str:
    """`chuong` when the machine has it (the install test made it), else root's group."""
    try:
        grp.getgrnam("chuong")
    except KeyError:
        return "root"
    return "chuong"


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
