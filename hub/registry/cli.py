"""The registry commands beyond `import`, test mode, and the report of untested buttons.

    chuong registry export [--out FILE]              the registry as TOML (stdout by default)
    chuong registry list                             sites and buttons, with what was last heard
    chuong registry credentials --dir DIR [--rotate USER …] [--reader USER …] [--group G]
                                                     broker users, passwords and ACL (Mosquitto)
    chuong registry keys --button ID [--remove]      a key for signed presses (printed once)
    chuong test-mode on|off (--button ID | --site ID)
    chuong report untested [--days 30]               buttons without a test press lately

They write the store directly (a running hub picks the change up at its next batch), each change
with its audit entry (actor `cli`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.cli_common import config_option, open_store
from hub.clock import SystemClock, parse_iso
from hub.config import load_config
from hub.store import admin
from hub.store.ops import TestModeKind


def add_parsers(
    registry: argparse._SubParsersAction[argparse.ArgumentParser],
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    export = registry.add_parser("export", help="write the registry as TOML")
    export.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    config_option(export)
    export.set_defaults(handler=cmd_export)

    listing = registry.add_parser("list", help="list sites and buttons")
    config_option(listing)
    listing.set_defaults(handler=cmd_list)

    creds = registry.add_parser(
        "credentials", help="write broker users, passwords and ACL for Mosquitto"
    )
    creds.add_argument(
        "--dir", type=Path, required=True, help="directory for passwd, acl, credentials.toml"
    )
    creds.add_argument(
        "--rotate", nargs="+", default=[], metavar="USER", help="give these users new passwords"
    )
    creds.add_argument(
        "--group",
        default=None,
        help="group of passwd and acl, which the broker reads as its own user (default:"
        " mosquitto, when that group exists)",
    )
    creds.add_argument(
        "--reader",
        nargs="+",
        default=[],
        metavar="USER",
        help="read-only users: they may read the alarms and the hub's status, nothing else",
    )
    config_option(creds)
    creds.set_defaults(handler=cmd_credentials)

    keys = registry.add_parser(
        "keys", help="give a button a key to sign its presses (printed once), or remove it"
    )
    keys.add_argument("--button", required=True, metavar="ID")
    keys.add_argument("--remove", action="store_true", help="the button stops signing")
    config_option(keys)
    keys.set_defaults(handler=cmd_keys)

    test = commands.add_parser(
        "test-mode", help="put a button or a site in test mode for a maintenance visit"
    )
    test.add_argument("state", choices=["on", "off"])
    which = test.add_mutually_exclusive_group(required=True)
    which.add_argument("--button", metavar="ID")
    which.add_argument("--site", metavar="ID")
    config_option(test)
    test.set_defaults(handler=cmd_test_mode)

    report = commands.add_parser("report", help="reports").add_subparsers(
        title="reports", metavar="REPORT"
    )
    untested = report.add_parser("untested", help="buttons without a test press lately")
    untested.add_argument("--days", type=_days, default=30, help="default 30")
    config_option(untested)
    untested.set_defaults(handler=cmd_untested)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError("between 1 and 3650 days")
    return days


def cmd_export(args: argparse.Namespace) -> int:
    from hub.registry.commands import read_registry, to_toml  # noqa: PLC0415

    config = load_config(args.config)
    with open_store(config) as conn:
        text = to_toml(read_registry(conn))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"registry written to {args.out}", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as conn:
        sites = admin.all_sites(conn)
        rows = admin.button_listings(conn)
    print(f"{len(sites)} sites")
    for site in sites:
        test = " [test mode]" if site.test_mode else ""
        print(f"  {site.id}\t{site.name}{test}")
    print(f"{len(rows)} buttons")
    for row in rows:
        button = row.button
        kind = f"{button.profile}:{button.native_id}" if button.profile else "contract"
        online = {None: "never heard", True: "online", False: "OFFLINE"}[row.online]
        seen = f" last seen {row.last_seen}" if row.last_seen else ""
        battery = f" battery {row.battery}%" if row.battery is not None else ""
        test = " [test mode]" if button.test_mode else ""
        print(f"  {button.id}\tsite {button.site_id}\t{kind}\t{online}{seen}{battery}{test}")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from hub.registry.credentials import (  # noqa: PLC0415
        DEFAULT_HUB_USER,
        acl_text,
        broker_group,
        users_for,
        write_credentials,
    )

    config = load_config(args.config)
    with open_store(config) as conn:
        buttons = admin.all_buttons(conn)
    profiles = config.profiles.make_profiles()
    hub_user = config.mqtt.username or DEFAULT_HUB_USER
    group = broker_group(args.group)
    users = users_for(buttons, profiles, hub_user, root=config.mqtt.root, readers=args.reader)
    in_use = {b.profile for b in buttons if b.profile} | set(config.profiles.listen)
    hub_reads = [t for name in sorted(in_use) for t, _ in profiles[name].subscriptions()]
    acl = acl_text(
        root=config.mqtt.root,
        hub_user=hub_user,
        users=users,
        hub_reads=hub_reads,
        now=SystemClock().now(),
    )
    written = write_credentials(args.dir, users=users, acl=acl, rotate=args.rotate, group=group)
    print(
        f"{written.users} broker users in {written.directory}: passwd, acl, credentials.toml "
        f"({len(written.new)} new passwords"
        + (f"; dropped {', '.join(written.dropped)}" if written.dropped else "")
        + ")"
    )
    print(
        f"The hub logs in as {hub_user!r}: set mqtt.username and mqtt.password (its password is "
        f"in {written.directory / 'credentials.toml'}).",
        file=sys.stderr,
    )
    if group is None:
        print(
            "No `mosquitto` group here: passwd and acl are readable by their owner only; run as"
            " root, or with --group, for a broker that runs as its own user.",
            file=sys.stderr,
        )
    print(
        "Tell the broker: `systemctl reload mosquitto` (or kill -HUP its pid); the passwords that"
        " did not change keep working.",
        file=sys.stderr,
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from devices.signing import key_id, new_key  # noqa: PLC0415
    from hub.registry.commands import set_sign_key  # noqa: PLC0415

    config = load_config(args.config)
    key = None if args.remove else new_key()
    with open_store(config) as conn:
        set_sign_key(conn, args.button, key, SystemClock().now())
    if key is None:
        print(f"button {args.button!r} no longer signs its presses", file=sys.stderr)
        return 0
    print(key)
    print(
        f"button {args.button!r} must now sign every press with this key (id {key_id(key)}); "
        "flash it into the button (devices/esphome: secrets.yaml). It is shown only now.",
        file=sys.stderr,
    )
    return 0


def cmd_test_mode(args: argparse.Namespace) -> int:
    from hub.registry.commands import set_test_mode  # noqa: PLC0415

    config = load_config(args.config)
    kind: TestModeKind = "button" if args.button else "site"
    subject = args.button or args.site
    with open_store(config) as conn:
        set_test_mode(conn, kind, subject, args.state == "on", SystemClock().now())
    print(f"{kind} {subject}: test mode {args.state}")
    return 0


def cmd_untested(args: argparse.Namespace) -> int:
    from hub.registry.commands import untested_cutoff  # noqa: PLC0415

    config = load_config(args.config)
    now = SystemClock().now()
    with open_store(config) as conn:
        rows = admin.untested_buttons(conn, untested_cutoff(now, args.days))
    print(f"{len(rows)} buttons without a test press in {args.days} days")
    for row in rows:
        last = row.last_test_at
        when = (
            "never tested"
            if last is None
            else f"last test {last} ({(now - parse_iso(last)).days} days ago)"
        )
        print(f"  {row.button_id}\t{row.site_name or row.site_id or '-'}\t{when}")
    return 0
