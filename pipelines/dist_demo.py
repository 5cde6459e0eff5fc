"""`make dist-demo`: the sample months over four regions on the distributed deployment
(PostgreSQL instance, Celery workers; started by the Makefile with pipelines/dist/*.sh).

Generates synthetic deliveries (as `make demo` does), runs each month with the province
job on the workers, and prints each step's seconds per region and the month's flags."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from pipelines.dist_definitions import run_month_distributed, step_seconds
from pipelines.province import province_run_config

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", default=str(ROOT / "var" / "dist-demo"))
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--region-plan", default=str(ROOT / "data_samples" / "region_plan.yaml"))
    args = ap.parse_args(argv)

    from data_samples.generate import generate  # demo entry point: the only place that imports it

    root = Path(args.root)
    summary = generate(root, households=args.households, months=args.months, start_month="2026-07")
    config = province_run_config(
        root / "inbox",
        root / "warehouse.duckdb",
        root / "exports",
        ROOT / "data_samples" / "params.yaml",
        root / "store",
        args.region_plan,
    )
    for month in summary.month_dates:
        started = time.perf_counter()
        result = run_month_distributed(f"{month:%Y-%m-01}", config)
        wall = time.perf_counter() - started
        print(f"\n{month:%Y-%m}: {'ok' if result.success else 'FAILED'} in {wall:.1f} s (run {result.run_id})")
        if not result.success:
            return 1
        seconds = step_seconds(result.run_id)
        for key in sorted(seconds):
            print(f"  {key:<36} {seconds[key]:7.2f} s")
        con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
        rows = con.execute(
            "SELECT rule_code, status, active FROM flags.rule_runs WHERE month = ? ORDER BY rule_code", [month]
        ).fetchall()
        con.close()
        print(
            "  flags: "
            + ", ".join(
                f"{code} {active}" if status == "ran" else f"{code} ({status})" for code, status, active in rows
            )
        )
    print(f"\nwarehouse {root / 'warehouse.duckdb'}, exports {root / 'exports'}, store {root / 'store'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
