"""Grade the pipeline against the generator's ground truth and print the figures.

    .venv/bin/python benchmarks/grade_against_truth.py --households 2000 [--hard] [--rates FILE] [--seed S]

Linkage: per source, precision / recall / F1 of accepted links (a review is not
a link; records quarantined at ingestion are left out) and the share of records
in the review band; and the records whose only identity evidence was a name, by
the name's rarity: how many are registry persons and how many outsiders in the
truth (what a name alone can tell apart). Flags: per rule, precision / recall of
every row the caseworker sees against truth/flags.csv: fired, suppressed, and the
state 新增 / 持续 / 已清零; and the fired flags together with the 待核实 rows the
workbook lists beside them (flags.held_back). The grading itself is data_samples.truth, the run benchmarks.sample_run (shared with
bench_scale.py and the tests).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import polars as pl

from benchmarks.sample_run import (
    review_share,
    run_sample,
    warehouse_flags,
    warehouse_held,
    warehouse_links,
    warehouse_name_only,
)
from data_samples.truth import grade_fired_or_held, grade_flag_views, grade_links, name_only_split, true_links


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--hard", action="store_true", help="the hard corruption profile (corruption.yaml)")
    parser.add_argument("--rates", type=Path, help="YAML of corruption-rate overrides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_sample(Path(tmp), args.households, args.months, hard=args.hard, rates=args.rates, seed=args.seed)
        accepted, loaded = warehouse_links(run.warehouse)
        review = review_share(run.warehouse)
        print("Linkage (accepted links vs true links; review band share of the source's records):")
        for source, s in grade_links(true_links(run.truth, loaded), accepted).items():
            r, n = review.get(source, (0, 0))
            print(f"  {source:22s} {s}  review={r}/{n} ({r / max(n, 1):.2%})")
        # The first month has no link history (evidence.record_key): a monthly job has it
        # from its second month on, so each month is also shown on its own.
        truth = true_links(run.truth, loaded)
        months = sorted(loaded["month"].unique().to_list())
        if len(months) > 1:
            print("Linkage per month (recall; review share):")
            for month in months:
                at = pl.col("month").cast(pl.Date) == month
                scores = grade_links(truth.filter(at), accepted.filter(at))
                shares = review_share(run.warehouse, month)
                cells = [
                    f"{s} R={sc.recall:.4f} P={sc.precision:.4f} rev={shares.get(s, (0, 1))[0] / max(shares.get(s, (0, 1))[1], 1):.2%}"
                    for s, sc in scores.items()
                ]
                print(f"  {month}: " + "; ".join(cells))
        print("Records whose only identity evidence was a name (no valid or partial ID, no birth date, no history):")
        for row in name_only_split(run.truth, warehouse_name_only(run.warehouse)).iter_rows(named=True):
            print(
                f"  {row['source']:22s} {row['month']:5s} {row['name_rarity'] or '-':18s} registry persons "
                f"{row['members']:5d}  outsiders {row['outsiders']:5d} ({row['outsider_share']:.1%})  "
                f"accepted {row['accepted']:5d}  review {row['review']:5d}"
            )
        flags = warehouse_flags(run.warehouse)
        views = grade_flag_views(run.truth, flags)
        for view, scores in views.items():
            print(f"Flags, {view} (vs truth/flags.csv):")
            for rule, s in scores.items():
                print(f"  {rule:4s} {s}")
        print("Flags, fired or listed as 待核实 (flags.held_back) vs the truth's fired flags:")
        for rule, s in grade_fired_or_held(run.truth, flags, warehouse_held(run.warehouse)).items():
            print(f"  {rule:4s} {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
