"""Asset checks beside the assets they check: the GX suites of `quality/` run
on the month's DataFrame, their results go to dq.results (kept across months),
and Dagster shows one check for the critical expectations and one for the
warnings. A failed critical check is severity ERROR."""


import datetime as dt

import dagster as dg
import polars as pl

from lowincome import monthly
from lowincome.warehouse import Warehouse, replace_rows
import quality

CRITICAL = "critical_expectations"
WARNING = "warning_expectations"


def check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(CRITICAL, asset=key, description="严重级检查：失败则本月该来源不可用于预警"),
        dg.AssetCheckSpec(WARNING, asset=key, description="警示级检查：失败只报告，预警照常发布"),
    ]


def store_results(warehouse: Warehouse, source: str, suite: str, month: dt.date, frame: pl.DataFrame) -> None:
    frame = frame.with_columns(pl.lit(suite).alias("suite"))
    with warehouse.writer() as con:
        replace_rows(con, "dq.results", frame, "month = ? AND source = ? AND suite = ?", [month, source, suite])


def to_check_results(key: dg.AssetKey, results: list) -> list[dg.AssetCheckResult]:
    out = []
    for name, severity_label, dg_severity in (
        (CRITICAL, "critical", dg.AssetCheckSeverity.ERROR),
        (WARNING, "warning", dg.AssetCheckSeverity.WARN),
    ):
        mine = [r for r in results if r.severity == severity_label]
        failed = [r for r in mine if not r.success]
        out.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=not failed,
                severity=dg_severity,
                metadata={
                    "expectations": len(mine),
                    "failed": len(failed),
                    "failed_expectations": "; ".join(f"{r.expectation}（{r.description}）: {r.observed}" for r in failed),
                },
            )
        )
    return out


def run_source_checks(
    warehouse: Warehouse, source: str, month: dt.date, data: pl.DataFrame, audit: dict, key: dg.AssetKey
) -> list[dg.AssetCheckResult]:
    previous = monthly.read_audit(warehouse, source, monthly.previous_month(month))
    results = quality.validate_source(source, month, data, audit, previous)
    store_results(warehouse, source, f"source:{source}", month, quality.results_frame(month, source, results))
    return to_check_results(key, results)
