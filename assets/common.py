"""What every asset declares the same way: owners, tags, code version, and the
standard Dagster metadata (row count, column schema) built from plain values."""

from __future__ import annotations

import dagster as dg

OWNERS = ["team:data"]
TAGS = {"domain": "lowincome_monitoring"}
# Bump when an asset's logic changes so Dagster marks older materializations as stale.
CODE_VERSION = "2026.11"


def asset_kwargs(**tags: str) -> dict:
    return {"owners": OWNERS, "tags": {**TAGS, **tags}, "code_version": CODE_VERSION}


def table_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(kind)) for name, kind in columns])


def standard_metadata(row_count: int | None = None, columns: list[tuple[str, str]] | None = None) -> dict:
    """`dagster/row_count` and `dagster/column_schema`, which the UI plots and shows."""
    out: dict = {}
    if row_count is not None:
        out["dagster/row_count"] = dg.MetadataValue.int(int(row_count))
    if columns:
        out["dagster/column_schema"] = table_schema(columns)
    return out


def table_columns(warehouse, table: str) -> list[tuple[str, str]]:
    """(name, type) of a warehouse table, for the column schema."""
    schema, name = table.split(".", 1)
    with warehouse.reader() as con:
        return con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
