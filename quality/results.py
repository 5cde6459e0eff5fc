"""One checked expectation, and its row in dq.results."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lowincome.schema import polars_schema

CRITICAL = "critical"
WARNING = "warning"

# dq.results as sql/schema/40_dq.sql declares it.
DQ_RESULTS_SCHEMA = polars_schema("dq.results")


@dataclass
class ExpectationResult:
    expectation: str  # stable name, e.g. "in_set:event_type"
    description: str  # Chinese, for auditors
    severity: str  # critical / warning
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    suite: str = ""
    # When set, the dq.results source of this row (linkage results: "linkage:<source>").
    source: str | None = None

    @property
    def failed_critical(self) -> bool:
        return self.severity == CRITICAL and not self.success


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def results_frame(month: dt.date, source: str, results: list[ExpectationResult]) -> pl.DataFrame:
    """Rows for dq.results (all its columns, in order)."""
    rows = [
        {
            "month": month,
            "source": r.source or source,
            "suite": r.suite or f"dq_{source}",
            "expectation": r.expectation,
            "description": r.description,
            "severity": r.severity,
            "success": bool(r.success),
            "unexpected_count": None if r.unexpected_count is None else int(r.unexpected_count),
            "element_count": None if r.element_count is None else int(r.element_count),
            "observed": r.observed,
            "details": _json(r.details or {}),
        }
        for r in results
    ]
    return pl.DataFrame(rows, schema=DQ_RESULTS_SCHEMA)


def write_results(con, month: dt.date, source: str, results: list[ExpectationResult]) -> int:
    """Replace (month, source) in dq.results — and (month, "<source>:*") for results
    that carry their own source, e.g. source="linkage" replaces every
    "linkage:<agency>" row of the month. Other months are kept."""
    from lowincome.warehouse import replace_rows

    frame = results_frame(month, source, results)
    return replace_rows(
        con, "dq.results", frame, "month = ? AND (source = ? OR source LIKE ?)", [month, source, source + ":%"]
    )


def summarize(results: list[ExpectationResult]) -> dict[str, Any]:
    """A plain summary for an asset check / log line: passed (no critical
    failure), counts, and the failed expectations in Chinese."""
    failed = [r for r in results if not r.success]
    critical = [r for r in failed if r.severity == CRITICAL]
    return {
        "passed": not critical,
        "expectations": len(results),
        "failed_critical": len(critical),
        "failed_warning": len(failed) - len(critical),
        "critical_reasons": "; ".join(f"{r.expectation}（{r.description}）: {r.observed}" for r in critical),
        "warning_reasons": "; ".join(
            f"{r.expectation}（{r.description}）: {r.observed}" for r in failed if r.severity != CRITICAL
        ),
    }
