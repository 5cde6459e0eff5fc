"""Asset checks beside the assets they check: the GX suites of `quality/` run
on the month's DataFrame inside the asset's step, their results go to
dq.results (kept across months) before anything downstream starts, and Dagster
shows one check for the critical expectations (severity ERROR) and one for the
warnings."""

import datetime as dt

import dagster as dg
import polars as pl

import quality
from lowincome import monthly
from lowincome.months import previous_month
from lowincome.warehouse import Warehouse

CRITICAL = "critical_expectations"
WARNING = "warning_expectations"
LINKAGE = "linkage_quality"


def check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(CRITICAL, asset=key, description="严重级检查：失败则本月该来源不可用于预警"),
        dg.AssetCheckSpec(WARNING, asset=key, description="警示级检查：失败只报告，预警照常发布"),
    ]


def linkage_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(LINKAGE, asset=key, description="关联质量：关联率、较上月变化、待人工复核积压")]


def _check_result(key: dg.AssetKey, name: str, results: list, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    failed = [r for r in results if not r.success]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=not failed,
        severity=severity,
        metadata={
            "expectations": len(results),
            "failed": len(failed),
            "failed_expectations": "; ".join(f"{r.expectation}（{r.description}）: {r.observed}" for r in failed),
        },
    )


def run_source_checks(
    warehouse: Warehouse, source: str, month: dt.date, data: pl.DataFrame, audit: dict, key: dg.AssetKey
) -> list[dg.AssetCheckResult]:
    previous = monthly.read_audit(warehouse, source, previous_month(month))
    results = quality.validate_source(source, month, data, audit, previous)
    with warehouse.writer() as con:
        quality.write_results(con, month, source, results)
    return [
        _check_result(key, CRITICAL, [r for r in results if r.severity == "critical"], dg.AssetCheckSeverity.ERROR),
        _check_result(key, WARNING, [r for r in results if r.severity == "warning"], dg.AssetCheckSeverity.WARN),
    ]


def run_linkage_checks(warehouse: Warehouse, source: str, month: dt.date, key: dg.AssetKey) -> list[dg.AssetCheckResult]:
    tag = f"linkage:{source}"
    with warehouse.writer() as con:
        results = [r for r in quality.linkage_quality(con, month) if r.source == tag]
        quality.write_results(con, month, tag, results)
    return [_check_result(key, LINKAGE, results, dg.AssetCheckSeverity.WARN)]
