"""The rule catalogue applied to the month: flags.risk_flags with its lifecycle."""


import dagster as dg

from assets.ingestion import std_key
from assets.linkage import links_key
from assets.partitions import WAREHOUSE_POOL, monthly_partitions
from lowincome import monthly
from lowincome.schema import AGENCY_SOURCES, ALL_SOURCES
from lowincome.months import month_of
from pipelines.resources import MonitorConfig

RISK_FLAGS = dg.AssetKey(["flags", "risk_flags"])


@dg.asset(
    key=RISK_FLAGS,
    deps=[std_key(s) for s in ALL_SOURCES] + [links_key(s) for s in AGENCY_SOURCES],
    partitions_def=monthly_partitions,
    group_name="flags",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "sql"},
    description="风险预警（规则 R01–R11），含新增/持续/已清零状态",
    check_specs=[
        dg.AssetCheckSpec(
            "flags_published", asset=RISK_FLAGS, description="本月预警是否发布（低收入人口数据库严重级检查失败时暂缓发布）"
        )
    ],
)
def risk_flags(context: dg.AssetExecutionContext, monitor: MonitorConfig):
    month = month_of(context.partition_key)
    result = monthly.evaluate_rules(monitor.open_warehouse(), monitor.params, month)
    if result.withheld:
        context.log.error(f"flags withheld for {month:%Y-%m}: {result.withheld_reason}")
    return dg.MaterializeResult(
        metadata={
            "flags_by_rule": dg.MetadataValue.json(result.counts_by_rule),
            "flags_by_state": dg.MetadataValue.json(result.counts_by_state),
            "rules_skipped": dg.MetadataValue.json(result.skipped),
            "withheld": result.withheld,
            "withheld_reason": result.withheld_reason or "",
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="flags_published",
                passed=not result.withheld,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"reason": result.withheld_reason or ""},
            )
        ],
    )
