"""`chuong user …`: the people who log in to the page.

    chuong user add --name U --role viewer|officer|admin [--display-name N] [--password-stdin]
    chuong user passwd --name U [--role R] [--password-stdin]   (ends the user's sessions)
    chuong user display-name --name U [--set N | --clear]        (shows it without an option)
    chuong user remove --name U                                  (ends the user's sessions)
    chuong user list

`--name`, as for tokens (`--username`, the older spelling, is still accepted). A password is never
taken on the command line (it would stay in the shell's history and show in `ps`): it is asked
twice on the terminal (again while the two differ), or read as one line from standard input with
`--password-stdin`, for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from hub.cli_common import config_option, open_store
from hub.clock import SystemClock
from hub.config import load_config
from hub.domain.model import Role
from hub.errors import ChuongError
from hub.web.accounts import (
    add_user,
    check_password,
    check_username,
    list_users,
    remove_user,
    set_display_name,
    set_password,
)

ATTEMPTS = 3
"""How many times the password is asked when the two typings differ."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = subparsers.add_parser(
        "user", help="people who log in to the page: add, passwd, remove, list"
    ).add_subparsers(title="user commands", metavar="ACTION")
    roles = [role.value for role in Role]

    add = user.add_parser("add", help="create a user (the password is asked twice)")
    _name_option(add, "1-64 of a-z, 0-9, '.', '_', '-'")
    add.add_argument("--role", required=True, choices=roles, help="what they may do")
    add.add_argument("--display-name", default="", help='the name the page shows ("Nguyễn Văn An")')
    _password_option(add)
    config_option(add)
    add.set_defaults(handler=cmd_user_add)

    passwd = user.add_parser("passwd", help="set a new password; ends the user's sessions")
    _name_option(passwd, "the user")
    passwd.add_argument("--role", choices=roles, help="also change the role")
    _password_option(passwd)
    config_option(passwd)
    passwd.set_defaults(handler=cmd_user_passwd)

    shown = user.add_parser(
        "display-name", help="show, set or clear the name the page shows for a user"
    )
    _name_option(shown, "the user")
    change = shown.add_mutually_exclusive_group()
    change.add_argument("--set", metavar="TEXT", help='the new name ("Nguyễn Văn An")')
    change.add_argument("--clear", action="store_true", help="none: the page shows the user name")
    config_option(shown)
    shown.set_defaults(handler=cmd_user_display_name)

    remove = user.add_parser("remove", help="remove a user; ends their sessions")
    _name_option(remove, "the user")
    config_option(remove)
    remove.set_defaults(handler=cmd_user_remove)

    listing = user.add_parser("list", help="list users (never their passwords)")
    config_option(listing)
    listing.set_defaults(handler=cmd_user_list)


def _name_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    names = parser.add_mutually_exclusive_group(required=True)
    names.add_argument("--name", dest="username", help=help_text)
    names.add_argument("--username", dest="username", help=argparse.SUPPRESS)  # the old spelling


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password as one line from standard input (for scripts)",
    )


def read_password(from_stdin: bool, stdin: TextIO | None = None) -> str:
    """The new password, from standard input or asked twice on the terminal; checked."""
    stdin = stdin or sys.stdin
    if from_stdin:
        password = stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        if not stdin.isatty():
            raise ChuongError("no terminal to ask the password on: use --password-stdin")
        for _ in range(ATTEMPTS):
            password = getpass.getpass("password: ")
            if getpass.getpass("again: ") == password:
                break
            print("the two passwords differ; once more", file=sys.stderr)
        else:
            raise ChuongError(f"the two passwords differed {ATTEMPTS} times; nothing was changed")
    return check_password(password)


def cmd_user_add(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    password = read_password(args.password_stdin)
    with open_store(config) as conn:
        name = add_user(
            conn,
            args.username,
            Role(args.role),
            password,
            SystemClock().now(),
            display_name=args.display_name,
        )
    print(f"user {name!r} ({args.role}) created")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    password = read_password(args.password_stdin)
    role = Role(args.role) if args.role else None
    with open_store(config) as conn:
        ended = set_password(conn, args.username, password, SystemClock().now(), role=role)
    print(f"password of {args.username!r} changed; {ended} session(s) ended")
    return 0


def cmd_user_display_name(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as conn:
        if args.set is None and not args.clear:
            name = check_username(args.username)
            found = {user.username: user for user in list_users(conn, SystemClock().now())}
            if name not in found:
                raise ChuongError(f"no user named {name!r}")
            print(found[name].display_name or f"(none: the page shows {name!r})")
            return 0
        shown = set_display_name(conn, args.username, args.set or "", SystemClock().now())
    print(
        f"display name of {args.username!r}: {shown!r}"
        if shown
        else f"display name of {args.username!r} cleared"
    )
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as conn:
        remove_user(conn, args.username, SystemClock().now())
    print(f"user {args.username!r} removed")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as conn:
        users = list_users(conn, SystemClock().now())
    for user in users:
        sessions = f"{user.sessions} live session(s)"
        shown = f"\t{user.display_name}" if user.display_name else ""
        disabled = f"\tDISABLED since {user.disabled_at}" if user.disabled_at else ""
        print(
            f"{user.username}\t{user.role.value}\tcreated {user.created_at}\t{sessions}"
            f"{shown}{disabled}"
        )
    return 0
