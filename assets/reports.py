"""What people receive: caseworker workbooks per township and the auditor's
data-quality report."""


import dagster as dg

from assets.flags import RISK_FLAGS
from assets.partitions import monthly_partitions
from lowincome import monthly
from lowincome.months import month_of
from pipelines.resources import MonitorConfig


@dg.asset(
    key=dg.AssetKey(["exports", "caseworker_workbooks"]),
    deps=[RISK_FLAGS],
    partitions_def=monthly_partitions,
    group_name="exports",
    kinds={"excel"},
    description="按乡镇（街道）的预警核查清单（Excel）及村表/乡镇表/县表",
)
def caseworker_workbooks(context: dg.AssetExecutionContext, monitor: MonitorConfig):
    month = month_of(context.partition_key)
    paths = monthly.export_workbooks(monitor.open_warehouse(), monitor.exports_path, month)
    return dg.MaterializeResult(
        metadata={
            "workbooks": len(paths),
            "folder": dg.MetadataValue.path(str(monitor.exports_path / f"{month:%Y-%m}")),
        }
    )


@dg.asset(
    key=dg.AssetKey(["exports", "quality_report"]),
    deps=[RISK_FLAGS],
    partitions_def=monthly_partitions,
    group_name="exports",
    kinds={"html"},
    description="审计用月度数据质量报告（HTML）",
)
def quality_report(context: dg.AssetExecutionContext, monitor: MonitorConfig):
    month = month_of(context.partition_key)
    path = monthly.export_quality_report(monitor.open_warehouse(), monitor.exports_path, month)
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(str(path))})
