"""What people receive: caseworker workbooks per township and the auditor's
data-quality report."""

import time

import dagster as dg

import quality
from assets.common import asset_kwargs
from assets.flags import RISK_FLAGS
from assets.partitions import monthly_partitions
from assets.resources import MonitorConfig
from lowincome import monthly
from lowincome.months import month_of


@dg.asset(
    key=dg.AssetKey(["exports", "caseworker_workbooks"]),
    deps=[RISK_FLAGS],
    partitions_def=monthly_partitions,
    group_name="exports",
    kinds={"excel"},
    description=(
        "乡镇（街道）预警核查清单（Excel，每乡镇一册，按户分组、严重程度优先，含处置结果填报列）"
        "及汇总表（村表/乡镇表/县表）；本月预警暂缓发布时不生成"
    ),
    **asset_kwargs(audience="caseworkers"),
)
def caseworker_workbooks(context: dg.AssetExecutionContext, monitor: MonitorConfig):
    started = time.perf_counter()
    month = month_of(context.partition_key)
    paths = monthly.export_workbooks(
        monitor.open_warehouse(), monitor.exports_path, month, regions=monitor.region_names(month)
    )
    seconds = time.perf_counter() - started
    folder = monitor.exports_path / f"{month:%Y-%m}"
    context.log.info(f"exports {month:%Y-%m}: {len(paths)} workbooks in {folder} ({seconds:.1f} s)")
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(len(paths)),
        "workbooks": len(paths),
        "folder": dg.MetadataValue.path(str(folder)),
        "files": dg.MetadataValue.md("\n".join(f"- {p.name}" for p in paths) or "（本月无清单）"),
        "seconds": seconds,
    }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=dg.AssetKey(["exports", "quality_report"]),
    deps=[RISK_FLAGS],
    partitions_def=monthly_partitions,
    group_name="exports",
    kinds={"html"},
    description="审计用月度数据质量报告（HTML）：加载核算、各检查项及问题行、关联质量、隔离原因、规则执行和预警数、趋势",
    **asset_kwargs(audience="auditors"),
)
def quality_report(context: dg.AssetExecutionContext, monitor: MonitorConfig):
    started = time.perf_counter()
    month = month_of(context.partition_key)
    path = quality.export_report(monitor.open_warehouse(), monitor.exports_path, month)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    context.log.info(f"report {month:%Y-%m}: {path} ({size / 1024:.0f} KB, {seconds:.1f} s)")
    metadata = {"report": dg.MetadataValue.path(str(path)), "size_bytes": size, "seconds": seconds}
    return dg.MaterializeResult(metadata=metadata)
