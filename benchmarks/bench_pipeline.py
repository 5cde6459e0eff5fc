"""Time the monthly job on generated deliveries and print the figures.

    .venv/bin/python benchmarks/bench_pipeline.py --households 2000 --months 3
    .venv/bin/python benchmarks/bench_pipeline.py --households 20000 --months 3   # 10× the demo

Prints, per month, the wall time of every step (from Dagster's step events), the
linkage figures per source, and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_samples.generate import generate  # noqa: E402
from pipelines.cli import run_month  # noqa: E402

PARAMS = Path(__file__).resolve().parent.parent / "data_samples" / "params.yaml"


def step_seconds(result) -> dict[str, float]:
    out = {}
    for event in result.all_events:
        if event.is_step_success:
            out[event.step_key] = event.event_specific_data.duration_ms / 1000
    return out


def linkage_metadata(result) -> dict[str, dict]:
    out = {}
    for event in result.all_events:
        if event.is_step_materialization and event.step_key.startswith("linkage__"):
            meta = event.event_specific_data.materialization.metadata
            out[event.step_key.removeprefix("linkage__")] = {k: v.value for k, v in meta.items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        summary = generate(root, households=args.households, months=args.months, seed=args.seed)
        print(f"generated {args.households} households × {args.months} months in {time.perf_counter() - t0:.1f} s")
        paths = {"inbox": str(root / "inbox"), "warehouse": str(root / "w.duckdb"),
                 "exports": str(root / "exports"), "params": str(PARAMS)}
        totals: dict[str, float] = {}
        for month in summary.month_dates:
            t1 = time.perf_counter()
            result = run_month(month, log_level="WARNING", **paths)
            wall = time.perf_counter() - t1
            steps = step_seconds(result)
            for k, v in steps.items():
                totals[k] = totals.get(k, 0.0) + v
            print(f"\n{month:%Y-%m}: {'ok' if result.success else 'FAILED'} — wall {wall:.1f} s")
            for k, v in sorted(steps.items(), key=lambda kv: -kv[1]):
                print(f"   {k:40s} {v:7.2f} s")
            for source, m in linkage_metadata(result).items():
                unmatched = m.get("unmatched", 0) or 0
                pairs = m.get("candidate_pairs", 0) or 0
                print(f"   linkage {source:22s} exact={m.get('exact')} prob={m.get('probabilistic')} "
                      f"review={m.get('review')} unmatched={unmatched} pairs={pairs} "
                      f"pairs/non-exact={pairs / max(1, (m.get('probabilistic', 0) or 0) + (m.get('review', 0) or 0) + unmatched):.1f} "
                      f"({m.get('seconds', 0):.2f} s)")
        linkage_total = sum(v for k, v in totals.items() if k.startswith("linkage__"))
        print(f"\nall months: linkage {linkage_total:.1f} s, all steps {sum(totals.values()):.1f} s")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
