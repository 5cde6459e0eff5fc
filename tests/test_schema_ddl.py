"""One schema per table: the polars dtypes the code writes with come from the DDL
(sql/schema/*.sql, and std_ddl() for std.<source>), and flag_id has one definition
(the macro in sql/schema/35_flag_id.sql)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from data_samples import flag_ids as gen_flag_ids
from lowincome import ingest, monthly, rules, schema
from lowincome.linkage.registry import LINK_SCHEMA
from lowincome.warehouse import Warehouse
from quality.results import DQ_RESULTS_SCHEMA, ExpectationResult, results_frame

ROOT = Path(__file__).resolve().parent.parent
MONTH = dt.date(2026, 8, 1)

# The test's own reading of DuckDB type names (not the code under test's): a type the
# DDL starts using that is not listed here fails the test until someone looks at it.
DUCKDB_TO_POLARS = {
    "VARCHAR": pl.String,
    "INTEGER": pl.Int32,
    "BIGINT": pl.Int64,
    "DOUBLE": pl.Float64,
    "DATE": pl.Date,
    "BOOLEAN": pl.Boolean,
    "VARCHAR[]": pl.List(pl.String),
}


@pytest.fixture(scope="module")
def warehouse_tables(tmp_path_factory) -> dict[str, list[tuple[str, pl.DataType]]]:
    """(column, polars dtype) of every table of a real warehouse built from the DDL."""
    wh = Warehouse(tmp_path_factory.mktemp("wh") / "w.duckdb")
    with wh.writer() as con:
        rows = con.execute(
            """SELECT schema_name || '.' || table_name, column_name, data_type
               FROM duckdb_columns() c
               WHERE NOT internal AND database_name = current_database() AND EXISTS (
                   SELECT 1 FROM duckdb_tables() t
                   WHERE t.database_name = c.database_name AND t.schema_name = c.schema_name
                     AND t.table_name = c.table_name)
               ORDER BY schema_name, table_name, column_index"""
        ).fetchall()
    tables: dict[str, list] = {}
    for table, column, typ in rows:
        if table == "ops.schema_version":  # the warehouse's own bookkeeping, not in the DDL files
            continue
        assert typ in DUCKDB_TO_POLARS, f"{table}.{column}: type {typ} unknown to this test"
        tables.setdefault(table, []).append((column, DUCKDB_TO_POLARS[typ]))
    return tables


def test_every_derived_table_schema_matches_the_ddl(warehouse_tables):
    assert schema.table_names() == sorted(warehouse_tables)
    assert {f"std.{s}" for s in schema.ALL_SOURCES} <= set(warehouse_tables)
    for table, expected in warehouse_tables.items():
        assert list(schema.polars_schema(table).items()) == expected, table


def test_the_frames_the_code_writes_carry_the_ddl_schema(warehouse_tables):
    def cols(table):
        return warehouse_tables[table]

    assert list(ingest.QUARANTINE_SCHEMA.items()) == cols("ops.quarantine")
    assert list(ingest.AUDIT_SCHEMA.items()) == cols("ops.load_audit")
    assert list(DQ_RESULTS_SCHEMA.items()) == cols("dq.results")
    assert list(LINK_SCHEMA.items()) == cols("linkage.links")
    assert list(monthly._RETURNED_FILES.items()) == cols("ops.returned_files")
    assert list(monthly._RETURNED_ISSUES.items()) == cols("ops.returned_issues")
    for source in schema.ALL_SOURCES:
        assert list(ingest.empty_std(source).schema.items()) == cols(f"std.{source}"), source

    runs = rules._rule_runs(MONTH, rules.RULES, ["ran"] * len(rules.RULES), [None] * len(rules.RULES), {})
    assert list(runs.schema.items()) == cols("flags.rule_runs")
    dq = results_frame(MONTH, "civil_affairs", [ExpectationResult("x", "说明", "warning", True, 1, 2)])
    assert list(dq.schema.items()) == cols("dq.results")


def test_a_loaded_delivery_has_the_std_quarantine_and_audit_schemas(tmp_path, warehouse_tables):
    path = tmp_path / "civil_affairs.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["姓名", "身份证号", "行政区划代码", "事件类型", "金额", "发生日期"])
        w.writerow(["王小红", "620102196003150011", "620102001001", "临时救助", "1200", "2026-08-03"])
        w.writerow(["", "", "620102001001", "临时救助", "5", "2026-08-04"])  # no name: quarantined
    res = ingest.load_delivery(path, "civil_affairs", MONTH)
    assert res.data.height == 1 and res.quarantine.height == 1
    assert list(res.data.schema.items()) == warehouse_tables["std.civil_affairs"]
    assert list(res.quarantine.schema.items()) == warehouse_tables["ops.quarantine"]
    assert list(res.audit_frame().schema.items()) == warehouse_tables["ops.load_audit"]


def _copy_schema_dir(tmp_path: Path) -> Path:
    target = tmp_path / "schema"
    shutil.copytree(schema.SCHEMA_DIR, target)
    return target


def test_a_column_added_to_the_ddl_appears_in_the_derived_schema(tmp_path):
    schema_dir = _copy_schema_dir(tmp_path)
    core = schema_dir / "00_core.sql"
    text = core.read_text(encoding="utf-8")
    anchor = "    raw VARCHAR                        -- the row as delivered, JSON\n);"
    assert anchor in text
    core.write_text(text.replace(anchor, "    raw VARCHAR,\n    reviewer_note VARCHAR,\n    weight BIGINT\n);"))

    before = schema.polars_schema("ops.quarantine")
    after = schema.polars_schema("ops.quarantine", schema_dir)
    assert "reviewer_note" not in before
    assert list(after.items()) == [*before.items(), ("reviewer_note", pl.String), ("weight", pl.Int64)]
    # every other table unchanged
    for table in schema.table_names():
        if table != "ops.quarantine":
            assert schema.polars_schema(table, schema_dir) == schema.polars_schema(table), table


def test_a_column_added_to_a_source_appears_in_its_std_schema(tmp_path, monkeypatch):
    spec = schema.SOURCES["civil_affairs"]
    extra = schema.Column("paid_on", "支付日期", "date", required_column=False)
    monkeypatch.setitem(schema.SOURCES, "civil_affairs", schema.SourceSpec(spec.name, (*spec.columns, extra)))
    derived = schema.polars_schema("std.civil_affairs", _copy_schema_dir(tmp_path))
    assert derived["paid_on"] == pl.Date
    assert list(derived)[:-1] == list(schema.polars_schema("std.civil_affairs"))


def test_an_unknown_table_is_an_error():
    with pytest.raises(KeyError, match=r"ops\.nothing"):
        schema.polars_schema("ops.nothing")


# --- flag_id -----------------------------------------------------------------------------

KEYS = [
    (dt.date(2026, 8, 1), "R02", "620102001001-0007"),
    (dt.date(2025, 12, 1), "R08", "RR:GS-2025-00031"),
    (dt.date(2027, 1, 1), "R11", "户编号甲"),
    (dt.date(2026, 10, 1), "R01", ""),
]


def _documented(month: dt.date, rule_code: str, household_key: str) -> str:
    """docs/CONTRACTS.md, written out independently of the macro."""
    return f"{month:%Y%m}-{rule_code}-{hashlib.sha1(household_key.encode()).hexdigest()[:8].upper()}"


@pytest.mark.parametrize(("month", "rule", "key"), KEYS)
def test_flag_id_is_the_documented_format(month, rule, key):
    assert schema.flag_id(month, rule, key) == _documented(month, rule, key)
    assert gen_flag_ids.flag_id(month, rule, key) == schema.flag_id(month, rule, key)


def test_the_warehouse_builds_flag_ids_with_the_same_macro(tmp_path):
    with Warehouse(tmp_path / "w.duckdb").writer() as con:
        got = con.execute(
            "SELECT flags.flag_id(m, r, k) FROM (VALUES " + ", ".join(["(?::DATE, ?, ?)"] * len(KEYS)) + ") t(m, r, k)",
            [v for row in KEYS for v in row],
        ).fetchall()
    assert [g for (g,) in got] == [_documented(*k) for k in KEYS]


def test_flag_id_is_built_in_one_place():
    """Only sql/schema/35_flag_id.sql hashes a household key into a flag ID."""
    pattern = re.compile(r"substr\(\s*sha1\(|sha1\(.*\)\.hexdigest\(\)\[:8\]")
    hits = [
        str(p.relative_to(ROOT))
        for folder in ("lowincome", "quality", "assets", "pipelines", "sql", "data_samples")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in {".py", ".sql"} and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert hits == ["sql/schema/35_flag_id.sql"]


def test_a_reader_brings_a_warehouse_built_with_an_older_ddl_up_to_date(tmp_path):
    # A warehouse written before flags.to_verify and held_back.category existed: the code that
    # only reads it (the workbooks, the report) must still find both.
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        con.execute("DROP VIEW flags.to_verify; ALTER TABLE flags.held_back DROP COLUMN category")
        con.execute("UPDATE ops.schema_version SET ddl_sha256 = 'an older ddl'")
    with wh.reader() as con:
        assert con.execute("SELECT count(*) FROM flags.to_verify").fetchall() == [(0,)]
        assert "category" in [r[0] for r in con.execute("DESCRIBE flags.held_back").fetchall()]
    with wh.reader() as con:  # up to date now: read as it is
        assert con.execute("SELECT count(*) FROM ops.schema_version").fetchall() == [(1,)]
