"""The rule catalogue applied to the month: flags.risk_flags with its lifecycle."""

import time

import dagster as dg

from assets.common import asset_kwargs, standard_metadata, table_columns
from assets.ingestion import std_key
from assets.linkage import links_key
from assets.partitions import FIRST_MONTH, WAREHOUSE_POOL, monthly_partitions
from assets.resources import MonitorConfig
from lowincome import monthly
from lowincome.months import month_of
from lowincome.preflight import check_order
from lowincome.privacy import mask_free_text
from lowincome.rules import RULES
from lowincome.schema import AGENCY_SOURCES, ALL_SOURCES

RISK_FLAGS = dg.AssetKey(["flags", "risk_flags"])
STATE_KEYS = {"新增": "new", "持续": "continuing", "已清零": "cleared"}


@dg.asset(
    key=RISK_FLAGS,
    # The previous month's flags too: a month's lifecycle is computed against them, so
    # Dagster backfills materialize the months in order (lowincome/preflight.py).
    deps=[std_key(s) for s in ALL_SOURCES]
    + [links_key(s) for s in AGENCY_SOURCES]
    + [dg.AssetDep(RISK_FLAGS, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1))],
    partitions_def=monthly_partitions,
    group_name="flags",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "sql"},
    description=(
        "风险预警：按规则目录（sql/rules/ R01–R11）对本月数据逐户判定，写入 flags.risk_flags，"
        "含新增/持续/已清零状态和处置反馈；低收入人口数据库严重级检查未通过时本月暂缓发布"
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "flags_published",
            asset=RISK_FLAGS,
            description="本月预警是否发布（低收入人口数据库严重级检查失败时暂缓发布）",
        )
    ],
    **asset_kwargs(),
)
def risk_flags(context: dg.AssetExecutionContext, monitor: MonitorConfig):
    started = time.perf_counter()
    month = month_of(context.partition_key)
    warehouse = monitor.open_warehouse()
    # last guard for runs that select this asset without ops/preflight
    check_order(monitor.warehouse, monitor.inbox_path, month, month_of(FIRST_MONTH))
    result = monthly.evaluate_rules(warehouse, monitor.params, month)
    seconds = time.perf_counter() - started
    if result.withheld:
        context.log.error(mask_free_text(f"flags withheld for {month:%Y-%m}: {result.withheld_reason}"))
    active = sum(result.active_by_rule.values())
    context.log.info(
        f"flags/risk_flags {month:%Y-%m}: {active:,} active flags, {len(result.ran)} rules ran, "
        f"{len(result.skipped)} skipped in {seconds:.1f} s"
    )
    rows = sum(result.counts_by_state.values())
    metadata = {
        **standard_metadata(rows, table_columns(warehouse, "flags.risk_flags")),
        # one numeric entry per rule and per state, so the UI plots them across partitions
        **{f"active_flags_{code}": int(result.active_by_rule.get(code, 0)) for code in RULES},
        **{f"flags_{key}": int(result.counts_by_state.get(state, 0)) for state, key in STATE_KEYS.items()},
        "rules_skipped": dg.MetadataValue.json(result.skipped),
        "withheld": result.withheld,
        "withheld_reason": mask_free_text(result.withheld_reason or ""),
        "seconds": seconds,
    }
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="flags_published",
                passed=not result.withheld,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"reason": mask_free_text(result.withheld_reason or "")},
            )
        ],
    )
