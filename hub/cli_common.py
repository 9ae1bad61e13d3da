"""What every `chuong` subcommand module shares: the `--config` option and the store."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
from pathlib import Path

from hub.config import Config
from hub.store.db import open_sync_at


def config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML configuration (default: CHUONG_CONFIG, else built-in defaults)",
    )


def open_store(config: Config) -> contextlib.closing[sqlite3.Connection]:
    """A short-lived synchronous connection to the store (a running hub sees the changes at its
    next batch)."""
    location = config.store.url or config.store.path
    return contextlib.closing(open_sync_at(location, config.store.busy_timeout_ms))
