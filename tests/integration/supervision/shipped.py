"""The Mosquitto configuration shipped in config/mosquitto/, run by a real Mosquitto with only its
paths, ports and log changed: what a post runs, in a test's private directory."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from simulator.broker import Mosquitto

SHIPPED = Path(__file__).parents[3] / "config" / "mosquitto"


def shipped_config(
    work: Path, port: int, *, passwd: Path, acl: Path, conf_d: Path, own_user: bool = True
) -> str:
    """config/mosquitto/mosquitto.conf for a broker on 127.0.0.1:`port` keeping its state and
    log in `work`. As root, `own_user` keeps the broker the user that started it; otherwise it
    drops to the `mosquitto` user, as on a post, which must then be able to read everything."""
    conf = (SHIPPED / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/var/lib/mosquitto/", f"{work}/")
    conf = conf.replace("/etc/mosquitto/chuong/passwd", str(passwd))
    conf = conf.replace("/etc/mosquitto/chuong/acl", str(acl))
    conf = conf.replace("/etc/mosquitto/conf.d", str(conf_d))
    conf = conf.replace("log_dest syslog", f"log_dest file {work / 'mosquitto.log'}")
    if own_user and os.geteuid() == 0:
        conf += f"user {getpass.getuser()}\n"
    settings = [line for line in conf.splitlines() if not line.startswith("#")]
    left = [line for line in settings if re.search(r"/etc/|/var/", line)]
    assert left == [], "a path of the shipped config was not replaced"
    return conf


class ShippedMosquitto(Mosquitto):
    """`simulator.broker.Mosquitto` (start, stop, kill) running the shipped configuration."""

    def __init__(self, workdir: Path, *, passwd: Path, acl: Path, own_user: bool = True) -> None:
        super().__init__(workdir, password_file=passwd, acl_file=acl)
        self.own_user = own_user

    def write_config(self) -> Path:
        conf_d = self.workdir / "conf.d"
        conf_d.mkdir(parents=True, exist_ok=True)
        assert self.password_file is not None
        assert self.acl_file is not None
        text = shipped_config(
            self.workdir,
            self.port,
            passwd=self.password_file,
            acl=self.acl_file,
            conf_d=conf_d,
            own_user=self.own_user,
        )
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path


def shipped_with_users(work: Path, users: Mapping[str, str]) -> ShippedMosquitto:
    """The shipped config with these users (name: password), each allowed everything under
    `chuong/`: for tests about the broker's queues and persistence rather than its ACL."""
    work.mkdir(parents=True, exist_ok=True)
    passwd, acl = work / "passwd", work / "acl"
    passwd.write_text("".join(f"{name}:{password}\n" for name, password in users.items()))
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True)
    acl.write_text("".join(f"user {name}\ntopic readwrite chuong/#\n" for name in users))
    return ShippedMosquitto(work / "broker", passwd=passwd, acl=acl)
