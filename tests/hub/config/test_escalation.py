"""Unit tests of the notifier settings (hub/notify/) and hub/config/escalation.py: every problem
is one line naming its key, as `chuong check-config` prints it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub import cli
from hub.config import load_config
from hub.domain.model import AlarmKind, TroubleKind
from hub.errors import ConfigError
from hub.notify.mqtt import MqttNotifier
from hub.notify.sms import SmsNotifier
from hub.notify.telegram import TelegramNotifier
from hub.notify.webhook import WebhookNotifier

GOOD = """\
[hub]
id = "post"
public_url = "http://10.0.0.5:8080"

[notifiers.post-siren]
type = "mqtt"
topic = "cmnd/siren/POWER"
payload_on = "ON"
payload_off = "OFF"
tests = true

[notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:9000/hook"
secret = "hmac-key"

[notifiers.commander]
type = "telegram"
bot_token = "123:ABC"
chat_id = 42

[notifiers.commander-sms]
type = "sms"
port = "/dev/ttyUSB2"
to = "+84 901 234 567"
person = "commander"

[[escalation.steps]]
after_s = 0
notify = ["post-siren"]

[[escalation.steps]]
after_s = 30
notify = ["hook", "commander"]
repeat_s = 60

[escalation.policies.market]
steps = [{ after_s = 0, notify = ["post-siren", "commander-sms"] }]

[[escalation.rules]]
sites = ["market-*"]
policy = "market"

[escalation.troubles]
kinds = ["tamper"]
steps = [{ after_s = 120, notify = ["commander"] }]
"""


KINDS = (
    GOOD
    + """
[escalation.kinds]
fire = "market"

[profiles.press_patterns]
zigbee2mqtt = { emergency = "medical" }
canonical = { long_press = "fire" }
"""
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("CHUONG_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chuong.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


def test_default_is_no_notifier_and_no_step() -> None:
    """Without configuration nothing is sent: no notifier, no step, no trouble step."""
    config = load_config()
    assert config.notifiers == {}
    assert config.escalation.steps == []
    assert config.escalation.troubles.steps == []
    assert config.escalation.link_ttl_s == 12 * 3600


def test_a_full_policy_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    siren = config.notifiers["post-siren"]
    assert isinstance(siren, MqttNotifier)
    assert (siren.local, siren.links, siren.per_alarm) == (True, False, False)
    assert isinstance(config.notifiers["hook"], WebhookNotifier)
    telegram = config.notifiers["commander"]
    assert isinstance(telegram, TelegramNotifier)
    assert telegram.chat_id == "42"
    assert "123:ABC" not in repr(config)
    sms = config.notifiers["commander-sms"]
    assert isinstance(sms, SmsNotifier)
    assert (sms.to, sms.person, sms.charset) == ("+84901234567", "commander", "ucs2")
    assert [s.after_s for s in config.escalation.steps] == [0, 30]
    assert config.escalation.steps[1].repeat_s == 60
    assert config.escalation.rules[0].policy == "market"


def test_env_overrides_a_notifier_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret can come from the environment instead of the file."""
    monkeypatch.setenv("CHUONG_NOTIFIERS__HOOK__SECRET", "from-env")
    config = load_config(write(tmp_path, GOOD))
    hook = config.notifiers["hook"]
    assert isinstance(hook, WebhookNotifier)
    assert hook.secret is not None
    assert hook.secret.get_secret_value() == "from-env"
    assert str(hook.url) == "http://127.0.0.1:9000/hook"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('notify = ["post-siren"]', 'notify = ["x"]'),
            "escalation.steps.1.notify: unknown notifier 'x' (known: commander, "
            "commander-sms, hook, post-siren)",
        ),
        (
            ('policy = "market"', 'policy = "mall"'),
            "escalation.rules.1.policy: unknown policy 'mall'",
        ),
        (('type = "webhook"', 'type = "pager"'), "notifiers.hook: type must be one of mqtt"),
        (('url = "http://127.0.0.1:9000/hook"', 'url = "not a url"'), "notifiers.hook.url: "),
        (('to = "+84 901 234 567"', 'to = "call me"'), "notifiers.commander-sms.to: "),
        (("chat_id = 42", ""), "notifiers.commander.chat_id: Field required"),
        (("after_s = 30", "after_s = -1"), "escalation.steps.2.after_s: "),
        (("repeat_s = 60", "repeat_s = 0"), "escalation.steps.2.repeat_s: "),
        (("after_s = 30", "after_s = 30\nlouder = true"), "escalation.steps.2.louder: unknown key"),
        (('topic = "cmnd/siren/POWER"', 'topic = "siren/#"'), "notifiers.post-siren.topic: "),
        (
            ('payload_on = "ON"', 'payload_on = "{colour}"'),
            "notifiers.post-siren.payload_on: unknown placeholder {colour}",
        ),
        (
            ('person = "commander"', 'person = "commander"\ntests = true'),
            "notifiers.commander-sms: tests: only local notifiers",
        ),
        (
            ('sites = ["market-*"]', ""),
            "escalation.rules.1: a rule needs sites, buttons, unregistered or kinds",
        ),
        (("[notifiers.hook]", "[notifiers.Hook]"), "notifiers.Hook: 'Hook': must be 1-64"),
        (
            ('payload_off = "OFF"', 'payload_off = "OFF"\nperson = "duty"'),
            "notifiers.post-siren.person: an mqtt notifier drives a device and sends no link",
        ),
        (("repeat_s = 60", 'repeat_s = 60\nack = "every"'), "escalation.steps.2.ack: "),
        (
            ('notify = ["post-siren"]', 'notify = ["post-siren"]\nack = "each"'),
            'escalation.steps.1.ack: "each" needs a notifier that sends a person a link',
        ),
        (
            (
                'steps = [{ after_s = 120, notify = ["commander"] }]',
                'steps = [{ after_s = 120, notify = ["commander"], ack = "each" }]',
            ),
            "escalation.troubles.steps.1.ack: troubles are not acknowledged from links",
        ),
        (
            ('fire = "market"', 'smoke = "market"'),
            "escalation.kinds.smoke: Input should be 'holdup', 'fire', 'medical'",
        ),
        (('fire = "market"', 'fire = "mall"'), "escalation.kinds.fire: unknown policy 'mall'"),
        (
            ('emergency = "medical"', 'emergency = "ambulance"'),
            "profiles.press_patterns.zigbee2mqtt.emergency: unknown alarm kind 'ambulance'",
        ),
        (
            ("canonical = {", "shelly = {"),
            "profiles.press_patterns.shelly: unknown profile 'shelly' (known: canonical",
        ),
        (
            ('long_press = "fire"', 'cancel = "fire"'),
            "profiles.press_patterns.canonical.cancel: press pattern 'cancel': a cancel event",
        ),
    ],
)
def test_problems_name_their_key(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in KINDS
    found = problems(tmp_path, KINDS.replace(old, new, 1))
    assert any(line.startswith(expected) for line in found), found


def test_a_step_where_each_person_acknowledges(tmp_path: Path) -> None:
    """`ack = "each"` loads on a step that calls people (default "any"); without
    hub.public_url no message carries a link, and check-config says so by key."""
    each = GOOD.replace("repeat_s = 60", 'repeat_s = 60\nack = "each"', 1)
    config = load_config(write(tmp_path, each))
    assert [step.ack for step in config.escalation.steps] == ["any", "each"]
    found = problems(tmp_path, each.replace('public_url = "http://10.0.0.5:8080"\n', ""))
    assert found == [
        'escalation.steps.2.ack: "each" needs hub.public_url: without it no message carries a link'
    ], found


def test_steps_out_of_order(tmp_path: Path) -> None:
    """Steps are listed in the order they fire; a later step that fires earlier is an error."""
    text = GOOD.replace("after_s = 0\nnotify", "after_s = 45\nnotify", 1)
    assert problems(tmp_path, text) == [
        "escalation.steps: step 2 fires before step 1: list the steps in the order of their after_s"
    ]


def test_check_config_prints_the_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`chuong check-config` prints each problem on its line and exits 1."""
    path = write(tmp_path, GOOD.replace('notify = ["post-siren"]', 'notify = ["x"]'))
    assert cli.main(["check-config", "--config", str(path)]) == 1
    assert "  escalation.steps.1.notify: unknown notifier 'x'" in capsys.readouterr().err


def test_a_misspelt_trouble_kind_fails_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kinds = ["ofline", "tampr"]` would silently never escalate those troubles: `chuong
    check-config` refuses it, naming each key and the allowed kinds."""
    path = write(tmp_path, GOOD.replace('kinds = ["tamper"]', 'kinds = ["ofline", "tampr"]', 1))
    assert cli.main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    for index in (1, 2):  # list items are numbered from 1
        line = next(x for x in err.splitlines() if f"escalation.troubles.kinds.{index}:" in x)
        assert all(f"'{kind.value}'" in line for kind in TroubleKind), line


def test_trouble_kinds_load_as_the_enum(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.escalation.troubles.kinds == [TroubleKind.TAMPER]


def test_the_shipped_example_is_valid() -> None:
    """config/escalation.example.toml loads as it is."""
    example = Path(__file__).parents[3] / "config" / "escalation.example.toml"
    config = load_config(example)
    assert len(config.escalation.steps) == 4
    assert config.escalation.rules[0].policy == "cho"
    assert config.notifiers["chi_huy_sms"].person == "chi-huy"


def test_a_policy_per_alarm_kind_and_press_patterns_load(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, KINDS))
    assert config.escalation.kinds == {AlarmKind.FIRE: "market"}
    assert config.profiles.patterns() == {
        "zigbee2mqtt": {"emergency": AlarmKind.MEDICAL},
        "canonical": {"long_press": AlarmKind.FIRE},
    }


def test_the_commune_policy_in_the_docs_loads(tmp_path: Path) -> None:
    """docs/ESCALATION.md's "A commune's policy" (kinds, Zalo, the mass-loss rule) passes the
    checks as written."""
    docs = (Path(__file__).parents[3] / "docs" / "ESCALATION.md").read_text(encoding="utf-8")
    section = docs.split("### A commune's policy", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, block))
    assert config.escalation.kinds == {AlarmKind.FIRE: "chay", AlarmKind.MEDICAL: "cap-cuu"}
    assert {n.type for n in config.notifiers.values()} >= {"zalo", "zns"}
    assert config.supervision.mass_loss.commune_percent == 30
    assert [(rule.sites, rule.policy) for rule in config.escalation.rules] == [
        (["_commune"], "ca-xa")
    ]
