import dagster as dg

from assets.partitions import monthly_partitions

# The whole month, from the inbox to the workbooks and the report. The in-process
# executor keeps the month's steps in one process: DuckDB takes one writer.
monthly_monitoring_job = dg.define_asset_job(
    name="monthly_monitoring",
    selection=dg.AssetSelection.all(),
    partitions_def=monthly_partitions,
    executor_def=dg.in_process_executor,
    description="低收入人口月度动态监测：接收、标准化、匹配、质量检查、预警、导出",
)
