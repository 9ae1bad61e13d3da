"""`chuong user …`: passwords from a prompt (twice) or standard input, never the command line."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.cli import main
from hub.store.db import open_sync
from hub.web.accounts import verify_password


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hub.db"
    monkeypatch.setenv("CHUONG_STORE__PATH", str(path))
    return path


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the person types at each password prompt, in order."""
    answers: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": answers.pop(0))
    monkeypatch.setattr(sys, "stdin", Terminal())
    yield answers
    assert answers == [], "every prompt was answered"


def _hash(store: Path, username: str) -> str | None:
    with contextlib.closing(open_sync(store)) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE username = ?", (username,))
        found = row.fetchone()
    return None if found is None else str(found[0])


def test_add_asks_twice_on_the_terminal(
    store: Path, prompts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    prompts.extend(["mật khẩu trực ban", "mật khẩu trực ban"])
    assert main(["user", "add", "--name", "TrucBan", "--role", "officer"]) == 0
    assert "user 'trucban' (officer) created" in capsys.readouterr().out
    stored = _hash(store, "trucban")
    assert stored is not None
    assert verify_password(stored, "mật khẩu trực ban")


def test_two_different_answers_ask_again(
    store: Path, prompts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped second answer is not the end: the password is asked again."""
    prompts.extend(["first-password", "second-password", "good-password", "good-password"])
    assert main(["user", "add", "--name", "a", "--role", "viewer"]) == 0
    assert "the two passwords differ; once more" in capsys.readouterr().err
    stored = _hash(store, "a")
    assert stored is not None
    assert verify_password(stored, "good-password")


def test_three_differing_pairs_change_nothing(
    store: Path, prompts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    prompts.extend(["first-password", "second-password"] * 3)
    assert main(["user", "add", "--name", "a", "--role", "viewer"]) == 1
    assert "the two passwords differed 3 times; nothing was changed" in capsys.readouterr().err
    assert _hash(store, "a") is None


def test_without_a_terminal_it_asks_for_password_stdin(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("piped-password\n"))
    assert main(["user", "add", "--username", "a", "--role", "viewer"]) == 1
    assert "use --password-stdin" in capsys.readouterr().err
    assert _hash(store, "a") is None


def test_a_password_is_never_an_argument(store: Path) -> None:
    """There is no --password option: argparse refuses it (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["user", "add", "--username", "a", "--role", "viewer", "--password", "x" * 10])
    assert exit_info.value.code == 2


def test_passwd_list_and_remove(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("first-password\n"))
    assert main(["user", "add", "--username", "u", "--role", "viewer", "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["user", "passwd", "--username", "u", "--password-stdin"]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("second-password\n"))
    assert main(["user", "passwd", "--username", "u", "--role", "admin", "--password-stdin"]) == 0
    stored = _hash(store, "u")
    assert stored is not None
    assert verify_password(stored, "second-password")
    capsys.readouterr()
    assert main(["user", "list"]) == 0
    assert capsys.readouterr().out.startswith("u\tadmin\tcreated ")
    assert main(["user", "remove", "--username", "u"]) == 0
    assert _hash(store, "u") is None
    assert main(["user", "remove", "--username", "u"]) == 1


def test_display_names_from_the_command_line(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`user add --display-name`, and `user display-name` shows, sets and clears the name the
    page shows; each change on the record."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("first-password\n"))
    add = ["user", "add", "--name", "an", "--role", "officer", "--password-stdin"]
    assert main([*add, "--display-name", " Nguyễn  Văn An "]) == 0
    capsys.readouterr()
    assert main(["user", "display-name", "--name", "an"]) == 0
    assert capsys.readouterr().out == "Nguyễn Văn An\n"
    assert main(["user", "display-name", "--name", "an", "--set", "Trần Thị Bình"]) == 0
    assert main(["user", "list"]) == 0
    assert "\tTrần Thị Bình" in capsys.readouterr().out
    assert main(["user", "display-name", "--name", "an", "--clear"]) == 0
    capsys.readouterr()
    assert main(["user", "display-name", "--name", "an"]) == 0
    assert "(none" in capsys.readouterr().out
    assert main(["user", "display-name", "--name", "nobody", "--set", "X"]) == 1
    assert "no user named 'nobody'" in capsys.readouterr().err
    assert main(["user", "display-name", "--name", "an", "--set", "x" * 101]) == 1
    with contextlib.closing(open_sync(store)) as conn:
        rows = conn.execute(
            "SELECT actor, detail FROM audit WHERE action = 'user.changed' ORDER BY id"
        ).fetchall()
    assert [actor for actor, _ in rows] == ["cli", "cli"]


def test_the_installed_command_reads_the_password_from_stdin(tmp_path: Path) -> None:
    """The real `chuong` entry point, as a script would run it."""
    chuong = Path(sys.executable).with_name("chuong")
    store = tmp_path / "hub.db"
    result = subprocess.run(
        [str(chuong), "user", "add", "--username", "ops", "--role", "admin", "--password-stdin"],
        input="a-script-password\n",
        capture_output=True,
        text=True,
        env={**os.environ, "CHUONG_STORE__PATH": str(store)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stored = _hash(store, "ops")
    assert stored is not None
    assert verify_password(stored, "a-script-password")
