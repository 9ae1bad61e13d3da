"""The `chuong` command.

    chuong run [--config FILE]                 the daemon
    chuong demo                                zero set-up demo (private broker, sample commune)
    chuong sim …                               virtual buttons against any broker
    chuong check-config [--config FILE]        validate; print `section.key: problem`, exit 1
    chuong token create --name N --role R      print a new API token once (stores its hash)
    chuong token list | revoke --name N
    chuong registry import FILE                upsert sites and buttons into the store
    chuong user add --name U --role R          a person who logs in to the page (hub/web/cli.py)
    chuong store migrate --from sqlite:PATH --to postgresql://…   a post's history to PostgreSQL
    chuong registry export | list | remove | credentials | keys, chuong test-mode,
    chuong report untested | monthly                                  (hub/registry/cli.py)

Every command that reads the configuration takes `--config FILE` (or `CHUONG_CONFIG`), and every
key can be overridden as `CHUONG_<SECTION>__<KEY>`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from hub import __version__
from hub.cli_common import config_option, open_store
from hub.clock import SystemClock
from hub.config import load_config
from hub.domain.model import Role
from hub.errors import ChuongError, ConfigError
from hub.logs import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    except ChuongError as exc:
        print(f"chuong: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chuong",
        description="Hub of the 'Tiếng chuông cảnh báo' call buttons, at the police post.",
    )
    parser.add_argument("--version", action="version", version=f"chuong {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = sub.add_parser("run", help="run the hub (the daemon)")
    config_option(run)
    run.set_defaults(handler=cmd_run)

    check = sub.add_parser("check-config", help="validate the configuration and exit")
    config_option(check)
    check.set_defaults(handler=cmd_check_config)

    token = sub.add_parser(
        "token", help="API tokens for programs: create, list, revoke"
    ).add_subparsers(title="token commands", metavar="ACTION")
    create = token.add_parser("create", help="create a token and print it once")
    create.add_argument("--name", required=True, help="who or what uses it (unique)")
    create.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help="what it may do"
    )
    config_option(create)
    create.set_defaults(handler=cmd_token_create)
    listing = token.add_parser("list", help="list tokens (never the tokens themselves)")
    config_option(listing)
    listing.set_defaults(handler=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("--name", required=True, help="the name it was created with")
    config_option(revoke)
    revoke.set_defaults(handler=cmd_token_revoke)

    registry = sub.add_parser(
        "registry", help="sites and buttons: import, export, list, remove, credentials, keys"
    ).add_subparsers(title="registry commands", metavar="ACTION")
    imp = registry.add_parser("import", help="upsert the sites and buttons of a TOML file")
    imp.add_argument("file", type=Path, help="the registry file (config/registry.example.toml)")
    config_option(imp)
    imp.set_defaults(handler=cmd_registry_import)

    store = sub.add_parser("store", help="the store: move a post's history").add_subparsers(
        title="store commands", metavar="ACTION"
    )
    move = store.add_parser(
        "migrate",
        help="copy a SQLite store into an empty PostgreSQL database (stop the hub first)",
    )
    move.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="sqlite:PATH",
        help="the post's SQLite store file (brought to this hub's schema first)",
    )
    move.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="postgresql://…",
        help="an empty PostgreSQL database (docs/HA.md)",
    )
    move.set_defaults(handler=cmd_store_migrate)

    from hub import demo  # noqa: PLC0415  # the demo pulls in the simulator
    from hub.registry import cli as cli_registry  # noqa: PLC0415
    from hub.web import cli as user_cli  # noqa: PLC0415
    from simulator import cli as sim_cli  # noqa: PLC0415

    cli_registry.add_parsers(registry, sub)
    demo.add_parser(sub)
    sim_cli.add_parser(sub)
    user_cli.add_parser(sub)
    return parser


def _print_problems(exc: ConfigError) -> None:
    print("configuration problems:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from hub.run import serve  # noqa: PLC0415

    config = load_config(args.config)
    configure_logging(config.log.level, config.log.format)
    return asyncio.run(serve(config))


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    upstream = ""
    if config.upstream is not None:
        config.upstream.secret()  # a password file that cannot be read is a problem now
        upstream = f", upstream {config.upstream.host}:{config.upstream.port}"
    mode = ", district" if config.hub.mode == "district" else ""
    print(
        f"configuration OK: hub {config.hub.id}, broker {config.mqtt.host}:{config.mqtt.port} "
        f"root {config.mqtt.root}, store {_store_name(config.store.url, config.store.path)}, "
        f"http {config.http.host}:{config.http.port}{mode}{upstream}"
    )
    return 0


def _store_name(url: str | None, path: Path) -> str:
    from hub.store.pg import redact  # noqa: PLC0415

    return redact(url) if url else str(path)


def cmd_token_create(args: argparse.Namespace) -> int:
    from hub.api.tokens import create_token  # noqa: PLC0415

    config = load_config(args.config)
    with open_store(config) as conn:
        token = create_token(conn, args.name, Role(args.role), SystemClock().now())
    print(token)
    print(f"token {args.name!r} ({args.role}) created; it is shown only now.", file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from hub.store import admin  # noqa: PLC0415

    config = load_config(args.config)
    with open_store(config) as conn:
        rows = admin.list_tokens(conn)
    for row in rows:
        state = f"revoked {row.revoked_at}" if row.revoked_at else "live"
        print(f"{row.name}\t{row.role}\tcreated {row.created_at}\t{state}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from hub.api.tokens import revoke_token  # noqa: PLC0415

    config = load_config(args.config)
    with open_store(config) as conn:
        revoke_token(conn, args.name, SystemClock().now())
    print(f"token {args.name!r} revoked")
    return 0


def cmd_store_migrate(args: argparse.Namespace) -> int:
    from hub.store.pg import is_url, redact  # noqa: PLC0415
    from hub.store.transfer import migrate_sqlite_to_pg  # noqa: PLC0415

    source: str = args.source
    if not source.startswith("sqlite:") or not source.removeprefix("sqlite:"):
        raise ChuongError(f"--from must be sqlite:PATH (the post's store file), not {source!r}")
    if not is_url(args.target):
        raise ChuongError("--to must be a postgresql:// URL")
    path = Path(source.removeprefix("sqlite:"))
    counts = migrate_sqlite_to_pg(
        path, args.target, progress=lambda table, n: print(f"  {table}: {n} rows")
    )
    print(
        f"copied {sum(counts.values())} rows from {path} to {redact(args.target)}; "
        "set store.url to it (CHUONG_STORE__URL) and start the hub"
    )
    return 0


def cmd_registry_import(args: argparse.Namespace) -> int:
    from hub.registry.file import import_registry, load_registry_file  # noqa: PLC0415

    config = load_config(args.config)
    registry = load_registry_file(args.file)
    with open_store(config) as conn:
        changed = import_registry(conn, registry, SystemClock().now())
    print(
        f"{args.file}: {len(registry.sites)} sites, {len(registry.buttons)} buttons "
        f"({changed['sites']} sites and {changed['buttons']} buttons added or changed)"
    )
    return 0
