"""One monthly asset per delivered source: find, read, standardise, quarantine,
load into std.<source>, then run the source's data-quality suite (asset checks
beside the asset)."""

import json
import time

import dagster as dg

from assets import quality_checks as dq
from assets.common import asset_kwargs, standard_metadata, table_columns
from assets.partitions import WAREHOUSE_POOL, monthly_partitions
from assets.preflight import PREFLIGHT
from lowincome import monthly
from lowincome.months import month_of
from lowincome.privacy import mask_free_text
from lowincome.schema import ALL_SOURCES, EXTRACT_SOURCES, SOURCE_LABELS
from pipelines.resources import MonitorConfig


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
        check_specs=dq.check_specs(std_key(source)),
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
        check_results = dq.run_source_checks(warehouse, source, month, result.data, audit, std_key(source))
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
