"""The linkage model as auditors read it: weights per comparison level, score
histogram against the thresholds, review backlog, the history kept per month."""

from __future__ import annotations

import json
import math
import re

import polars as pl
import pytest

from lowincome.warehouse import Warehouse, query_pl
from quality.linkage_model import model_section


@pytest.mark.slow
def test_model_section_explains_each_source(sample_run):
    month = sample_run.months[-1]
    with Warehouse(sample_run.warehouse).reader() as con:
        sections = model_section(con, month)
        links = query_pl(
            con, "SELECT source, method, decision, match_score FROM linkage.links WHERE month = ?", [month]
        )
        runs = query_pl(con, "SELECT month, source, settings_sha, model FROM linkage.model_runs")
        history = query_pl(con, "SELECT month, source, count(*) AS n FROM linkage.record_history GROUP BY ALL")
    assert [s["source"] for s in sections] == sorted(links["source"].unique().to_list())
    for s in sections:
        comps = [w["comparison"] for w in s["weights"]]
        assert {"姓名", "身份证号", "出生日期", "住址"} <= set(comps)
        assert all(
            isinstance(lv["weight"], float) and math.isfinite(lv["weight"]) for w in s["weights"] for lv in w["levels"]
        )
        assert any("缺失" in lv["label"] for w in s["weights"] for lv in w["levels"])
        # the histogram holds every probabilistic candidate of the month, no more
        own = links.filter(
            (links["source"] == s["source"]) & (links["method"] == "probabilistic") & (links["match_score"] > 0)
        )
        assert sum(b["n"] for b in s["histogram"]) == own.height
        assert s["thresholds"]["accept"] > s["thresholds"]["review"]
        assert (
            s["backlog"][-1]["review"]
            == links.filter((links["source"] == s["source"]) & (links["decision"] == "review")).height
        )
    # one model per (month, source); a source keeps its settings across months (only
    # rural_revitalization's differ: household context); weights kept for reproduction
    assert runs.select("month", "source").is_unique().all()
    assert runs.group_by("source").agg(pl.col("settings_sha").n_unique().alias("k"))["k"].max() == 1
    assert runs["settings_sha"].n_unique() == 2
    assert all("weights" in json.loads(m) for m in runs["model"])
    # link history grows with the months: the first month's accepted record keys are kept
    assert history.filter(history["month"] == sample_run.months[0])["n"].sum() > 0


@pytest.mark.slow
def test_report_shows_the_linkage_model_in_chinese(sample_run):
    """The auditor's HTML report carries, per source, the weights of every comparison
    level in Chinese, the score histogram and the review backlog."""
    from html.parser import HTMLParser

    month = sample_run.months[-1]
    html = next((sample_run.exports / f"{month:%Y-%m}" / "dq").glob("*.html")).read_text(encoding="utf-8")

    class Headings(HTMLParser):
        def __init__(self):
            super().__init__()
            self.sources, self._in = [], False

        def handle_starttag(self, tag, attrs):
            if tag == "h3" and ("class", "model") in attrs:
                self.sources.append(dict(attrs)["data-source"])

    parser = Headings()
    parser.feed(html)
    with Warehouse(sample_run.warehouse).reader() as con:
        sources = query_pl(con, "SELECT source FROM linkage.model_runs WHERE month = ? ORDER BY source", [month])[
            "source"
        ]
    assert parser.sources == sources.to_list()
    assert "姓名一致" in html and "先验" in html and "待人工复核积压" in html and "身份证号缺失" in html


@pytest.mark.slow
def test_report_shows_how_the_checked_evidence_fared(sample_run):
    """Where accepts rested on unique_name_seen alone, the month's check on the ID-bearing
    records is in linkage.model_runs and the auditor's report says it: how many records the
    evidence would link, how many of them wrongly, the accepts resting on it and whether it
    was used."""
    with Warehouse(sample_run.warehouse).reader() as con:
        runs = query_pl(con, "SELECT month, source, counts FROM linkage.model_runs ORDER BY month, source")
    checks = {}
    for month, counts in zip(runs["month"], runs["counts"], strict=True):
        check = json.loads(counts).get("unique_name_seen_check")
        if check:
            checks.setdefault(month, []).append(check)
    assert checks, "the sample's later months have accepts resting on unique_name_seen alone"
    for month, month_checks in checks.items():
        html = next((sample_run.exports / f"{month:%Y-%m}" / "dq").glob("*.html")).read_text(encoding="utf-8")
        shown = re.findall(r'<p class="evidence-check">(.*?)</p>', html, re.S)
        assert len(shown) == len(month_checks)
        for text, check in zip(shown, month_checks, strict=True):
            assert f"将匹配 {check['records']:,} 条，其中 {check['wrong']:,} 条为他人" in text, text
            assert f"仅凭该证据即可自动匹配的记录 {check['decisive']:,} 条" in text, text
            assert ("本月采用" if check["trusted"] else "本月不采用") in text, text


@pytest.mark.slow
def test_linkage_reads_only_the_columns_it_needs(sample_run):
    """monthly.link_source reads features.INPUT_COLUMNS and review.RECORD_COLUMNS of an
    extract, not all of it (3.4M claims at 1x): prepared on those alone, every source of the
    sample gives the same comparison fields as on the whole std table, and the review list
    finds every column it shows."""
    from lowincome.linkage.features import INPUT_COLUMNS, prepare
    from lowincome.linkage.review import RECORD_COLUMNS
    from lowincome.monthly import read_std

    month = sample_run.months[-1]
    wh = Warehouse(sample_run.warehouse)
    for source in ("registry", "civil_affairs", "health_insurance", "human_resources", "rural_revitalization"):
        whole = read_std(wh, source, month)
        if source == "registry":
            narrow = whole.select([c for c in INPUT_COLUMNS if c in whole.columns])
        else:
            narrow = read_std(wh, source, month, ("month", "source", *RECORD_COLUMNS, *INPUT_COLUMNS))
            assert set(narrow.columns) < set(whole.columns), source
            assert {"source_row", "name", "id_number_raw"} <= set(narrow.columns), source
        assert whole.height > 0 and prepare(narrow).equals(prepare(whole)), source
