"""Grade the pipeline against the generator's ground truth and print the figures.

    .venv/bin/python benchmarks/grade_against_truth.py --households 2000

Linkage: per source, precision / recall / F1 of accepted links (a review is not
a link; records quarantined at ingestion are left out). Flags: per rule,
precision / recall of fired (month, household, rule) against truth/flags.csv.
The grading itself is data_samples.truth (shared with bench_scale.py and the tests).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_samples.truth import grade_flags, grade_links, run_sample, true_links, warehouse_links  # noqa: E402
from lowincome.warehouse import Warehouse, query_pl  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_sample(Path(tmp), args.households)
        accepted, loaded = warehouse_links(run.warehouse)
        with Warehouse(run.warehouse).reader() as con:
            flags = query_pl(con, "SELECT month, household_key, rule_code FROM flags.risk_flags WHERE fired")
        print("Linkage (accepted links vs true links):")
        for source, s in grade_links(true_links(run.truth, loaded), accepted).items():
            print(f"  {source:22s} {s}")
        print("Flags (fired vs truth/flags.csv):")
        for rule, s in grade_flags(run.truth, flags).items():
            print(f"  {rule:4s} {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
