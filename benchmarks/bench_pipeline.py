"""Time the monthly job on generated deliveries and print the figures.

    .venv/bin/python benchmarks/bench_pipeline.py --households 2000 --months 3
    .venv/bin/python benchmarks/bench_pipeline.py --households 20000 --months 3   # 10× the demo

Prints, per month, the wall time of every step (from Dagster's step events), the
linkage figures per source, and the peak resident memory of the pipeline: the
generator runs before, in its own process, so its memory is not counted. Exits
non-zero when a month fails. For a prefecture's size see bench_scale.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.cli import run_month

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "data_samples" / "params.yaml"


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
        # the generator runs in its own process: its memory must not count in the peak RSS below
        gen = subprocess.run(
            [
                sys.executable,
                "-m",
                "data_samples.generate",
                "--out",
                str(root),
                "--households",
                str(args.households),
                "--months",
                str(args.months),
                "--seed",
                str(args.seed),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        if gen.returncode:
            print("generation FAILED")
            return 1
        print(f"generated {args.households} households × {args.months} months in {time.perf_counter() - t0:.1f} s")
        paths = {
            "inbox": str(root / "inbox"),
            "warehouse": str(root / "w.duckdb"),
            "exports": str(root / "exports"),
            "params": str(PARAMS),
        }
        months = sorted(dt.date.fromisoformat(f"{p.name}-01") for p in (root / "inbox").iterdir() if p.is_dir())
        totals: dict[str, float] = {}
        failed = []
        for month in months:
            t1 = time.perf_counter()
            result = run_month(month, log_level="WARNING", **paths)
            wall = time.perf_counter() - t1
            if not result.success:
                failed.append(f"{month:%Y-%m}")
            steps = step_seconds(result)
            for k, v in steps.items():
                totals[k] = totals.get(k, 0.0) + v
            print(f"\n{month:%Y-%m}: {'ok' if result.success else 'FAILED'} — wall {wall:.1f} s")
            for k, v in sorted(steps.items(), key=lambda kv: -kv[1]):
                print(f"   {k:40s} {v:7.2f} s")
            for source, m in linkage_metadata(result).items():
                unmatched = m.get("unmatched", 0) or 0
                pairs = m.get("candidate_pairs", 0) or 0
                print(
                    f"   linkage {source:22s} exact={m.get('exact')} prob={m.get('probabilistic')} "
                    f"review={m.get('review')} unmatched={unmatched} pairs={pairs} "
                    f"pairs/non-exact={pairs / max(1, (m.get('probabilistic', 0) or 0) + (m.get('review', 0) or 0) + unmatched):.1f} "
                    f"({m.get('seconds', 0):.2f} s)"
                )
        linkage_total = sum(v for k, v in totals.items() if k.startswith("linkage__"))
        print(f"\nall months: linkage {linkage_total:.1f} s, all steps {sum(totals.values()):.1f} s")
        print(f"peak RSS of the pipeline {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if failed:
        print(f"FAILED months: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
