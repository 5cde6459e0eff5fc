"""A province's month over regions: `province_monthly`, a per-region fan-out inside one
monthly job (see README "Beyond one machine").

    ingest_<source> ×6 ─┐                 ┌ link_region[r1] ┐          ┌ rules_region[r1] ┐
                        ├─ exact_pass ────┼ link_region[…]  ┼─ route ──┼ rules_region[…]  ┼─ publish ─┬ workbooks
                        ┘  (province)     └ link_region[_unplaced] ┘   └ rules_region[rN] ┘ (1 writer) └ report

Regions come from the region plan (a data file, MONITOR_REGION_PLAN) when the run
starts: a dynamic fan-out, so a province changes its regions without a code change and
the month stays one run, one partition key, one publish. Region steps and ingestion write
Parquet under the store root (MONITOR_STORE, a folder or an fsspec URL); only `publish`
writes the DuckDB warehouse. The same job runs in process (`build_province_job()`) or on
Celery workers (`pipelines/dist_definitions.py`).
"""

import os
import signal
import time

import dagster as dg

import quality
from assets.partitions import WAREHOUSE_POOL, monthly_partitions
from assets.resources import PROJECT_ROOT, MonitorConfig
from lowincome import monthly
from lowincome import province as prov
from lowincome.months import month_of
from lowincome.schema import ALL_SOURCES

# Fault injection for the tests: in a run tagged with this (value: a region name), that
# region's step kills its own process with SIGKILL after half its output is written
# (never committed) - in the first run only, not in its re-execution.
KILL_TAG = "lowincome/fault_kill_region"
RETRY = dg.RetryPolicy(max_retries=2, delay=1)


class ProvinceConfig(dg.ConfigurableResource):
    """Where region steps write (store root: folder or fsspec URL) and the region plan."""

    store: str
    region_plan: str = ""

    @classmethod
    def from_env(cls) -> "ProvinceConfig":
        return cls(
            store=os.environ.get("MONITOR_STORE") or str(PROJECT_ROOT / "var" / "store"),
            region_plan=os.environ.get("MONITOR_REGION_PLAN", ""),
        )

    def open_store(self) -> prov.PartitionStore:
        return prov.PartitionStore(self.store)

    def plan(self) -> prov.RegionPlan:
        return prov.RegionPlan.load(self.region_plan or None)


def _ingest_op(source: str) -> dg.OpDefinition:
    @dg.op(
        name=f"ingest_{source}",
        out=dg.Out(dg.Nothing),
        retry_policy=RETRY,
        tags={"kind": "ingest", "source": source},
        description=f"Read and standardise {source}, run its GX suite; std rows split by region into the store",
    )
    def _op(context: dg.OpExecutionContext, monitor: MonitorConfig, province: ProvinceConfig):
        month = month_of(context.partition_key)
        started = time.perf_counter()
        audit = prov.ingest_to_store(
            province.open_store(), province.plan(), monitor.inbox_path, source, month, checks=quality.source_results
        )
        context.log.info(
            f"ingest {source} {month:%Y-%m}: read {audit['rows_read']:,}, loaded {audit['rows_loaded']:,}, "
            f"quarantined {audit['rows_quarantined']:,} in {time.perf_counter() - started:.1f} s"
        )

    return _op


ingest_ops = {s: _ingest_op(s) for s in ALL_SOURCES}


@dg.op(
    ins={"ingested": dg.In(dg.Nothing)},
    out=dg.DynamicOut(str),
    retry_policy=RETRY,
    description="Province-wide exact-ID pass: records of people registered in another region move there; "
    "then one linkage step per region of the plan and one for the records still unplaced",
)
def exact_pass(context: dg.OpExecutionContext, province: ProvinceConfig):
    month = month_of(context.partition_key)
    started = time.perf_counter()
    plan = province.plan()
    moved = prov.exact_pass(province.open_store(), plan, month)
    context.log.info(
        f"exact pass {month:%Y-%m}: records handed to another region {moved} "
        f"in {time.perf_counter() - started:.1f} s; regions {plan.names}"
    )
    for region in [*plan.names, prov.UNPLACED]:
        yield dg.DynamicOutput(region, mapping_key=region)


@dg.op(
    retry_policy=RETRY,
    tags={"kind": "region"},
    description="Probabilistic linkage of one region's records to its registry (or of the unplaced records "
    "to the whole registry); its Parquet partition replaced",
)
def link_region(context: dg.OpExecutionContext, region: str, monitor: MonitorConfig, province: ProvinceConfig) -> dict:
    month = month_of(context.partition_key)
    kill = context.run.tags.get(KILL_TAG) == region and context.run.parent_run_id is None and context.retry_number == 0
    try:
        result = prov.link_region(
            province.open_store(), province.plan(), monitor.inbox_path, month, region, fail_half_way=kill
        )
    except prov.InjectedFault:
        context.log.warning(f"fault injection: SIGKILL to the process linking region {region} ({os.getpid()})")
        os.kill(os.getpid(), signal.SIGKILL)
    context.log.info(f"link {region} {month:%Y-%m}: {result.rows.get('links', 0):,} links in {result.seconds:.2f} s")
    context.add_output_metadata(
        {"seconds": result.seconds, "pid": os.getpid(), **{f"rows_{k}": v for k, v in result.rows.items()}}
    )
    return {"step": "link", "region": region, "seconds": result.seconds}


@dg.op(out=dg.DynamicOut(str), description="Every region linked: one rules step per region of the plan")
def route_regions(linked: list[dict], province: ProvinceConfig):
    for region in province.plan().names:
        yield dg.DynamicOutput(region, mapping_key=region)


@dg.op(
    retry_policy=RETRY,
    tags={"kind": "region"},
    description="The rule catalogue for one region in a region-local DuckDB; its Parquet partition replaced",
)
def rules_region(context: dg.OpExecutionContext, region: str, monitor: MonitorConfig, province: ProvinceConfig) -> dict:
    month = month_of(context.partition_key)
    result = prov.rules_region(province.open_store(), province.plan(), monitor.params, month, region)
    context.log.info(
        f"rules {region} {month:%Y-%m}: {result.rows.get('risk_flags', 0):,} flag rows in {result.seconds:.2f} s"
    )
    context.add_output_metadata(
        {"seconds": result.seconds, "pid": os.getpid(), **{f"rows_{k}": v for k, v in result.rows.items()}}
    )
    return {"step": "rules", "region": region, "seconds": result.seconds}


@dg.op(
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    out=dg.Out(dg.Nothing),
    description="The only writer: load the month from every region's committed Parquet into DuckDB atomically",
)
def publish(context: dg.OpExecutionContext, regions: list[dict], monitor: MonitorConfig, province: ProvinceConfig):
    month = month_of(context.partition_key)
    started = time.perf_counter()
    counts = prov.publish(
        province.open_store(), province.plan(), monitor.open_warehouse(), month, linkage_checks=quality.linkage_results
    )
    context.log.info(
        f"publish {month:%Y-%m}: {sum(counts.values()):,} rows in {len(counts)} tables "
        f"in {time.perf_counter() - started:.1f} s"
    )
    context.add_output_metadata(dict(counts.items()))


@dg.op(
    ins={"published": dg.In(dg.Nothing)},
    retry_policy=RETRY,
    description="Caseworker workbooks and the linkage review lists, read from the published warehouse",
)
def caseworker_workbooks(context: dg.OpExecutionContext, monitor: MonitorConfig):
    month = month_of(context.partition_key)
    warehouse = monitor.open_warehouse()
    paths = monthly.export_workbooks(warehouse, monitor.exports_path, month, regions=monitor.region_names(month))
    reviews = prov.write_review_lists(warehouse, monitor.exports_path, month)
    context.log.info(f"exports {month:%Y-%m}: {len(paths)} workbooks, {len(reviews)} review lists")


@dg.op(
    ins={"published": dg.In(dg.Nothing)},
    retry_policy=RETRY,
    description="The auditor's data-quality report, read from the published warehouse",
)
def quality_report(context: dg.OpExecutionContext, monitor: MonitorConfig):
    month = month_of(context.partition_key)
    path = quality.export_report(monitor.open_warehouse(), monitor.exports_path, month)
    context.log.info(f"report {month:%Y-%m}: {path}")


def build_province_job(
    executor_def: dg.ExecutorDefinition | None = None, name: str = "province_monthly"
) -> dg.JobDefinition:
    @dg.job(
        name=name,
        partitions_def=monthly_partitions,
        executor_def=executor_def or dg.in_process_executor,
        description="省级月度监测：按区域并行（精确匹配全省一次，概率匹配与规则按区域），单一发布入库",
        tags={"domain": "lowincome_monitoring"},
    )
    def _job():
        ingested = [ingest_ops[s]() for s in ALL_SOURCES]
        linked = exact_pass(ingested=ingested).map(link_region).collect()
        published = publish(route_regions(linked).map(rules_region).collect())
        caseworker_workbooks(published=published)
        quality_report(published=published)

    return _job


province_monthly_job = build_province_job()


def province_run_config(
    inbox: str, warehouse: str, exports: str, params: str, store: str, region_plan: str = "", regions: str = ""
) -> dict:
    """Run config naming every path, so the run process and the workers agree on them."""
    return {
        "resources": {
            "monitor": {
                "config": {
                    "inbox": str(inbox),
                    "warehouse": str(warehouse),
                    "exports": str(exports),
                    "params": str(params),
                    "regions": str(regions),
                }
            },
            "province": {"config": {"store": str(store), "region_plan": str(region_plan)}},
        },
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }
