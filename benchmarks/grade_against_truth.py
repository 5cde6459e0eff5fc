"""Grade the pipeline against the generator's ground truth and print the figures.

    .venv/bin/python benchmarks/grade_against_truth.py --households 2000

Linkage: per source, precision / recall / F1 of accepted links (a review is not
a link; records quarantined at ingestion are left out). Flags: per rule,
precision / recall of fired (month, household, rule) against truth/flags.csv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import run_sample  # noqa: E402
from lowincome.warehouse import Warehouse, query_pl  # noqa: E402


def prf(tp: int, got: int, truth: int) -> str:
    p = tp / got if got else 1.0
    r = tp / truth if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"P={p:.4f} R={r:.4f} F1={f:.4f} (tp={tp}, raised={got}, truth={truth})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_sample(Path(tmp), args.households)
        with Warehouse(run.warehouse).reader() as con:
            links = query_pl(con, "SELECT month, source, source_row, registry_row FROM linkage.links WHERE decision = 'accept'")
            loaded = query_pl(con, "SELECT month, source, source_row FROM linkage.links")
            flags = query_pl(con, "SELECT month, household_key, rule_code FROM flags.risk_flags WHERE fired")
        truth = (pl.read_csv(run.truth / "links.csv", schema_overrides={"registry_row": pl.Int32, "source_row": pl.Int32})
                 .with_columns(pl.col("month").str.to_date())
                 .filter(pl.col("source") != "registry", pl.col("registry_row").is_not_null())
                 .join(loaded, on=["month", "source", "source_row"]))  # quarantined records are not linkable
        key = ["month", "source", "source_row", "registry_row"]
        print("Linkage (accepted links vs true links):")
        for source in sorted(truth["source"].unique()):
            t = truth.filter(pl.col("source") == source).select(key)
            g = links.filter(pl.col("source") == source).select(key)
            print(f"  {source:22s} {prf(t.join(g, on=key).height, g.height, t.height)}")
        tflags = pl.read_csv(run.truth / "flags.csv").with_columns(pl.col("month").str.to_date())
        fkey = ["month", "household_key", "rule_code"]
        print("Flags (fired vs truth/flags.csv):")
        for rule in sorted(tflags["rule_code"].unique()) + ["*"]:
            sel = (lambda f: f) if rule == "*" else (lambda f, r=rule: f.filter(pl.col("rule_code") == r))
            t, g = sel(tflags).select(fkey).unique(), sel(flags).select(fkey).unique()
            print(f"  {rule:4s} {prf(t.join(g, on=fkey).height, g.height, t.height)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
