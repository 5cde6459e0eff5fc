"""Province job: in process vs distributed (Celery workers, PostgreSQL instance), figures printed.

    .venv/bin/python benchmarks/bench_distributed.py --households 2000 [--no-celery]

Generates two months (synthetic), then for month M-1 and M runs
  1. the single-machine asset job `monthly_monitoring` (in process, no regions),
  2. the province job in process (4 regions, one process),
  3. the province job on the Celery workers (4 regions; start them first:
     pipelines/dist/servers.sh start && pipelines/dist/workers.sh start 2),
and prints the wall time per month, the distributed overhead over in process, every
step's seconds per region, the content-hash comparison of 2 and 3, and an on-paper
estimate for a 16-worker deployment and a 10-million-person province from the measured
per-region step times. Not a test: figures only.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "data_samples" / "params.yaml"
PLAN = ROOT / "data_samples" / "region_plan.yaml"


def fingerprints(out: Path) -> tuple[dict, dict]:
    from lowincome import province as prov

    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        return prov.table_fingerprints(con), prov.workbook_fingerprints(out / "exports")
    finally:
        con.close()


def registry_persons(out: Path, month) -> int:
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM std.registry WHERE month = ?", [month]).fetchone()[0]
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--root", default=None)
    ap.add_argument("--no-celery", action="store_true", help="skip the distributed run")
    ap.add_argument("--workers", type=int, default=2, help="Celery worker processes running (for the estimate)")
    args = ap.parse_args()

    import dagster as dg

    from data_samples.generate import generate
    from pipelines.cli import run_month
    from pipelines.definitions import defs
    from pipelines.province import province_run_config

    root = Path(args.root or tempfile.mkdtemp(prefix="bench_dist_"))
    summary = generate(root / "sample", households=args.households, months=2, start_month="2026-07")
    months = summary.month_dates
    inbox = root / "sample" / "inbox"
    walls: dict[str, list[float]] = {"asset job (no regions)": [], "province, in process": [], "province, Celery": []}
    steps: dict[str, dict[str, float]] = {}

    for month in months:
        t = time.perf_counter()
        ok = run_month(
            month,
            inbox=str(inbox),
            warehouse=str(root / "single" / "warehouse.duckdb"),
            exports=str(root / "single" / "exports"),
            params=str(PARAMS),
        ).success
        walls["asset job (no regions)"].append(time.perf_counter() - t)
        assert ok

    job = defs.resolve_job_def("province_monthly")
    instance = dg.DagsterInstance.ephemeral()
    for month in months:
        config = province_run_config(
            inbox,
            root / "inproc" / "warehouse.duckdb",
            root / "inproc" / "exports",
            PARAMS,
            root / "inproc" / "store",
            PLAN,
        )
        t = time.perf_counter()
        result = job.execute_in_process(run_config=config, partition_key=f"{month:%Y-%m-01}", instance=instance)
        walls["province, in process"].append(time.perf_counter() - t)
        assert result.success
        records = instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS, limit=10_000
        ).records
        steps[f"in process {month:%Y-%m}"] = {
            r.event_log_entry.step_key: r.event_log_entry.dagster_event.event_specific_data.duration_ms / 1000
            for r in records
        }

    celery = not args.no_celery and bool(os.environ.get("DAGSTER_CELERY_BROKER"))
    if celery:
        from pipelines.dist_definitions import run_month_distributed, step_seconds

        for month in months:
            config = province_run_config(
                inbox,
                root / "dist" / "warehouse.duckdb",
                root / "dist" / "exports",
                PARAMS,
                root / "dist" / "store",
                PLAN,
            )
            t = time.perf_counter()
            result = run_month_distributed(f"{month:%Y-%m-01}", config)
            walls["province, Celery"].append(time.perf_counter() - t)
            assert result.success
            steps[f"Celery {month:%Y-%m}"] = step_seconds(result.run_id)

    print(
        f"\n{args.households:,} households, {registry_persons(root / 'inproc', months[-1]):,} registry persons, "
        f"4 regions, {os.cpu_count()} cores"
    )
    print(f"{'wall per month (s)':<28}" + "".join(f"{m:%Y-%m}".rjust(10) for m in months))
    for name, values in walls.items():
        if values:
            print(f"{name:<28}" + "".join(f"{v:10.1f}" for v in values))
    base = walls["province, in process"]
    if walls["province, Celery"]:
        over = [100 * (d / b - 1) for d, b in zip(walls["province, Celery"], base)]
        print("Celery overhead over in process: " + ", ".join(f"{o:+.0f}%" for o in over))
        same = fingerprints(root / "dist") == fingerprints(root / "inproc")
        print(f"content hashes, every table and workbook, Celery vs in process: {'identical' if same else 'DIFFER'}")

    con = duckdb.connect(str(root / "inproc" / "warehouse.duckdb"), read_only=True)
    try:
        con.execute(f"ATTACH '{root / 'single' / 'warehouse.duckdb'}' AS single (READ_ONLY)")
        diff = con.execute("""
            SELECT l.source, count(*) AS records,
                   count(*) FILTER (WHERE s.registry_row IS DISTINCT FROM l.registry_row
                                    OR s.decision IS DISTINCT FROM l.decision) AS differ
            FROM linkage.links l LEFT JOIN single.linkage.links s USING (month, source, source_row)
            GROUP BY 1 ORDER BY 1""").fetchall()
        flags = con.execute("""
            SELECT count(*) FROM (
                (SELECT flag_id, state FROM flags.risk_flags EXCEPT SELECT flag_id, state FROM single.flags.risk_flags)
                UNION ALL
                (SELECT flag_id, state FROM single.flags.risk_flags EXCEPT SELECT flag_id, state FROM flags.risk_flags))""").fetchone()[
            0
        ]
    finally:
        con.close()
    print(
        "region split vs the single-machine job (classifier fitted per region): links with another person "
        "or decision: " + ", ".join(f"{src} {d}/{n}" for src, n, d in diff) + f"; flags differing: {flags}"
    )

    print("\nstep seconds (M):")
    last = [k for k in steps if k.endswith(f"{months[-1]:%Y-%m}")]
    keys = sorted({k for name in last for k in steps[name]})
    print(f"{'step':<34}" + "".join(name.rsplit(" ", 1)[0].rjust(14) for name in last))
    for key in keys:
        print(f"{key:<34}" + "".join(f"{steps[name].get(key, float('nan')):14.2f}" for name in last))

    # On paper: the per-region steps scale with the region's persons (blocks are local);
    # ingest and the exact pass are per source / province-wide; publish is one writer.
    ref = steps[last[-1]]
    persons = registry_persons(root / "inproc", months[-1])
    region_link = sum(v for k, v in ref.items() if k.startswith("link_region[") and "_unplaced" not in k)
    region_rules = sum(v for k, v in ref.items() if k.startswith("rules_region["))
    serial = sum(
        v
        for k, v in ref.items()
        if k.startswith(
            ("ingest_", "exact_pass", "link_region[_unplaced]", "publish", "caseworker_workbooks", "quality_report")
        )
    )
    per_person = (region_link + region_rules) / persons
    target, workers = 10_000_000, 16
    parallel_work = per_person * target
    ingest_scale = serial * target / persons
    print(
        f"\non paper, 10,000,000 registry persons on {workers} workers:"
        f"\n  region steps measured: {region_link + region_rules:.1f} s for {persons:,} persons "
        f"= {per_person * 1e3:.3f} ms per person (link {region_link:.1f} s, rules {region_rules:.1f} s)"
        f"\n  region work {parallel_work / 3600:.1f} worker-hours -> {parallel_work / workers / 60:.0f} min on {workers} workers"
        f"\n  province-wide steps (ingest per source, exact pass, unplaced, publish, exports) measured {serial:.1f} s,"
        f"\n  linear extrapolation {ingest_scale / 60:.0f} min if run on one machine as now "
        f"(ingest runs one step per source, so at most 6 in parallel)"
    )
    print(f"\nfolders under {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
