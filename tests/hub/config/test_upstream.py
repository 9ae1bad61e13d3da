"""[upstream] and hub.mode: absent means off; a mistake names its key (hub/config/upstream.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_config
from hub.errors import ConfigError
from hub.upstream.post import link_settings
from tests.hub.config.test_config import clean_environment, write

__all__ = ["clean_environment"]  # the autouse fixture: no CHUONG_* variable leaks in


def test_without_the_section_there_is_no_upstream_and_the_hub_is_a_post() -> None:
    config = load_config()
    assert config.upstream is None
    assert config.hub.mode == "post"


def test_the_link_is_read_with_its_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "up.pass"
    secret.write_text("s3cret\n", encoding="utf-8")
    path = write(
        tmp_path,
        f"""
[hub]
mode = "district"
[upstream]
host = "tinh.example.vn"
username = "huyen-chau-thanh"
password_file = "{secret}"
heartbeat_s = 15
""",
    )
    config = load_config(path)
    assert config.hub.mode == "district"
    assert config.upstream is not None
    assert config.upstream.heartbeat_s == 15
    link = link_settings(config.upstream)
    assert (link.host, link.port, link.tls) == ("tinh.example.vn", 8883, True)
    assert link.password is not None
    assert link.password.get_secret_value() == "s3cret"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[upstream]\nport = 8883\n", "upstream.host"),
        ('[upstream]\nhost = "h"\npassword = "x"\n', "a password needs a username"),
        ('[hub]\nmode = "province"\n', "hub.mode"),
        ('[upstream]\nhost = "h"\nheartbeat_s = 0\n', "upstream.heartbeat_s"),
    ],
)
def test_a_mistake_names_the_key(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert any(said in problem for problem in info.value.problems), info.value.problems


def test_an_unreadable_password_file_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path, f'[upstream]\nhost = "h"\nusername = "u"\npassword_file = "{tmp_path}/nope"\n'
    )
    config = load_config(path)
    assert config.upstream is not None
    with pytest.raises(ConfigError) as info:
        config.upstream.secret()
    assert info.value.problems[0].startswith("upstream.password_file: cannot read")
