"""The hard sample (issue 10 part 4, `generate --hard`): ~8 % blank IDs in civil_affairs and
human_resources, name-only records, Excel-mangled IDs and IDs stored as xlsx numbers,
namesakes in the same village, township and county among registry persons and outsiders.

Graded against the targets of issues 10 and 14, never bent to the pipeline: per source link
precision ≥ 0.999 and recall ≥ 0.995, review band ≤ 1 % of a source's records; flags F1 ≥ 0.99
over all rules and every rule's precision and recall ≥ 0.95. A test the pipeline cannot pass
yet is marked xfail(strict) with the measured shortfall: it turns red the day it passes.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.sample_run import review_share, run_sample, warehouse_flags, warehouse_links
from data_samples.truth import grade_flag_views, grade_links, true_links

HOUSEHOLDS = int(os.environ.get("HARD_SAMPLE_HOUSEHOLDS", "1000"))


@pytest.fixture(scope="module")
def hard_run(tmp_path_factory):
    return run_sample(tmp_path_factory.mktemp("hard_run"), HOUSEHOLDS, months=3, hard=True)


@pytest.mark.slow
def test_hard_sample_is_hard(hard_run):
    """The run is one where linkage is tested: records without an ID reach the linkage."""
    from lowincome.warehouse import Warehouse, query_pl

    with Warehouse(hard_run.warehouse).reader() as con:
        df = query_pl(con, "SELECT avg((id_number IS NULL)::INT) AS blank FROM std.civil_affairs")
    assert df["blank"][0] > 0.06


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "measured 2026-11-29 23:48 (1,000 households, 3 months, --hard, seed 20261129): civil_affairs P=1.0000 "
        "R=0.9959 review=0.52% and rural_revitalization meet the targets (P>=0.999, R>=0.995, review<=1%); "
        "health_insurance P=1.0000 R=0.9906 review=0.56%: its name-only claims get no unique_name_seen, whose "
        "monthly check on the ID-bearing claims finds too many of those it would link someone else's (R=0.9960 "
        "without the check); human_resources P=1.0000 R=0.9731 "
        "review=1.84%. Short: 人社 records with a blank ID and only a name, most in the first month, when neither "
        "history nor earlier deliveries exist (1st month R=0.9244, then 0.9949 and 0.9987). Their population is "
        "everyone, and outsiders carry the same names: in a first month a name unique in registry + delivery is "
        "no evidence (seed 7, 2,000 households: 12 of 78 such records are outsiders)"
    ),
)
def test_hard_sample_linkage_targets(hard_run):
    accepted, loaded = warehouse_links(hard_run.warehouse)
    scores = grade_links(true_links(hard_run.truth, loaded), accepted)
    review = review_share(hard_run.warehouse)
    short = []
    for source, s in scores.items():
        r, n = review[source]
        print(f"{source}: {s} review={r}/{n}")
        if s.precision < 0.999 or s.recall < 0.995 or r > 0.01 * n:
            short.append(f"{source}: P={s.precision:.4f} R={s.recall:.4f} review={r / n:.2%}")
    assert not short, "; ".join(short)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "measured 2026-11-29 15:50 (1,000 households, 3 months, --hard, seed 20261129): R06 R=0.857 (2 死亡火化 "
        "without an ID, exact name in the same village, in review: held as 待核实 by design -- a death is never "
        "asserted on a name), R09 R=0.867 (2 name-only 社保缴费 of the first month in review), all rules P=1.0000 "
        "R=0.9826 F1=0.9912 (targets: each rule P and R >= 0.95, F1 >= 0.99: met overall)"
    ),
)
def test_hard_sample_flag_targets(hard_run):
    fired = grade_flag_views(hard_run.truth, warehouse_flags(hard_run.warehouse))["fired"]
    short = [
        f"{rule}: P={s.precision:.3f} R={s.recall:.3f}"
        for rule, s in fired.items()
        if rule != "*" and (s.precision < 0.95 or s.recall < 0.95)
    ]
    if fired["*"].f1 < 0.99:
        short.append(f"all: F1={fired['*'].f1:.4f}")
    for rule, s in fired.items():
        print(f"{rule}: {s}")
    assert not short, "; ".join(short)
