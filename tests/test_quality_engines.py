"""GX on DuckDB (the default, fast path) gives the same results as GX on pandas
(the original path): on every source and month of the generated sample, and on a
small frame with known failures whose counts and examples are written out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from quality_fixtures import good_frame, load_row

from lowincome import monthly
from lowincome.months import previous_month
from lowincome.schema import EXTRACT_SOURCES
from lowincome.warehouse import Warehouse
from quality import QualityConfig, validate_source

CFG = QualityConfig()
MONTH = dt.date(2026, 8, 1)


def _fields(results):
    return [
        (r.expectation, r.severity, r.success, r.unexpected_count, r.element_count, r.observed, r.details)
        for r in results
    ]


@pytest.mark.slow
def test_duckdb_and_pandas_agree_on_the_generated_sample(sample_run):
    warehouse = Warehouse(sample_run.warehouse)
    compared, failed_with_examples = 0, set()
    for month in sample_run.months:
        for source in EXTRACT_SOURCES:
            data = monthly.read_std(warehouse, source, month)
            audit = monthly.read_audit(warehouse, source, month)
            previous = monthly.read_audit(warehouse, source, previous_month(month))
            fast = validate_source(source, month, data, audit, previous, CFG, engine="duckdb")
            slow = validate_source(source, month, data, audit, previous, CFG, engine="pandas")
            assert _fields(fast) == _fields(slow), (source, month)
            assert not any("error" in r.details for r in fast), (source, month)
            compared += len(fast)
            failed_with_examples |= {
                (source, r.expectation) for r in fast if not r.success and r.details.get("examples")
            }
    assert compared > 300
    # The sample's corruptions make several expectations fail with examples: the comparison covers them.
    assert len(failed_with_examples) >= 3, failed_with_examples


def _known_failures() -> pl.DataFrame:
    """Health-insurance rows with hand-placed faults (row numbers 0-based)."""
    frame = good_frame("health_insurance", MONTH, 30)
    idx = pl.int_range(pl.len())
    frame = frame.with_columns(
        # rows 3 and 7: not an ICD-10 code; row 9: NULL (missing, not unexpected)
        pl.when(idx == 3)
        .then(pl.lit("c34"))
        .when(idx == 7)
        .then(pl.lit("X"))
        .when(idx == 9)
        .then(None)
        .otherwise(pl.col("diagnosis_icd10"))
        .alias("diagnosis_icd10"),
        # row 5: settled 20 days before the month (lag 15 allowed); row 6: after the month
        pl.when(idx == 5)
        .then(pl.lit(MONTH - dt.timedelta(days=20)))
        .when(idx == 6)
        .then(pl.lit(dt.date(2026, 9, 2)))
        .otherwise(pl.col("settled_on"))
        .alias("settled_on"),
        # row 11: 6-digit region with a letter
        pl.when(idx == 11).then(pl.lit("62010X")).otherwise(pl.col("insured_region")).alias("insured_region"),
    )
    # Rows 30 and 31 repeat row 2 and row 8 (with a NULL provider, as every row has): 4 duplicated records.
    extra = frame[[2, 8]].with_columns(pl.Series("source_row", [31, 32], dtype=frame.schema["source_row"]))
    return pl.concat([frame, extra])


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_known_failures_counted_by_hand(engine):
    frame = _known_failures()
    load = load_row("health_insurance", MONTH, frame.height)
    res = {r.expectation: r for r in validate_source("health_insurance", MONTH, frame, load, None, CFG, engine=engine)}
    icd = res["icd10_format"]
    assert (icd.success, icd.unexpected_count, icd.element_count) == (False, 2, 32)
    assert icd.details["missing_count"] == 1 and icd.details["examples"] == ["c34", "X"]
    settled = res["date_in_month:settled_on"]
    assert (settled.unexpected_count, settled.details["examples"]) == (2, ["2026-07-12", "2026-09-02"])
    region = res["region_format:insured_region"]
    assert (region.unexpected_count, region.details["examples"]) == (1, ["62010X"])
    dup = res["no_duplicate_records"]
    assert (dup.success, dup.unexpected_count, dup.element_count) == (False, 4, 32)
    assert len(dup.details["examples"]) == 4 and all(e["provider"] is None for e in dup.details["examples"])
    passed = {n for n, r in res.items() if r.success}
    assert {"cost_parts_sum", "not_null:out_of_pocket", "in_set:visit_type", "std_columns_present"} <= passed


def test_duckdb_views_do_not_outlive_a_validation():
    from quality import gx_duckdb

    frame = good_frame("civil_affairs", MONTH, 10)
    validate_source("civil_affairs", MONTH, frame, load_row("civil_affairs", MONTH, 10), None, CFG, engine="duckdb")
    _, con = gx_duckdb.sql_source(None, "unused")  # already created by the validation above
    views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert ("dq_civil_affairs",) not in views


def test_unknown_engine_is_refused():
    frame = good_frame("civil_affairs", MONTH, 5)
    with pytest.raises(ValueError, match="unknown GX engine"):
        validate_source("civil_affairs", MONTH, frame, load_row("civil_affairs", MONTH, 5), None, CFG, engine="spark")


@pytest.mark.slow
def test_ingestion_metadata_reports_seconds_dq(sample_run):
    seen = {}
    for result in sample_run.results:
        for event in result.all_events:
            if event.is_step_materialization and event.step_key.startswith("std__"):
                meta = event.event_specific_data.materialization.metadata
                seen[(event.step_key, result.run_id)] = meta["seconds_dq"].value
    steps = {step for step, _ in seen}
    assert {f"std__{s}" for s in EXTRACT_SOURCES} <= steps
    assert all(isinstance(v, float) and 0 < v < 600 for v in seen.values()), seen
