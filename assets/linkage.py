"""Linkage assets: every agency record of the month linked to its registry
person (linkage.links), one asset per agency source, with its linkage-quality
check beside it (link rate, change against last month, review backlog)."""

import datetime as dt
import time

import dagster as dg

import quality
from assets.common import asset_kwargs, check_result, check_spec, standard_metadata, table_columns
from assets.ingestion import std_key
from assets.partitions import WAREHOUSE_POOL, monthly_partitions
from assets.resources import MonitorConfig
from lowincome import monthly
from lowincome.months import month_of
from lowincome.schema import AGENCY_SOURCES, REGISTRY, SOURCE_LABELS
from lowincome.warehouse import Warehouse

LINKAGE = "linkage_quality"


def links_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["linkage", source])


def linkage_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [check_spec(name=LINKAGE, asset=key, description="关联质量：关联率、较上月变化、待人工复核积压")]


def run_linkage_checks(
    warehouse: Warehouse, source: str, month: dt.date, key: dg.AssetKey
) -> list[dg.AssetCheckResult]:
    tag = f"linkage:{source}"
    with warehouse.writer() as con:
        results = quality.linkage_quality(con, month, source=source)
        quality.write_results(con, month, tag, results)
    return [check_result(key, LINKAGE, results)]


def build_linkage_asset(source: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=links_key(source),
        deps=[std_key(REGISTRY), std_key(source)],
        partitions_def=monthly_partitions,
        group_name="linkage",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=(
            f"{SOURCE_LABELS[source]}记录与低收入人口数据库逐人匹配（linkage.links）：身份证号精确匹配，"
            "其余按姓名、出生日期、住址概率匹配；不确定的进入待人工核对清单"
        ),
        check_specs=linkage_check_specs(links_key(source)),
        **asset_kwargs(source=source),
    )
    def _link(context: dg.AssetExecutionContext, monitor: MonitorConfig):
        started = time.perf_counter()
        month = month_of(context.partition_key)
        result, review_path = monthly.link_source(
            monitor.open_warehouse(), monitor.inbox_path, monitor.exports_path, source, month
        )
        m = result.metrics
        checks = run_linkage_checks(monitor.open_warehouse(), source, month, links_key(source))
        seconds = time.perf_counter() - started
        context.log.info(
            f"linkage/{source} {month:%Y-%m}: exact {m.get('exact', 0):,}, probabilistic {m.get('probabilistic', 0):,}, "
            f"clerical {m.get('clerical', 0):,}, review {m.get('review', 0):,}, unmatched {m.get('unmatched', 0):,} "
            f"in {seconds:.1f} s"
        )
        with monitor.open_warehouse().reader() as con:
            issues = con.execute(
                "SELECT reason_code, count(*) FROM ops.returned_issues WHERE month = ? AND kind = 'review_decisions' "
                "AND source IN ('*', ?) GROUP BY ALL ORDER BY ALL",
                [month, source],
            ).fetchall()
        if issues:  # returned review lists: refused rows, unreadable files (reported, never a failed month)
            context.log.warning(
                f"linkage/{source} {month:%Y-%m}: returned review lists: "
                + ", ".join(f"{code} {n}" for code, n in issues)
            )
        metadata = {
            # one linkage.links row per record
            **standard_metadata(m.get("records", 0), table_columns(monitor.open_warehouse(), "linkage.links")),
            "exact": m.get("exact", 0),
            "probabilistic": m.get("probabilistic", 0),
            "clerical": m.get("clerical", 0),
            "review": m.get("review", 0),
            "unmatched": m.get("unmatched", 0),
            "candidate_pairs": m.get("candidate_pairs", 0),
            "classifier": str(m.get("classifier", "")),
            "records": m.get("records", 0),
            "records_scored": m.get("records_scored", 0),
            "seconds": float(m.get("seconds", 0.0)),
            "seconds_exact": float(m.get("seconds_exact", 0.0)),
            "seconds_probabilistic": float(m.get("seconds_probabilistic", 0.0)),
            "review_list": str(review_path or ""),
        }
        return dg.MaterializeResult(check_results=checks, metadata=metadata)

    return _link


linkage_assets = [build_linkage_asset(s) for s in AGENCY_SOURCES]
