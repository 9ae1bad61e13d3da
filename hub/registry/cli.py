"""The registry commands beyond `import`, test mode, and the report of untested buttons.

    chuong registry export [--out FILE]              the registry as TOML (stdout by default)
    chuong registry list                             sites and buttons, with what was last heard
    chuong registry remove (--button ID | --site ID) a button, or a site without buttons
    chuong registry credentials --dir DIR [--rotate USER …] [--reader USER …] [--group G]
                                                     broker users, passwords and ACL (Mosquitto)
    chuong registry keys --button ID [--remove]      a key for signed presses (printed once)
    chuong test-mode on|off (--button ID | --site ID) [--for 2h | --no-end]
                                                     on for 2 h unless told (30m, 90s, 1d: ≤ 7 d)
    chuong report untested [--days 30]               buttons without a test press lately
    chuong report monthly --month YYYY-MM [--site ID] [--format text|csv|html] [--out FILE]
                                                     the monthly report for the district

They write the store directly (a running hub picks the change up at its next batch), each change
with its audit entry (actor `cli`).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

from hub.cli_common import config_option, open_store
from hub.clock import SystemClock, iso, parse_iso
from hub.config import load_config
from hub.errors import ChuongError
from hub.reports.monthly import MonthlyReport
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

    remove = registry.add_parser(
        "remove", help="remove a button, or a site without buttons (on the record)"
    )
    removed = remove.add_mutually_exclusive_group(required=True)
    removed.add_argument("--button", metavar="ID", help="the button to remove")
    removed.add_argument("--site", metavar="ID", help="the site to remove (no buttons left)")
    config_option(remove)
    remove.set_defaults(handler=cmd_remove)

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
    keys.add_argument("--button", required=True, metavar="ID", help="the button")
    keys.add_argument("--remove", action="store_true", help="the button stops signing")
    config_option(keys)
    keys.set_defaults(handler=cmd_keys)

    test = commands.add_parser(
        "test-mode", help="put a button or a site in test mode for a maintenance visit"
    )
    test.add_argument("state", choices=["on", "off"], help="on for a visit, off after it")
    which = test.add_mutually_exclusive_group(required=True)
    which.add_argument("--button", metavar="ID", help="one button")
    which.add_argument("--site", metavar="ID", help="every button of a site")
    how_long = test.add_mutually_exclusive_group()
    how_long.add_argument(
        "--for",
        dest="duration",
        type=duration_arg,
        default=DEFAULT_TEST_S,
        metavar="DURATION",
        help="with on: it ends by itself after this long (90s, 30m, 2h, 1d; default 2h, as on "
        "the page; at most 7d)",
    )
    how_long.add_argument(
        "--no-end", action="store_true", help="with on: it stays on until turned off"
    )
    config_option(test)
    test.set_defaults(handler=cmd_test_mode)

    report = commands.add_parser(
        "report", help="reports: untested buttons, the monthly report"
    ).add_subparsers(title="reports", metavar="REPORT")
    untested = report.add_parser("untested", help="buttons without a test press lately")
    untested.add_argument("--days", type=_days, default=30, help="default 30")
    config_option(untested)
    untested.set_defaults(handler=cmd_untested)

    monthly = report.add_parser(
        "monthly", help="the monthly report per site, for the district (as the page's)"
    )
    monthly.add_argument(
        "--month", required=True, type=_month, help="YYYY-MM, in hub.timezone (e.g. 2026-12)"
    )
    monthly.add_argument("--site", metavar="ID", help="one site only (default: every site)")
    monthly.add_argument(
        "--format",
        choices=["text", "csv", "html"],
        default="text",
        help="text to read (default), csv for a spreadsheet, html to print",
    )
    monthly.add_argument("--out", type=Path, help="file to write (default: standard output)")
    config_option(monthly)
    monthly.set_defaults(handler=cmd_monthly)


DEFAULT_TEST_S = 2 * 3600
"""A test mode from the command line ends by itself after 2 h unless told, as on the page."""
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_arg(text: str) -> int:
    """`90s`, `30m`, `2h`, `1d` (or seconds alone) as seconds, between 1 s and 7 days."""
    match = re.fullmatch(r"(\d{1,7})([smhd]?)", text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (write it as 90s, 30m, 2h or 1d)"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not 1 <= seconds <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: a test mode lasts 1 s to 7 days")
    return seconds


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"not a month YYYY-MM: {text!r}")
    return text


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
    return _write(text, args.out, "registry")


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
        patterns = "".join(f", {word}={alarm}" for word, alarm in button.press_patterns)
        alarms = f"alarm {button.kind}{patterns}"
        print(
            f"  {button.id}\tsite {button.site_id}\t{kind}\t{alarms}\t{online}{seen}{battery}{test}"
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from hub.registry.commands import remove_from_registry  # noqa: PLC0415

    config = load_config(args.config)
    kind: TestModeKind = "button" if args.button else "site"
    subject = args.button or args.site
    with open_store(config) as conn:
        remove_from_registry(conn, kind, subject, SystemClock().now())
    print(f"{kind} {subject!r} removed")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from hub.registry.credentials import (  # noqa: PLC0415
        DEFAULT_HUB_USER,
        acl_text,
        broker_group,
        telemetry_user_of,
        users_for,
        write_credentials,
    )

    config = load_config(args.config)
    with open_store(config) as conn:
        buttons = admin.all_buttons(conn)
    profiles = config.profiles.make_profiles()
    hub_user = config.mqtt.username or DEFAULT_HUB_USER
    telemetry_user = telemetry_user_of(hub_user, config.mqtt.telemetry_username)
    group = broker_group(args.group)
    users = users_for(
        buttons,
        profiles,
        hub_user,
        telemetry_user=telemetry_user,
        root=config.mqtt.root,
        readers=args.reader,
    )
    in_use = {b.profile for b in buttons if b.profile} | set(config.profiles.listen)
    hub_reads = [t for name in sorted(in_use) for t, _ in profiles[name].subscriptions()]
    telemetry_reads = [t for name in sorted(in_use) for t in profiles[name].checkins()]
    acl = acl_text(
        root=config.mqtt.root,
        hub_user=hub_user,
        users=users,
        hub_reads=hub_reads,
        now=SystemClock().now(),
        telemetry_user=telemetry_user,
        telemetry_reads=telemetry_reads,
    )
    written = write_credentials(args.dir, users=users, acl=acl, rotate=args.rotate, group=group)
    print(
        f"{written.users} broker users in {written.directory}: passwd, acl, credentials.toml "
        f"({len(written.new)} new passwords"
        + (f"; dropped {', '.join(written.dropped)}" if written.dropped else "")
        + ")"
    )
    print(
        f"The hub logs in as {hub_user!r}: set mqtt.username and mqtt.password, and"
        f" mqtt.telemetry_password for its telemetry connection ({telemetry_user!r}); the"
        f" passwords are in {written.directory / 'credentials.toml'}.",
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
    on = args.state == "on"
    duration = None if args.no_end else args.duration
    with open_store(config) as conn:
        until = set_test_mode(conn, kind, subject, on, SystemClock().now(), duration_s=duration)
    if until is not None:
        print(f"{kind} {subject}: test mode on until {iso(until)} (it ends by itself)")
    else:
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


def cmd_monthly(args: argparse.Namespace) -> int:
    from hub.reports.load import UnknownSite, load_monthly  # noqa: PLC0415
    from hub.reports.render import report_csv, report_html, report_text  # noqa: PLC0415
    from hub.store.db import open_reader_at  # noqa: PLC0415

    config = load_config(args.config)
    with open_store(config) as conn:
        sites = admin.all_sites(conn)

    async def build() -> MonthlyReport:
        location = config.store.url or config.store.path
        reader = await open_reader_at(location, config.store.busy_timeout_ms)
        try:
            return await load_monthly(
                reader,
                sites,
                month=args.month,
                timezone=config.hub.timezone,
                site=args.site,
                now=SystemClock().now(),
            )
        finally:
            await reader.close()

    try:
        report = asyncio.run(build())
    except UnknownSite as exc:
        raise ChuongError(str(exc)) from None
    language = config.hub.language
    if args.format == "csv":
        text = report_csv(report)
    elif args.format == "html":
        text = report_html(report, language)
    else:
        text = report_text(report, language)
    return _write(text, args.out, "report")


def _write(text: str, out: Path | None, what: str) -> int:
    """To the file `--out` names, or to standard output."""
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"{what} written to {out}", file=sys.stderr)
    return 0
