"""The flag_id a caseworker copies from the pipeline's list into dispositions.xlsx.

The generator imports nothing of the pipeline; it reads the pipeline's one
definition of flag_id, the macro in sql/schema/35_flag_id.sql, as data and runs
it in an in-memory DuckDB, so the IDs it plants are the ones the pipeline issues.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from pathlib import Path

import duckdb

FLAG_ID_SQL = Path(__file__).resolve().parent.parent / "sql" / "schema" / "35_flag_id.sql"

_lock = threading.Lock()


@functools.cache
def _connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(FLAG_ID_SQL.read_text(encoding="utf-8"))
    return con


def flag_id(month: dt.date, rule: str, household_key: str) -> str:
    with _lock:
        return _connection().execute("SELECT flags.flag_id(?, ?, ?)", [month, rule, household_key]).fetchall()[0][0]
