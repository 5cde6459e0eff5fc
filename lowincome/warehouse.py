"""DuckDB warehouse access.

DuckDB allows one writing process per file. Every write goes through
`Warehouse.writer()`, which holds an inter-process file lock for the whole
session, so two Dagster runs (a backfill, the sensor, the CLI) never open the
file for writing at once. Readers use `reader()`: a read-only connection, taken
under the same lock because DuckDB refuses a read-only open while another
process has the file open for writing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from filelock import FileLock

from lowincome.schema import schema_sql


@functools.cache
def _ddl() -> tuple[str, str]:
    ddl = schema_sql()
    return ddl, hashlib.sha256(ddl.encode()).hexdigest()


def schema_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse was built with this version of the DDL (a read-only connection may ask)."""
    try:
        return con.execute("SELECT ddl_sha256 FROM ops.schema_version").fetchall() == [(_ddl()[1],)]
    except duckdb.CatalogException:
        return False


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the DDL (schema_sql: sql/schema/*.sql, then the std tables) once per
    version of it: the warehouse records the hash of the DDL it was built with, so
    opening a writer costs one small query."""
    ddl, digest = _ddl()
    con.execute("CREATE SCHEMA IF NOT EXISTS ops; CREATE TABLE IF NOT EXISTS ops.schema_version (ddl_sha256 VARCHAR)")
    if schema_current(con):
        return
    con.execute("BEGIN TRANSACTION")
    con.execute(ddl)
    con.execute("DELETE FROM ops.schema_version")
    con.execute("INSERT INTO ops.schema_version VALUES (?)", [digest])
    con.execute("COMMIT")


# DuckDB's own default is 80% of the machine's memory, and it keeps what it reads cached up to
# that: at a prefecture with two years of history the rules step alone held 5.7 GiB (7.9 before
# the rules read views). The run's budget is 8 GB, shared with the polars frames of the steps,
# so the warehouse gets a fixed share; past it DuckDB evicts its cache and spills to
# `<warehouse>.tmp`. Measured at 1x: 4.0-4.3 GiB, and no slower.
DEFAULT_MEMORY_LIMIT = "4GB"


class Warehouse:
    def __init__(self, path: str | Path, lock_timeout_s: float = 600.0, memory_limit: str = DEFAULT_MEMORY_LIMIT):
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout_s)
        self.config = {"memory_limit": memory_limit}

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            con = duckdb.connect(str(self.path), config=self.config)
            try:
                ensure_schema(con)
                yield con
            finally:
                con.close()

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.lock:
            con = self._read_only() if self.path.exists() else None
            if con is None or not schema_current(con):
                # Nothing written yet, or written with an older DDL (a new view or column that
                # this code reads): bring the schema up to date first, as the next writer would.
                if con is not None:
                    con.close()
                with self.writer():
                    pass
                con = self._read_only()
            try:
                yield con
            finally:
                con.close()

    def _read_only(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path), read_only=True, config=self.config)


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    df: pl.DataFrame,
    where: str,
    params: list | tuple = (),
) -> int:
    """Delete the rows matching `where` and insert `df`, atomically.

    `df` may carry a subset of the table's columns (by name); the rest get
    their defaults / NULL. Returns the number of rows inserted.
    """
    replace_many(con, [(table, df, where, params)])
    return df.height


def replace_many(
    con: duckdb.DuckDBPyConnection,
    changes: list[tuple[str, pl.DataFrame, str, list | tuple]],
) -> None:
    """Several delete-then-insert steps in one explicit transaction: either all
    tables show the new month or none does."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table, df, where, params in changes:
            con.execute(f"DELETE FROM {table} WHERE {where}", list(params))
            if df.height:
                con.register("_incoming", df.to_arrow())
                cols = ", ".join(f'"{c}"' for c in df.columns)
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
                con.unregister("_incoming")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def replace_month(
    con: duckdb.DuckDBPyConnection,
    table: str,
    month: dt.date,
    df: pl.DataFrame,
    source: str | None = None,
) -> int:
    """Replace one month (optionally one source of it) of `table` with `df`."""
    if source is None:
        return replace_rows(con, table, df, "month = ?", [month])
    return replace_rows(con, table, df, "month = ? AND source = ?", [month, source])


def query_pl(con: duckdb.DuckDBPyConnection, sql: str, params: list | tuple = ()) -> pl.DataFrame:
    """Run a query and return a polars frame (DuckDB 2 has no Connection.pl())."""
    return con.sql(sql, params=list(params) if params else None).pl()
