"""The rules step of month M once the history is full: what bench_scale.py cannot show with
its two months.

    .venv/bin/python benchmarks/bench_rules_history.py --warehouse DATA/bench/warehouse.duckdb [--months 12]

Takes the warehouse a bench_scale.py run left (months M-1 and M), copies it, and gives the copy
a history: M-1's registry, agency std rows, links and load audit copied to the months before
it, until month M has `--months` months. Then runs the rules of month M (monthly.evaluate_rules,
the code of the flags step) on the two-month copy and on the full one, each in its own process,
and prints wall seconds, CPU seconds and peak RSS. The copies are synthetic history (the same
persons and records every month), which is what the rules' cost depends on: rows per month and
months read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from lowincome.schema import AGENCY_SOURCES, REGISTRY

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "data_samples" / "params.yaml"
# what the rules read of a month: the registry, the agency std rows, their links, the load audit
# (usable months); a month's flags are the run's own output
COPIED = (*(f"std.{s}" for s in (REGISTRY, *AGENCY_SOURCES)), "linkage.links", "ops.load_audit")


def add_history(path: Path, months: int) -> dt.date:
    """Copy the warehouse's second-to-last month back until the last month has `months` months;
    returns the last month."""
    con = duckdb.connect(str(path))
    try:
        prev, last = [r[0] for r in con.execute("SELECT DISTINCT month FROM std.registry ORDER BY 1").fetchall()][-2:]
        for k in range(1, months - 1):
            for table in COPIED:
                cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
                select = ", ".join(f"(month - INTERVAL {k} MONTH)::DATE" if c == "month" else f'"{c}"' for c in cols)
                con.execute(f"INSERT INTO {table} SELECT {select} FROM {table} WHERE month = ?", [prev])
        return last
    finally:
        con.close()


def child(warehouse: str, month: str) -> None:
    from lowincome import monthly
    from lowincome.warehouse import Warehouse

    t0, c0 = time.perf_counter(), time.process_time()
    result = monthly.evaluate_rules(Warehouse(Path(warehouse)), PARAMS, dt.date.fromisoformat(month))
    figures = {
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "flags": sum(result.counts_by_rule.values()),
    }
    print(json.dumps(figures))


def _in_child(*args) -> str:
    """Run this script with `args` in a process of its own; its last line of output.

    Each step gets its own process: the history's copies grow DuckDB's memory, and a child
    forked from a large parent inherits its peak (Linux keeps the high-water mark across fork
    and exec), so the rules' process would report the copying's peak, not its own."""
    out = subprocess.run(
        [sys.executable, __file__, *map(str, args)], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--history":
        print(add_history(Path(sys.argv[2]), int(sys.argv[3])).isoformat())
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", type=Path, required=True, help="a warehouse bench_scale.py left (months M-1, M)")
    ap.add_argument("--months", type=int, default=12, help="months of history month M has in the second run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_rules_", dir=args.warehouse.parent) as tmp:
        rows = []
        for months in (2, args.months):
            copy = Path(tmp) / f"warehouse_{months}.duckdb"
            shutil.copy(args.warehouse, copy)
            t0 = time.perf_counter()
            month = dt.date.fromisoformat(_in_child("--history", copy, months))
            print(f"{months} months: history copied in {time.perf_counter() - t0:.0f} s", flush=True)
            rows.append((months, json.loads(_in_child("--child", copy, month.isoformat()))))
            copy.unlink()
    print(f"\nrules of month {month:%Y-%m} (monthly.evaluate_rules, one process each):")
    print(f"  {'months read':>12} {'wall s':>8} {'CPU s':>8} {'peak RSS':>10} {'flags':>8}")
    for months, f in rows:
        print(f"  {months:>12} {f['wall']:>8.1f} {f['cpu']:>8.1f} {f['peak_gib']:>6.2f} GiB {f['flags']:>8,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
