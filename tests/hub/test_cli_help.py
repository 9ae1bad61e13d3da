"""The command line reads as one tool: every option of every command says what it is for, and one
thing has one name."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from hub.cli import build_parser


def commands(
    parser: argparse.ArgumentParser, path: str = "chuong"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def test_every_option_has_a_help_text() -> None:
    missing = [
        f"{path} {action.option_strings[0] if action.option_strings else action.dest}"
        for path, parser in commands(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        and action.help != argparse.SUPPRESS
        and not action.help
    ]
    assert missing == []


def test_a_name_is_given_as_name_everywhere() -> None:
    """`token create --name` and `user add --name`: no `--username` beside `--name` in help."""
    shown = {
        option
        for _, parser in commands(build_parser())
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
    }
    assert "--name" in shown
    assert "--username" not in shown
