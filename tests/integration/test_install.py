"""The post as installed: `make install-post` into a fresh tree, then the installed broker config
and the hub run as the machine would run them, and a button's press becomes an alarm.

systemd is not PID 1 on a test machine, so the unit's process is rebuilt from the installed unit
file itself: its User, Group, SupplementaryGroups, Environment, EnvironmentFile, LimitNOFILE,
UMask, WorkingDirectory, ExecStartPre and ExecStart (with the tree's paths for /etc, /opt and
/var/lib). Mosquitto is started as root with the installed config, as Debian's unit starts it: it
drops to the `mosquitto` user before it reads the password file and the ACL, as on a post.

Like the installer, the tests make the system user `chuong` on this machine (root only).
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import re
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import tomllib
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.broker import free_port
from simulator.button import VirtualButton
from tests.conftest import wait_for, wait_hub_ready

pytestmark = pytest.mark.sqlite_only(
    "the installer lays out a post with its SQLite store (/var/lib/chuong/chuong.db, mode 0600)"
)

REPO = Path(__file__).parents[2]
SERVICE_USER = "chuong"
BUTTON = "vcb-quay-1"  # a button of config/registry.example.toml

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True)
def _as_on_a_post() -> None:
    """Installing a post needs root and useradd: missing, the test fails and says so (CI runs
    as root on Debian); it never passes by being skipped."""
    assert os.geteuid() == 0, "installing a post needs root: run make test as root"
    assert shutil.which("useradd"), "needs useradd (Debian's passwd package)"


def unit_directives(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every directive in a unit file, in order (keys may repeat)."""
    found = []
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def in_tree(tree: Path, value: str) -> str:
    """The unit's absolute paths under /etc, /opt and /var/lib, moved into the installed tree."""
    return re.sub(r"(?<![\w/])/(etc|opt|var/lib)/", lambda m: f"{tree}/{m.group(1)}/", value)


class ServiceProcess:
    """What systemd would start for the unit, without systemd."""

    def __init__(self, tree: Path, unit: Path, extra_env: dict[str, str]) -> None:
        directives = unit_directives(unit)
        values: dict[str, list[str]] = {}
        for key, value in directives:
            values.setdefault(key, []).append(value)
        self.user = values["User"][0]
        self.group = values["Group"][0]
        self.groups = [g for line in values.get("SupplementaryGroups", []) for g in line.split()]
        # The unit's limit, or the most this machine lets the test give (a container without
        # CAP_SYS_RESOURCE cannot raise its hard limit; systemd can).
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.nofile = min(int(values["LimitNOFILE"][0]), hard)
        self.umask = int(values["UMask"][0], 8)
        self.cwd = in_tree(tree, values["WorkingDirectory"][0])
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        for line in values.get("Environment", []):
            key, _, value = line.partition("=")
            env[key] = in_tree(tree, value)
        for line in values.get("EnvironmentFile", []):
            path = Path(in_tree(tree, line.removeprefix("-")))
            if path.exists() or not line.startswith("-"):
                for text in path.read_text().splitlines():
                    if text.strip() and not text.lstrip().startswith("#"):
                        key, _, value = text.partition("=")
                        env[key.strip()] = value.strip()
        env.update(extra_env)
        self.env = env
        self.pre = [in_tree(tree, line).split() for line in values.get("ExecStartPre", [])]
        self.start_argv = in_tree(tree, values["ExecStart"][0]).split()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tree / "hub.log"

    def _as_service(self, argv: list[str]) -> list[str]:
        return [
            "setpriv",
            f"--reuid={self.user}",
            f"--regid={self.group}",
            f"--groups={','.join(self.groups)}" if self.groups else "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            *argv,
        ]

    def _limits(self) -> None:
        os.umask(self.umask)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def run_pre(self) -> None:
        for argv in self.pre:
            result = subprocess.run(
                self._as_service(argv),
                env=self.env,
                cwd=self.cwd,
                preexec_fn=self._limits,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self._as_service(self.start_argv),
                env=self.env,
                cwd=self.cwd,
                preexec_fn=self._limits,  # noqa: PLW1509
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def tree() -> Iterator[Path]:
    """A fresh root for the install, where the service's user and Mosquitto's can reach it
    (pytest's own temporary directories are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="chuong-post-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def documented_install() -> str:
    """The install command of docs/INSTALL.md, step 1: the last line of its first sh block (the
    lines before it install git and clone the repository)."""
    text = (REPO / "docs/INSTALL.md").read_text()
    block = re.search(r"## 1\. Install\s+```sh\n(.*?)```", text, re.DOTALL)
    assert block, "docs/INSTALL.md has no install block"
    return block.group(1).strip().splitlines()[-1]


def install(tree: Path, command: str | None = None) -> None:
    """The documented command, run in the clone into the tree (make takes DESTDIR from the
    environment, as a packager's build does)."""
    result = subprocess.run(
        ["bash", "-c", command or documented_install()],
        cwd=REPO,
        env={**os.environ, "DESTDIR": str(tree)},
        capture_output=True,
        text=True,
        check=False,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Left to do" in result.stdout or "removed" in result.stdout, result.stdout


def mode_owner(path: Path) -> tuple[int, str, str]:
    st = path.stat()
    return (
        stat.S_IMODE(st.st_mode),
        pwd.getpwuid(st.st_uid).pw_name,
        grp.getgrgid(st.st_gid).gr_name,
    )


def chuong(tree: Path, *args: str) -> str:
    """The installed `chuong` wrapper, as the installer runs it (root, the post's config)."""
    result = subprocess.run(
        [str(tree / "usr/local/bin/chuong"), *args],
        env={**os.environ, "CHUONG_STORE__PATH": str(tree / "var/lib/chuong/chuong.db")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"chuong {args}: {result.stdout}{result.stderr}"
    return result.stdout


def broker_config(tree: Path, port: int) -> Path:
    """The installed mosquitto.conf, with the tree's paths, a free port and the log on stderr."""
    persistence = tree / "var/lib/mosquitto"
    persistence.mkdir(parents=True, exist_ok=True)
    shutil.chown(persistence, "mosquitto", "mosquitto")
    text = (tree / "etc/mosquitto/mosquitto.conf").read_text()
    text = in_tree(tree, text)
    text = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", text, flags=re.MULTILINE)
    text = re.sub(r"^log_dest syslog$", "log_dest stderr", text, flags=re.MULTILINE)
    path = tree / "broker.conf"
    path.write_text(text)
    return path


def read(path: Path) -> str:
    return path.read_text(errors="replace")


def start_broker(tree: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Mosquitto as Debian's unit starts it: as root, dropping to `mosquitto` by itself."""
    with log_path.open("ab") as log:
        argv = ["mosquitto", "-c", str(broker_config(tree, port))]
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


async def wait_port(port: int, broker: subprocess.Popen[bytes], log: Path) -> None:
    async def listening() -> bool:
        if broker.poll() is not None:
            pytest.fail(f"mosquitto exited with {broker.returncode}:\n{read(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await wait_for(listening, 30)


async def wait_ready(service: ServiceProcess, url: str) -> None:
    assert service.process is not None
    await wait_hub_ready(service.process, url, lambda: read(service.log), 60)


async def press_becomes_alarm(port: int, url: str, token: str, password: str, count: int) -> None:
    """The button, logging in with its generated password, presses; the hub records it (the
    button hears `received`) and the alarm has `count` presses."""
    button = VirtualButton(BUTTON, port=port, username=BUTTON, password=password)
    await button.connect(timeout=30)
    try:
        press = await button.press()
        assert press.acked_by_broker, "the broker refused the button's press"
        await button.wait_ack(press.event_id, timeout=30)
    finally:
        await button.close()
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            f"{url}/api/v1/alarms", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 200, answer.text
    alarms = [a for a in answer.json() if BUTTON in a["devices"]]
    assert len(alarms) == 1, alarms
    assert alarms[0]["press_count"] == count


async def heartbeat_is_heard(port: int, url: str, token: str, password: str) -> None:
    """The button's heartbeat reaches the hub on its telemetry connection, logged in as the
    installer made it: the battery it carries is the device's."""
    button = VirtualButton(BUTTON, port=port, username=BUTTON, password=password)
    await button.connect(timeout=30)
    try:
        await button.heartbeat(battery=77)
    finally:
        await button.close()

    async def heard() -> bool:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(
                f"{url}/api/v1/devices/{BUTTON}", headers={"Authorization": f"Bearer {token}"}
            )
        return answer.status_code == 200 and answer.json().get("battery") == 77

    await wait_for(heard, 30)


def passwords(tree: Path) -> dict[str, str]:
    text = (tree / "etc/mosquitto/chuong/credentials.toml").read_text()
    users = tomllib.loads(text)["users"]
    assert isinstance(users, dict)
    return {str(k): str(v) for k, v in users.items()}


def env_values(path: Path) -> dict[str, str]:
    """The variables of an environment file, as systemd's EnvironmentFile= reads them."""
    lines = path.read_text().splitlines()
    pairs = [line.partition("=") for line in lines if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, _, value in pairs}


def test_the_installer_lays_out_a_post_readable_by_the_service_only(tree: Path) -> None:
    """docs/INSTALL.md's `make install-post`, into a tree, makes the layout the unit needs: the
    config root:chuong 0640 in a root:chuong 0750 directory, the state directory the service's,
    the store 0600 and the service's even though root made it, the code root's; hub.env holds
    the hub's broker login and its telemetry connection's password. Run again (an upgrade), it
    keeps the config, and adds the telemetry password to a hub.env from before it. Uninstalled,
    the data stays; purged, it goes."""
    install(tree)
    assert mode_owner(tree / "etc/chuong") == (0o750, "root", SERVICE_USER)
    assert mode_owner(tree / "etc/chuong/hub.toml") == (0o640, "root", SERVICE_USER)
    assert mode_owner(tree / "etc/chuong/hub.env") == (0o640, "root", SERVICE_USER)
    assert mode_owner(tree / "var/lib/chuong") == (0o750, SERVICE_USER, SERVICE_USER)
    assert mode_owner(tree / "var/lib/chuong/chuong.db") == (0o600, SERVICE_USER, SERVICE_USER)
    assert mode_owner(tree / "opt/chuong/.venv/bin/chuong")[1:] == ("root", "root")
    with wave.open(str(tree / "usr/share/sounds/chuong/siren.wav")) as siren:  # the example's
        assert (siren.getnchannels(), siren.getsampwidth()) == (1, 2)
        assert siren.getnframes() / siren.getframerate() >= 5
    unit = tree / "etc/systemd/system/chuong-hub.service"
    assert unit.read_bytes() == (REPO / "systemd/chuong-hub.service").read_bytes()
    service_groups = {g.gr_name for g in grp.getgrall() if SERVICE_USER in g.gr_mem}
    for group in ("dialout", "audio"):
        with_group = group in {g.gr_name for g in grp.getgrall()}
        assert (group in service_groups) == with_group, service_groups

    env_path = tree / "etc/chuong/hub.env"
    logins = env_values(env_path)
    users = passwords(tree)
    assert logins == {
        "CHUONG_MQTT__USERNAME": "chuong-hub",
        "CHUONG_MQTT__PASSWORD": users["chuong-hub"],
        "CHUONG_MQTT__TELEMETRY_PASSWORD": users["chuong-hub-telemetry"],
    }

    hub_toml = tree / "etc/chuong/hub.toml"
    hub_toml.write_text(hub_toml.read_text() + "\n# the installer's own edit\n")
    hub_env = env_path.read_text()
    install(tree)
    assert hub_toml.read_text().endswith("# the installer's own edit\n")
    assert env_path.read_text() == hub_env

    # An upgrade from before the telemetry connection: hub.env has the hub's login only (and an
    # edit of the installer's); the telemetry password is added, the rest kept as it was.
    old = "".join(
        line + "\n"
        for line in hub_env.splitlines()
        if "TELEMETRY" not in line and "telemetry" not in line
    )
    env_path.write_text(old + "# the installer's own note")
    install(tree)
    assert env_path.read_text().startswith(old + "# the installer's own note\n")
    assert env_values(env_path) == logins
    assert mode_owner(env_path) == (0o640, "root", SERVICE_USER)
    assert not env_path.with_name("hub.env.new").exists()

    install(tree, "make uninstall-post")
    assert not (tree / "opt/chuong").exists()
    assert not (tree / "usr/share/sounds/chuong").exists()
    assert not unit.exists()
    assert hub_toml.exists()
    assert (tree / "var/lib/chuong/chuong.db").exists()
    install(tree, "make uninstall-post PURGE=1")
    assert not (tree / "etc/chuong").exists()
    assert not (tree / "var/lib/chuong").exists()


async def test_the_installed_post_turns_a_press_into_an_alarm_and_survives_new_credentials(
    tree: Path,
) -> None:
    """Installed into a tree: the broker runs the installed config (dropping to `mosquitto`),
    the hub runs as `chuong` with the unit's environment and limits; after a registry import and
    `registry credentials`, a button's press with its generated password becomes an alarm. Then
    credentials are generated again and the broker reloaded (SIGHUP): the same button and the
    hub (restarted) still connect, and the second press joins the alarm."""
    install(tree)
    chuong(tree, "registry", "import", str(REPO / "config/registry.example.toml"))
    chuong(tree, "registry", "credentials", "--dir", str(tree / "etc/mosquitto/chuong"))
    token = chuong(tree, "token", "create", "--name", "install-test", "--role", "viewer").split()[
        -1
    ]

    port, http_port = free_port(), free_port()
    broker_log = tree / "mosquitto.log"
    broker = start_broker(tree, port, broker_log)
    unit = tree / "etc/systemd/system/chuong-hub.service"
    service = ServiceProcess(
        tree,
        unit,
        {"CHUONG_MQTT__PORT": str(port), "CHUONG_HTTP__PORT": str(http_port)},
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        await wait_port(port, broker, broker_log)
        service.run_pre()  # chuong check-config, as the service's user
        service.start()
        await wait_ready(service, url)
        assert service.process is not None
        limits = read(Path(f"/proc/{service.process.pid}/limits"))
        assert re.search(rf"Max open files\s+{service.nofile}\s+{service.nofile}", limits), limits
        status = read(Path(f"/proc/{service.process.pid}/status"))
        assert re.search(rf"^Uid:\s+{pwd.getpwnam(SERVICE_USER).pw_uid}\s", status, re.M)

        await press_becomes_alarm(port, url, token, passwords(tree)[BUTTON], count=1)
        await heartbeat_is_heard(port, url, token, passwords(tree)[BUTTON])
        hub_log = read(service.log)
        assert "mqtt-telemetry: subscribed to chuong/v1/dev/+/heartbeat" in hub_log, hub_log
        assert "no telemetry login" not in hub_log

        before = passwords(tree)
        chuong(tree, "registry", "credentials", "--dir", str(tree / "etc/mosquitto/chuong"))
        assert passwords(tree) == before
        broker.send_signal(signal.SIGHUP)
        service.stop()
        service.start()
        await wait_ready(service, url)
        await press_becomes_alarm(port, url, token, before[BUTTON], count=2)
        state = tree / "var/lib/chuong"
        for name in ("chuong.db", "chuong.db-wal", "chuong.db-shm"):
            assert mode_owner(state / name) == (0o600, SERVICE_USER, SERVICE_USER), name
    finally:
        service.stop()
        broker.terminate()
        broker.wait(30)
