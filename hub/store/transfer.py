"""`chuong store migrate`: a post's whole history from its SQLite file into an empty PostgreSQL
database, in one transaction, checked row for row.

The SQLite file is first brought to this hub's schema (as the hub does when it starts) and then
read inside one read transaction, so the copy is one consistent moment even if something
writes the file meanwhile (stop the hub first: what it commits after that moment is not
copied). The PostgreSQL database is migrated to the same schema and must hold no rows: a copy
into a store in use would mix two histories. Every table is copied with COPY, its identity
counters are moved past the copied ids, and the row counts of both stores are compared before
the transaction commits: a failed or partial copy leaves the destination as empty as it was.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg import sql

from hub.errors import StoreError
from hub.store import pg
from hub.store.db import open_sync

log = logging.getLogger(__name__)

TABLES: Final = (
    "meta",
    "sites",
    "buttons",
    "device_state",
    "alarms",
    "presses",
    "audit",
    "rejected",
    "troubles",
    "api_tokens",
    "escalations",
    "outbox",
    "users",
    "sessions",
    "upstream",
    "post_changes",
    "posts",
)
"""Every table of the store, parents before the tables that refer to them."""

IDENTITIES: Final = {
    "presses": "id",
    "audit": "id",
    "rejected": "id",
    "api_tokens": "id",
    "outbox": "seq",
    "users": "id",
    "upstream": "seq",
    "post_changes": "id",
}
"""The columns PostgreSQL numbers itself (SQLite's INTEGER PRIMARY KEY)."""


def _sqlite_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {row[0] for row in rows}


def migrate_sqlite_to_pg(
    source: Path, url: str, *, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of the SQLite store at `source` into the empty PostgreSQL store at `url`;
    return the rows copied per table. Raises StoreError, and copies nothing, on any problem."""
    if not source.is_file():
        raise StoreError(f"no SQLite store at {source}")
    with contextlib.closing(open_sync(source)) as lite, pg.connect_sync(url) as dest:
        found = _sqlite_tables(lite)
        if found != set(TABLES):
            raise StoreError(
                f"the SQLite store's tables are not the ones this hub copies: "
                f"unexpected {sorted(found - set(TABLES))}, missing {sorted(set(TABLES) - found)}"
            )
        lite.execute("BEGIN")  # one consistent moment of the source
        counts: dict[str, int] = {}
        try:
            with dest.transaction():
                for table in TABLES:
                    name = sql.Identifier(table)
                    row = dest.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone()
                    if row and row[0]:
                        raise StoreError(
                            f"the PostgreSQL store is not empty ({table} has {row[0]} rows): "
                            "migrate into a new database"
                        )
                for table in TABLES:
                    counts[table] = _copy_table(lite, dest, table)
                    if progress is not None:
                        progress(table, counts[table])
                for table, column in IDENTITIES.items():
                    dest.execute(
                        sql.SQL(
                            "SELECT setval(pg_get_serial_sequence({t}, {c}), "
                            "coalesce(max({col}), 0) + 1, false) FROM {table}"
                        ).format(
                            t=sql.Literal(table),
                            c=sql.Literal(column),
                            col=sql.Identifier(column),
                            table=sql.Identifier(table),
                        )
                    )
                for table in TABLES:
                    row = dest.execute(
                        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                    ).fetchone()
                    copied = int(row[0]) if row else -1
                    if copied != counts[table]:
                        raise StoreError(
                            f"{table}: {counts[table]} rows read, {copied} in PostgreSQL"
                        )
        except psycopg.Error as exc:
            raise StoreError(f"the copy failed, nothing was written: {exc}") from exc
        finally:
            lite.execute("ROLLBACK")
    return counts


def _copy_table(lite: sqlite3.Connection, dest: psycopg.Connection[Any], table: str) -> int:
    columns = [row[1] for row in lite.execute(f"PRAGMA table_info({table})").fetchall()]
    listed = ", ".join(columns)
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    cursor = lite.execute(f"SELECT {listed} FROM {table}")
    with dest.cursor().copy(copy_sql) as copy:
        while rows := cursor.fetchmany(1000):
            for row in rows:
                copy.write_row(tuple(row))
            count += len(rows)
    return count
