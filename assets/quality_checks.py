"""Asset checks beside the assets they check: the GX suites of `quality/` run
on the month's DataFrame inside the asset's step, their results go to
dq.results (kept across months) before anything downstream starts, and Dagster
shows one check per expectation family, evaluated for the run's partition.

A family's check fails with severity ERROR when one of its critical
expectations failed, WARN when only warnings failed. The checks are not
`blocking`: a critical failure of the registry must still let the flags asset
record the withheld month and the auditor's report explain it (outputs.md), and
an agency source's critical failure only skips the rules that need it."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import polars as pl

import quality
from assets.partitions import monthly_partitions
from lowincome import monthly
from lowincome.months import previous_month
from lowincome.privacy import mask_free_text
from lowincome.warehouse import Warehouse
from quality.results import CRITICAL

# family -> (Chinese description, expectation-name prefixes). First match wins; the
# last family takes whatever no other family names, so no expectation is lost.
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "delivery": (
        "文件送达、可读、与清单一致、必需列齐全",
        (
            "file_delivered",
            "file_readable",
            "required_columns_present",
            "std_columns_present",
            "manifest_",
            "no_unknown_columns",
        ),
    ),
    "accounting": (
        "加载核算：读取=入库+隔离、隔离占比、行数较上月变化",
        ("load_accounting_balanced", "quarantine_share", "row_count_"),
    ),
    "id_quality": ("身份证号有效率", ("id_valid_share",)),
    "completeness": ("必填字段非空", ("not_null:",)),
    "validity": (
        "取值范围与格式：代码、金额、日期、地区、诊断编码",
        ("in_set:", "in_range:", "money_", "date_", "birth_date", "region_format:", "icd10_format", "flag_id_format"),
    ),
    "uniqueness": ("重复人员与重复记录", ("unique", "no_duplicate_records")),
    "consistency": ("记录内与户内一致性（户主、人口数、费用合计、起止日期等）", ()),
}
LINKAGE = "linkage_quality"


def family_of(expectation: str) -> str:
    for family, (_desc, prefixes) in FAMILIES.items():
        if any(expectation.startswith(p) for p in prefixes):
            return family
    return "consistency"


def _spec(**kw) -> dg.AssetCheckSpec:
    with warnings.catch_warnings():  # partitioned checks are a preview feature of Dagster 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(partitions_def=monthly_partitions, **kw)


def check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        _spec(name=f, asset=key, description=f"数据质量检查（{desc}）：严重级失败则本月该来源不可用于预警")
        for f, (desc, _p) in FAMILIES.items()
    ]


def linkage_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [_spec(name=LINKAGE, asset=key, description="关联质量：关联率、较上月变化、待人工复核积压")]


def _check_result(key: dg.AssetKey, name: str, results: list) -> dg.AssetCheckResult:
    failed = [r for r in results if not r.success]
    critical = [r for r in failed if r.severity == CRITICAL]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
        metadata={
            "expectations": len(results),
            "failed": len(failed),
            "failed_critical": len(critical),
            "expectation_names": ", ".join(r.expectation for r in results),
            "failed_expectations": mask_free_text(
                "; ".join(f"{r.expectation}（{r.description}）: {r.observed}" for r in failed)
            ),
        },
    )


def run_source_checks(
    warehouse: Warehouse, source: str, month: dt.date, data: pl.DataFrame, audit: dict, key: dg.AssetKey
) -> list[dg.AssetCheckResult]:
    previous = monthly.read_audit(warehouse, source, previous_month(month))
    results = quality.validate_source(source, month, data, audit, previous)
    with warehouse.writer() as con:
        quality.write_results(con, month, source, results)
    by_family: dict[str, list] = {f: [] for f in FAMILIES}
    for r in results:
        by_family[family_of(r.expectation)].append(r)
    return [_check_result(key, f, rs) for f, rs in by_family.items()]


def run_linkage_checks(
    warehouse: Warehouse, source: str, month: dt.date, key: dg.AssetKey
) -> list[dg.AssetCheckResult]:
    tag = f"linkage:{source}"
    with warehouse.writer() as con:
        results = [r for r in quality.linkage_quality(con, month) if r.source == tag]
        quality.write_results(con, month, tag, results)
    return [_check_result(key, LINKAGE, results)]
