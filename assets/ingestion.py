"""One monthly asset per delivered source: find, read, standardise, quarantine,
load into std.<source>, then run the source's data-quality suite (asset checks
beside the asset).

The GX suites of `quality/` run on the month's DataFrame inside the asset's step,
their results go to dq.results (kept across months) before anything downstream
starts, and Dagster shows one check per expectation family, evaluated for the run's
partition. A family's check fails with severity ERROR when one of its critical
expectations failed, WARN when only warnings failed. The checks are not `blocking`:
a critical failure of the registry must still let the flags asset record the
withheld month and the auditor's report explain it (outputs.md), and an agency
source's critical failure only skips the rules that need it."""

import datetime as dt
import json
import time

import dagster as dg
import polars as pl

import quality
from assets.common import asset_kwargs, check_result, check_spec, standard_metadata, table_columns
from assets.partitions import WAREHOUSE_POOL, monthly_partitions
from assets.preflight import PREFLIGHT
from assets.resources import MonitorConfig
from lowincome import monthly
from lowincome.months import month_of, previous_month
from lowincome.privacy import mask_free_text
from lowincome.schema import ALL_SOURCES, EXTRACT_SOURCES, SOURCE_LABELS
from lowincome.warehouse import Warehouse

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


def family_of(expectation: str) -> str:
    for family, (_desc, prefixes) in FAMILIES.items():
        if any(expectation.startswith(p) for p in prefixes):
            return family
    return "consistency"


def check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        check_spec(name=f, asset=key, description=f"数据质量检查（{desc}）：严重级失败则本月该来源不可用于预警")
        for f, (desc, _p) in FAMILIES.items()
    ]


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
    return [check_result(key, f, rs) for f, rs in by_family.items()]


def std_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["std", source])


def build_ingestion_asset(source: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=std_key(source),
        deps=[PREFLIGHT],
        partitions_def=monthly_partitions,
        group_name="ingestion",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "polars"},
        description=(
            f"{SOURCE_LABELS[source]}：本月交付文件读取、标准化后入库 std.{source}；"
            "问题行隔离到 ops.quarantine（附原因），读取=入库+隔离记入 ops.load_audit"
        ),
        check_specs=check_specs(std_key(source)),
        **asset_kwargs(source=source),
    )
    def _ingest(context: dg.AssetExecutionContext, monitor: MonitorConfig):
        started = time.perf_counter()
        month = month_of(context.partition_key)
        warehouse = monitor.open_warehouse()
        result = monthly.ingest_source(warehouse, monitor.inbox_path, source, month)
        audit = result.audit
        if result.status == "rejected" or (result.status == "missing" and source in EXTRACT_SOURCES):
            context.log.warning(mask_free_text(f"{source} {month:%Y-%m}: {result.status} — {audit['error']}"))
        if audit["unknown_columns"]:
            context.log.info(
                mask_free_text(f"{source}: unknown columns kept out of the model: {audit['unknown_columns']}")
            )
        started_dq = time.perf_counter()
        check_results = run_source_checks(warehouse, source, month, result.data, audit, std_key(source))
        seconds_dq = round(time.perf_counter() - started_dq, 3)
        seconds = time.perf_counter() - started
        failed = [c.check_name for c in check_results if not c.passed]
        context.log.info(
            f"std/{source} {month:%Y-%m}: {result.status}, read {audit['rows_read']:,}, loaded {audit['rows_loaded']:,}, "
            f"quarantined {audit['rows_quarantined']:,} in {seconds:.1f} s"
            + (f"; checks failed: {', '.join(failed)}" if failed else "")
        )
        metadata = {
            **standard_metadata(audit["rows_loaded"], table_columns(warehouse, f"std.{source}")),
            "status": result.status,
            "source_file": audit["source_file"] or "",
            "encoding": audit["encoding"] or "",
            "rows_read": audit["rows_read"],
            "rows_loaded": audit["rows_loaded"],
            "rows_quarantined": audit["rows_quarantined"],
            "unknown_columns": mask_free_text(", ".join(audit["unknown_columns"])),
            "optional_values_nulled": dg.MetadataValue.json(json.loads(audit["optional_nulled"])),
            "error": mask_free_text(audit["error"] or ""),
            "warnings": mask_free_text(", ".join(audit["warnings"])),
            "seconds": seconds,
            "seconds_read": round(result.seconds_read, 3),
            "seconds_standardise": round(result.seconds_standardise, 3),
            "seconds_dq": seconds_dq,
        }
        return dg.MaterializeResult(metadata=metadata, check_results=check_results)

    return _ingest


ingestion_assets = [build_ingestion_asset(s) for s in ALL_SOURCES]
