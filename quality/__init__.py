"""Data quality: GX 1.x suites per source, linkage quality, the auditor's report.

No Dagster here: the asset checks in assets/ call these plain functions.
GX is imported lazily (on the first validation), so importing this package is cheap.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from lowincome.warehouse import Warehouse
from quality.config import QualityConfig, default_config
from quality.linkage_quality import linkage_quality
from quality.report import flags_withheld, write_report
from quality.results import ExpectationResult, results_frame, summarize, write_results
from quality.suites import validate_source

__all__ = [
    "ExpectationResult",
    "QualityConfig",
    "default_config",
    "export_report",
    "flags_withheld",
    "linkage_quality",
    "linkage_results",
    "results_frame",
    "source_results",
    "summarize",
    "validate_source",
    "write_report",
    "write_results",
]


def export_report(warehouse: Warehouse, exports: Path | str, month: dt.date) -> Path:
    """The month's auditor report from the warehouse (read-only), under `exports`."""
    with warehouse.reader() as con:
        return write_report(con, month, Path(exports))


def source_results(
    source: str, month: dt.date, data: pl.DataFrame, audit: dict, previous_audit: dict | None
) -> pl.DataFrame:
    """The source's suite as dq.results rows (the province path stores them with the delivery)."""
    return results_frame(month, source, validate_source(source, month, data, audit, previous_audit))


def linkage_results(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    """The month's linkage-quality expectations as dq.results rows."""
    return results_frame(month, "linkage", linkage_quality(con, month))
