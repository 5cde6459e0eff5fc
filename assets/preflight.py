"""The job's first step: refuse the month before anything is written (bad
parameters, out-of-order month, unusable exports path). Every ingestion asset
depends on it, so a failure here skips the whole month (lowincome/preflight.py)."""

import dagster as dg

from assets.common import asset_kwargs
from assets.partitions import FIRST_MONTH, monthly_partitions
from assets.resources import MonitorConfig
from lowincome.months import month_of
from lowincome.preflight import PreflightError, preflight

PREFLIGHT = dg.AssetKey(["ops", "preflight"])


@dg.asset(
    key=PREFLIGHT,
    partitions_def=monthly_partitions,
    group_name="ingestion",
    kinds={"python"},
    description=(
        "运行前检查：规则参数合法（无 NaN/无穷大/超出合理范围）、月份按顺序处理、导出目录可写；"
        "任一不满足则本月不写入任何数据"
    ),
    **asset_kwargs(),
)
def month_preflight(context: dg.AssetExecutionContext, monitor: MonitorConfig):
    month = month_of(context.partition_key)
    try:
        params = preflight(
            month,
            monitor.params,
            monitor.warehouse,
            monitor.inbox_path,
            monitor.exports_path,
            first_month=month_of(FIRST_MONTH),
        )
    except PreflightError as exc:  # one clear line in the UI, no retry: nothing has been written
        raise dg.Failure(description=f"{month:%Y-%m} refused: {exc}", allow_retries=False) from exc
    context.log.info(
        f"preflight {month:%Y-%m}: parameters {params.source_path} valid, month order ok, exports writable"
    )
    return dg.MaterializeResult(metadata={"params": str(params.source_path or "")})
