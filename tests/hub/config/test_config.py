"""Unit tests of hub/config: the TOML file, environment overrides, and `chuong check-config`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devices.messages import BUTTON_ID_RE
from hub import cli
from hub.config import load_config
from hub.errors import ConfigError

GOOD = """\
[hub]
id = "xa-phuoc"
name = "Công an xã Phước"

[mqtt]
host = "broker.local"
port = 1884
username = "hub"
password = "s3cret"

[store]
path = "/var/lib/chuong/hub.db"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CHUONG_* variable of the machine running the tests leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("CHUONG_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chuong.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


# -- defaults and the file ------------------------------------------------------------------------


def test_defaults_without_file() -> None:
    """With no file and no environment, the defaults give a hub for a broker on localhost."""
    config = load_config()
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.root) == (
        "127.0.0.1",
        1883,
        "chuong/v1",
    )
    assert config.store.path == Path("var/chuong.db")
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)
    assert config.log.level == "INFO"
    assert BUTTON_ID_RE.match(config.hub.id)
    assert config.client_id == f"chuong-hub-{config.hub.id}"


def test_file_values_are_read(tmp_path: Path) -> None:
    """Values in the TOML file override the defaults; the rest stay default."""
    config = load_config(write(tmp_path, GOOD))
    assert config.hub.id == "xa-phuoc"
    assert config.hub.name == "Công an xã Phước"
    assert (config.mqtt.host, config.mqtt.port) == ("broker.local", 1884)
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.store.path == Path("/var/lib/chuong/hub.db")
    assert config.client_id == "chuong-hub-xa-phuoc"
    assert config.mqtt.keepalive_s == 30


def test_path_given_as_text(tmp_path: Path) -> None:
    """load_config accepts the path as a string too."""
    assert load_config(str(write(tmp_path, GOOD))).hub.id == "xa-phuoc"


def test_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a path argument, the file named by CHUONG_CONFIG is read."""
    monkeypatch.setenv("CHUONG_CONFIG", str(write(tmp_path, GOOD)))
    assert load_config().hub.id == "xa-phuoc"


def test_explicit_client_id(tmp_path: Path) -> None:
    """A fixed mqtt.client_id is used as the client id."""
    config = load_config(write(tmp_path, '[mqtt]\nclient_id = "fixed-id"\n'))
    assert config.client_id == "fixed-id"


# -- environment overrides ------------------------------------------------------------------------


def test_env_overrides_file_and_keeps_the_rest_of_the_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHUONG_MQTT__PORT overrides the file's port; the file's host in that section stays."""
    monkeypatch.setenv("CHUONG_MQTT__PORT", "18830")
    config = load_config(write(tmp_path, GOOD))
    assert config.mqtt.port == 18830
    assert config.mqtt.host == "broker.local"
    assert config.mqtt.username == "hub"


def test_env_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment variables work without a file, for every section."""
    monkeypatch.setenv("CHUONG_STORE__PATH", "/tmp/other.db")
    monkeypatch.setenv("CHUONG_HTTP__PORT", "0")
    monkeypatch.setenv("CHUONG_HUB__ID", "post-7")
    monkeypatch.setenv("CHUONG_LOG__FORMAT", "json")
    config = load_config()
    assert config.store.path == Path("/tmp/other.db")
    assert config.http.port == 0
    assert config.hub.id == "post-7"
    assert config.log.format == "json"


def test_env_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    """chuong_mqtt__port works as CHUONG_MQTT__PORT does."""
    monkeypatch.setenv("chuong_mqtt__port", "1999")
    assert load_config().mqtt.port == 1999


# -- problems, one line each ----------------------------------------------------------------------


def test_unknown_key_in_file(tmp_path: Path) -> None:
    """An unknown key in a section is reported as 'section.key: unknown key'."""
    assert problems(write(tmp_path, "[mqtt]\nfoo = 1\n")) == ["mqtt.foo: unknown key"]


def test_unknown_section_in_file(tmp_path: Path) -> None:
    """An unknown section is reported by name."""
    assert problems(write(tmp_path, "[mqttt]\nport = 1\n")) == [
        "mqttt: unknown key (did you mean mqtt?)"
    ]


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    """A section given as a plain value is reported against the section name."""
    (line,) = problems(write(tmp_path, "mqtt = 5\n"))
    assert line.startswith("mqtt: ")


def test_every_problem_is_reported(tmp_path: Path) -> None:
    """Several bad keys give one line each, not only the first."""
    lines = problems(write(tmp_path, '[mqtt]\nport = 70000\nfoo = 1\n[log]\nlevel = "LOUD"\n'))
    assert sorted(line.split(":")[0] for line in lines) == ["log.level", "mqtt.foo", "mqtt.port"]


def test_bad_value_in_file_names_the_key(tmp_path: Path) -> None:
    """A value out of range in the file names section.key, with no environment source."""
    (line,) = problems(write(tmp_path, "[mqtt]\nport = 70000\n"))
    assert line.startswith("mqtt.port: ")
    assert "65535" in line
    assert "(from" not in line


def test_unknown_env_section_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHUONG_MQTTT__PORT (a typo of the section) is reported naming the variable."""
    monkeypatch.setenv("CHUONG_MQTTT__PORT", "1")
    (line,) = problems()
    assert line.startswith("CHUONG_MQTTT__PORT: unknown section 'mqttt'")
    assert "mqtt" in line.split("known:")[1]


def test_unknown_env_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHUONG_MQTT__FOO is an unknown key, and the line says where it came from."""
    monkeypatch.setenv("CHUONG_MQTT__FOO", "1")
    assert problems() == ["mqtt.foo: unknown key (from CHUONG_MQTT__FOO)"]


def test_bad_env_value_names_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad CHUONG_MQTT__PORT is reported as mqtt.port, saying it came from that variable."""
    monkeypatch.setenv("CHUONG_MQTT__PORT", "abc")
    (line,) = problems(write(tmp_path, GOOD))
    assert line.startswith("mqtt.port: ")
    assert line.endswith("(from CHUONG_MQTT__PORT)")


def test_bad_hub_id_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub id that breaks the id pattern is refused, naming the variable."""
    monkeypatch.setenv("CHUONG_HUB__ID", "Post 7")
    (line,) = problems()
    assert line.startswith("hub.id: must be 1-64")
    assert line.endswith("(from CHUONG_HUB__ID)")


def test_env_section_without_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHUONG_MQTT=abc (no key) is reported as a problem line, not an unhandled exception."""
    monkeypatch.setenv("CHUONG_MQTT", "abc")
    (line,) = problems()
    assert "CHUONG_MQTT" in line


def test_reconnect_min_above_max(tmp_path: Path) -> None:
    """reconnect_min_s greater than reconnect_max_s is refused for the mqtt section."""
    lines = problems(write(tmp_path, "[mqtt]\nreconnect_min_s = 10\nreconnect_max_s = 5\n"))
    assert lines == ["mqtt: reconnect_min_s must not exceed reconnect_max_s"]


def test_password_without_username(tmp_path: Path) -> None:
    """A broker password without a user name is refused."""
    assert problems(write(tmp_path, '[mqtt]\npassword = "x"\n')) == [
        "mqtt: password given without username"
    ]


def test_the_telemetry_connections_login(tmp_path: Path) -> None:
    """Its user is the hub's with `-telemetry` unless named, never the hub's own (a clean
    session under it would wipe the hub's); without a telemetry password, a hub that logs in
    with a password has no telemetry login (its heartbeats stay on its session); a hub on a
    broker without passwords has one, anonymous."""
    assert problems(write(tmp_path, '[mqtt]\nusername = "hub"\ntelemetry_username = "hub"\n')) == [
        "mqtt: telemetry_username must differ from username: one user is one session on the"
        " broker, and the clean telemetry connection would wipe the hub's"
    ]
    assert problems(write(tmp_path, '[mqtt]\ntelemetry_password = "x"\n')) == [
        "mqtt: telemetry_password given without username or telemetry_username"
    ]
    both = load_config(
        write(
            tmp_path,
            '[mqtt]\nusername = "hub"\npassword = "a"\ntelemetry_password = "b"\n',
        )
    )
    assert both.mqtt.telemetry_login() == ("hub-telemetry", "b")
    assert both.telemetry_client_id == f"{both.client_id}-telemetry"
    hub_only = load_config(write(tmp_path, '[mqtt]\nusername = "hub"\npassword = "a"\n'))
    assert hub_only.mqtt.telemetry_login() is None
    assert load_config(write(tmp_path, "[mqtt]\n")).mqtt.telemetry_login() == (None, None)
    named = load_config(
        write(
            tmp_path,
            '[mqtt]\nusername = "hub"\ntelemetry_username = "beats"\n'
            'password = "a"\ntelemetry_password = "b"\n',
        )
    )
    assert named.mqtt.telemetry_login() == ("beats", "b")


def test_cert_without_key(tmp_path: Path) -> None:
    """A client certificate without its key is refused."""
    assert problems(write(tmp_path, '[mqtt]\ncert_file = "/etc/c.pem"\n')) == [
        "mqtt: cert_file and key_file go together"
    ]


@pytest.mark.parametrize("root", ["", "a//b", "/a", "a/", "+", "#"])
def test_bad_topic_root(tmp_path: Path, root: str) -> None:
    """A topic root with empty levels or wildcards is refused as mqtt.root."""
    (line,) = problems(write(tmp_path, f'[mqtt]\nroot = "{root}"\n'))
    assert line.startswith("mqtt.root: ")


def test_bad_toml(tmp_path: Path) -> None:
    """A file that is not TOML gives one line naming the file and the parse error."""
    path = write(tmp_path, "[mqtt\nport = 1\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: not valid TOML: ")
    assert "line 1" in line


def test_missing_file(tmp_path: Path) -> None:
    """A config path that does not exist gives one line naming it."""
    path = tmp_path / "absent.toml"
    assert problems(path) == [f"{path}: no such file"]


def test_config_error_text_is_the_lines() -> None:
    """ConfigError's text is its problem lines, one per line."""
    error = ConfigError(["a.b: x", "c.d: y"])
    assert str(error) == "a.b: x\nc.d: y"


# -- chuong check-config --------------------------------------------------------------------------


def test_check_config_reports_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config with a bad file prints 'section.key: message' on stderr and exits 1."""
    path = write(tmp_path, "[mqtt]\nfoo = 1\n")
    assert cli.main(["check-config", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert "mqtt.foo: unknown key" in captured.err
    assert "configuration OK" not in captured.out


def test_check_config_reports_env_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config names the environment variable a bad value came from."""
    monkeypatch.setenv("CHUONG_MQTT__PORT", "0")
    assert cli.main(["check-config", "--config", str(write(tmp_path, GOOD))]) == 1
    err = capsys.readouterr().err
    assert "mqtt.port: " in err
    assert "(from CHUONG_MQTT__PORT)" in err


def test_check_config_missing_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config with a file that does not exist exits 1 saying so."""
    path = tmp_path / "absent.toml"
    assert cli.main(["check-config", "--config", str(path)]) == 1
    assert f"{path}: no such file" in capsys.readouterr().err


def test_check_config_good_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check-config with a good file prints 'configuration OK' with the key settings, exits 0."""
    assert cli.main(["check-config", "--config", str(write(tmp_path, GOOD))]) == 0
    captured = capsys.readouterr()
    assert "configuration OK" in captured.out
    assert "hub xa-phuoc" in captured.out
    assert "broker.local:1884" in captured.out
    assert "s3cret" not in captured.out + captured.err
    assert captured.err == ""


# -- strict types in the file, "did you mean", list items from 1 ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[http]\nenabled = "yes"\n',
            'http.enabled: write true or false, without quotes (got "yes")',
        ),
        ('[http]\nport = "8080"\n', 'http.port: write a number, without quotes (got "8080")'),
        ("[http]\nport = true\n", "http.port: write a number, without quotes (got true)"),
        ("[supervision]\nenabled = 1\n", "supervision.enabled: write true or false"),
        ('[hub]\nshutdown_timeout_s = "10"\n', "hub.shutdown_timeout_s: write a number"),
        (
            '[notifiers.siren]\ntype = "mqtt"\ntopic = "s"\nqos = "1"\n',
            "notifiers.siren.qos: write a number, without quotes",
        ),
        (
            '[[escalation.steps]]\nafter_s = "30"\nnotify = []\n',
            "escalation.steps.1.after_s: write a number, without quotes",
        ),
    ],
)
def test_a_quoted_number_or_flag_in_the_file_is_an_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    """In the file a number or a flag written as text is surely a mistake (`enabled = "yes"`,
    `port = "8080"`): it is refused, naming the key; the environment, where every value is
    text, still sets them."""
    found = problems(write(tmp_path, text))
    assert any(line.startswith(expected) for line in found), found
    key = expected.split(":", maxsplit=1)[0]
    assert len([line for line in found if line.startswith(f"{key}: ")]) == 1


def test_the_environment_still_sets_numbers_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUONG_HTTP__PORT", "8081")
    monkeypatch.setenv("CHUONG_HTTP__ENABLED", "false")
    config = load_config()
    assert (config.http.port, config.http.enabled) == (8081, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[mqtt]\nprot = 1\n", "mqtt.prot: unknown key (did you mean port?)"),
        ("[htpp]\nport = 1\n", "htpp: unknown key (did you mean http?)"),
        (
            '[notifiers.siren]\ntype = "mqtt"\ntopic = "s"\npayload_onn = "ON"\n',
            "notifiers.siren.payload_onn: unknown key (did you mean payload_on?)",
        ),
        ("[mqtt]\nzzz = 1\n", "mqtt.zzz: unknown key"),
    ],
)
def test_a_mistyped_key_gets_a_suggestion(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(write(tmp_path, text)) == [expected]


def test_list_items_are_numbered_from_one(tmp_path: Path) -> None:
    """The second step is step 2, as escalation levels are."""
    text = (
        '[notifiers.a]\ntype = "command"\nargv = ["true"]\n'
        '[[escalation.steps]]\nafter_s = 0\nnotify = ["a"]\n'
        '[[escalation.steps]]\nafter_s = -5\nnotify = ["b"]\n'
    )
    found = problems(write(tmp_path, text))
    assert any(line.startswith("escalation.steps.2.after_s: ") for line in found), found


def test_a_relative_public_url_says_what_is_expected(tmp_path: Path) -> None:
    (line,) = problems(write(tmp_path, '[hub]\npublic_url = "10.0.0.5:8080"\n'))
    assert line.startswith("hub.public_url: ")
    assert "relative URL" not in line
    assert "http://" in line
    assert "10.0.0.5:8080" in line
