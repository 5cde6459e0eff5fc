"""Linkage quality, flags withheld on a registry critical failure, and the
auditor's HTML report (figures of dq.results, masking, offline charts)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from html.parser import HTMLParser

import polars as pl
import pytest
from quality_fixtures import good_frame, load_row

from lowincome.labels import zh_text
from lowincome.schema import AGENCY_SOURCES, EXTRACT_SOURCES
from lowincome.warehouse import Warehouse, replace_month, replace_rows
from quality import QualityConfig, flags_withheld, linkage_quality, validate_source, write_report, write_results
from quality.masking import mask_id, mask_name, mask_raw
from quality.report import figures, report_context

MONTH = dt.date(2026, 8, 1)
PREV = dt.date(2026, 7, 1)
N = 16
CFG = QualityConfig()
SECRET_ID = "620102198001011234"
SECRET_NAME = "王小明"


def _links(month: dt.date, source: str, counts: dict[str, int]) -> pl.DataFrame:
    """linkage.links rows: counts per category exact / probabilistic / clerical / review / unmatched."""
    spec = {
        "exact": ("exact_id", "accept", 1.0),
        "probabilistic": ("probabilistic", "accept", 0.93),
        "clerical": ("clerical", "accept", 0.8),
        "review": ("probabilistic", "review", 0.6),
        "unmatched": ("probabilistic", "none", 0.1),
    }
    rows = []
    for cat, k in counts.items():
        method, decision, score = spec[cat]
        rows += [
            {
                "month": month,
                "source": source,
                "method": method,
                "decision": decision,
                "match_score": score,
                "registry_row": None if decision == "none" else 1,
            }
            for _ in range(k)
        ]
    return pl.DataFrame(rows).with_columns(source_row=pl.int_range(1, len(rows) + 1, dtype=pl.Int32))


def _month(con, month: dt.date, registry_load: dict | None = None, rate_drop: bool = False) -> None:
    audits, quarantine = [], []
    for source in EXTRACT_SOURCES:
        frame = good_frame(source, month, N)
        load = (
            registry_load
            if (source == "registry" and registry_load)
            else load_row(source, month, N + 2, rows_loaded=N, rows_quarantined=2)
        )
        audits.append(load)
        prev = load_row(source, PREV, N) if month == MONTH else None
        write_results(con, month, source, validate_source(source, month, frame, load, prev, CFG))
        raw = json.dumps({"姓名": SECRET_NAME, "身份证号": SECRET_ID, "发生日期": "2026年13月1日"}, ensure_ascii=False)
        quarantine += [
            {
                "month": month,
                "source": source,
                "source_file": f"{source}.csv",
                "source_row": r,
                "reason_code": "bad_date",
                "reason": "日期无法解析: 发生日期",
                "raw": raw,
            }
            for r in (3, 7)
        ]
    replace_month(con, "ops.load_audit", month, pl.DataFrame(audits))
    replace_month(con, "ops.quarantine", month, pl.DataFrame(quarantine))
    links = [
        _links(month, s, {"exact": 60, "probabilistic": 20, "clerical": 2, "review": 3, "unmatched": 15})
        for s in AGENCY_SOURCES
    ]
    if rate_drop:
        links[0] = _links(month, AGENCY_SOURCES[0], {"exact": 30, "probabilistic": 10, "review": 20, "unmatched": 40})
    replace_month(con, "linkage.links", month, pl.concat(links, how="diagonal_relaxed"))
    write_results(con, month, "linkage", linkage_quality(con, month, CFG))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    wh = Warehouse(tmp_path_factory.mktemp("wh") / "warehouse.duckdb")
    with wh.writer() as con:
        _month(con, PREV)
        _month(con, MONTH, rate_drop=True)
    return wh


def test_linkage_quality_rates_change_and_backlog(warehouse):
    with warehouse.reader() as con:
        res = {(r.source, r.expectation): r for r in linkage_quality(con, MONTH, CFG)}
    first = f"linkage:{AGENCY_SOURCES[0]}"
    assert res[(first, "link_rate")].details["value"] == pytest.approx(0.4)
    assert res[(first, "link_rate")].success  # 40 % >= 30 %
    change = res[(first, "link_rate_change")]
    assert not change.success and change.details["value"] == pytest.approx(0.4 - 0.82)
    backlog = res[(first, "review_backlog")]
    assert not backlog.success and backlog.unexpected_count == 20 and backlog.element_count == 100
    other = f"linkage:{AGENCY_SOURCES[1]}"
    assert res[(other, "link_rate")].details["value"] == pytest.approx(0.82)
    assert res[(other, "link_rate_change")].success and res[(other, "review_backlog")].success
    assert all(r.severity == "warning" for r in res.values())


def test_linkage_quality_of_one_source_is_that_source_of_all(warehouse):
    """Each linkage step checks its own source only (not every source four times)."""
    with warehouse.reader() as con:
        every = linkage_quality(con, MONTH, CFG)
        for source in AGENCY_SOURCES[:2]:
            own = linkage_quality(con, MONTH, CFG, source=source)
            assert own and own == [r for r in every if r.source == f"linkage:{source}"]


def test_report_contains_the_figures_of_dq_results(warehouse, tmp_path):
    with warehouse.reader() as con:
        path = write_report(con, MONTH, tmp_path)
        rows = con.execute(
            "SELECT expectation, observed, unexpected_count FROM dq.results WHERE month = ?", [MONTH]
        ).fetchall()
        names = dict(con.execute("SELECT DISTINCT expectation, description FROM dq.results").fetchall())
    assert path == tmp_path / "2026-08" / "dq" / "质量报告_2026-08.html"
    page = path.read_text(encoding="utf-8")
    assert len(rows) > 100
    for expectation, observed, _ in rows:
        assert f'data-expectation="{html.escape(expectation)}"' in page  # traceable, not shown as a code
        if observed:
            assert html.escape(zh_text(observed, names)) in page, observed
    assert "本月预警正常发布" in page
    # Load accounting, linkage rates and quarantine reasons.
    assert "日期无法解析: 发生日期" in page and "40.00%" in page and "82.00%" in page
    # The chart library is shared beside the report, not embedded: the page stays small and opens offline.
    assert "* plotly.js v" not in page and '<script src="plotly.min.js"' in page
    assert (path.parent / "plotly.min.js").stat().st_size > 1_000_000
    assert len(page.encode("utf-8")) < 1_000_000
    assert not re.search(r"<script[^>]+src=\"https?://", page)
    assert page.count('class="plotly-graph-div"') == 6
    assert "2026-07" in page  # the trend covers the earlier month
    assert "@media print" in page and "size: A4" in page


def test_report_masks_personal_data(warehouse, tmp_path):
    with warehouse.reader() as con:
        page = write_report(con, MONTH, tmp_path).read_text(encoding="utf-8")
    assert SECRET_ID not in page and SECRET_NAME not in page
    assert mask_id(SECRET_ID) in page and mask_name(SECRET_NAME) in page
    assert mask_id(SECRET_ID) == "620102********1234" and mask_name(SECRET_NAME) == "王**"
    assert mask_raw("王小明,620102198001011234,2026") == "王**,620102********1234,2026"
    assert (
        mask_raw(json.dumps([SECRET_ID, "王小明", "620102001002"], ensure_ascii=False))
        == "620102********1234，王**，620102001002"
    )


def test_registry_critical_failure_withholds_flags(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    bad_registry = load_row("registry", MONTH, N, manifest_rows=N * 3, manifest_sha256="ff" * 32)
    with wh.writer() as con:
        _month(con, MONTH, registry_load=bad_registry)
        con.execute(
            "INSERT INTO flags.rule_runs (month, rule_code, rule_name, status, reason, flags, active) VALUES "
            "(?, 'R01', '医疗支出型困难', 'skipped', '低收入人口数据库本月不可用', 0, 0), "
            "(?, 'R08', '防返贫监测未入库', 'ran', NULL, 3, 3)",
            [MONTH, MONTH],
        )
    with wh.reader() as con:
        withheld, why = flags_withheld(con, MONTH)
        usable = dict(con.execute("SELECT source, usable FROM ops.source_status WHERE month = ?", [MONTH]).fetchall())
        page = write_report(con, MONTH, tmp_path).read_text(encoding="utf-8")
    assert withheld and "行数与清单" in why and "校验值" in why
    assert usable["registry"] is False and usable["civil_affairs"] is True
    assert "本月预警暂停发布" in page and html.escape(why) in page
    assert "低收入人口数据库本月不可用" in page and "本月跳过" in page


def test_rejected_agency_source_is_reported(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        _month(con, MONTH)
        hi = load_row(
            "health_insurance",
            MONTH,
            0,
            status="rejected",
            rows_read=5,
            rows_quarantined=5,
            error="missing_required_column: 缺少必需列: 个人自付(out_of_pocket)",
        )
        replace_rows(con, "ops.load_audit", pl.DataFrame([hi]), "month = ? AND source = ?", [MONTH, "health_insurance"])
        write_results(
            con, MONTH, "health_insurance", validate_source("health_insurance", MONTH, pl.DataFrame(), hi, None, CFG)
        )
    with wh.reader() as con:
        assert flags_withheld(con, MONTH) == (False, None)
        page = write_report(con, MONTH, tmp_path).read_text(encoding="utf-8")
    assert "本月预警正常发布" in page and "本月无规则执行记录" in page
    section = page.split('id="summary"')[1].split('id="load"')[0]
    assert "医保结算" in section and "缺少必需列: 个人自付" in section


def test_no_registry_delivery_withholds_flags(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.reader() as con:
        withheld, why = flags_withheld(con, MONTH)
        page = write_report(con, MONTH, tmp_path).read_text(encoding="utf-8")
    assert withheld and "未收到" in why and "本月预警暂停发布" in page


class _VisibleText(HTMLParser):
    """The text a reader sees: no script, style or attribute values."""

    def __init__(self):
        super().__init__()
        self.skip, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def _visible(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    return " ".join(parser.parts)


@pytest.fixture()
def traced(tmp_path):
    """civil_affairs std rows with a negative amount (row 5) and a missing event type
    (row 9), validated by the real suite; the registry rejected with a code-word reason."""
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        _month(con, MONTH)
        frame = good_frame("civil_affairs", MONTH, N).with_columns(
            amount=pl.when(pl.col("source_row") == 5).then(-50.0).otherwise(pl.col("amount")),
            event_type=pl.when(pl.col("source_row") == 9).then(None).otherwise(pl.col("event_type")),
        )
        replace_month(con, "std.civil_affairs", MONTH, frame)
        load = load_row("civil_affairs", MONTH, N)
        write_results(con, MONTH, "civil_affairs", validate_source("civil_affairs", MONTH, frame, load, None, CFG))
        con.execute(
            "INSERT INTO flags.rule_runs (month, rule_code, rule_name, status, reason, flags, active) VALUES "
            "(?, 'R05', '失业或断缴', 'skipped', 'human_resources 2026-08 missing: 未交付（无加载记录）', 0, 0)",
            [MONTH],
        )
    return wh, frame


def test_failed_expectation_traces_to_rows_with_masked_keys(traced, tmp_path):
    wh, frame = traced
    with wh.reader() as con:
        page = write_report(con, MONTH, tmp_path).read_text(encoding="utf-8")

    def row_of(expectation):
        part = page.split(f'data-expectation="{expectation}"')[1].split("</tr>")[0]
        return part, re.findall(r'data-source-row="(\d+)"', part)

    part, rows = row_of("money_non_negative:amount")
    assert rows == ["5"] and "未通过" in part
    person = frame.filter(pl.col("source_row") == 5).row(0, named=True)
    assert mask_id(person["id_number_raw"]) in part and person["id_number_raw"] not in part
    assert mask_name(person["name"]) in part and "-50" in part  # masked keys and the offending value
    _, rows = row_of("not_null:event_type")
    assert rows == ["9"]


def test_report_shows_no_english_code_words(traced, tmp_path):
    wh, _ = traced
    with wh.reader() as con:
        page = write_report(con, MONTH, tmp_path).read_text(encoding="utf-8")
    text = _visible(page)
    words = re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b(?!\.(?:csv|xlsx|parquet|json))", text)
    assert not words, sorted(set(words))
    assert not re.search(r"\b(missing|rejected|critical|loaded):", text)
    assert "人社记录 2026-08 未交付" in text  # the rule-run reason, in Chinese


def test_charts_one_colour_per_source_and_readable_axes(traced):
    wh, _ = traced
    with wh.reader() as con:
        ctx = report_context(con, MONTH)
    colours: dict[str, set] = {}
    figs = dict(figures(ctx["trend"], ctx["rules"]))
    for key, fig in figs.items():
        if key == "flags":
            continue
        for trace in fig.data:
            colour = trace.marker.color if trace.type == "bar" else trace.line.color
            colours.setdefault(trace.name, set()).add(colour)
    assert len(colours) >= 5 and all(len(c) == 1 for c in colours.values()), colours
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # sources do not share a colour
    assert figs["quarantine"].layout.yaxis.tickformat == ".1%"  # 2/18 ≈ 11 %: not "0%" on every tick
    critical = figs["critical"].layout.yaxis
    assert critical.range[0] == 0 and critical.dtick == 1  # never a −1…1 axis
    assert "flags" in figs and figs["flags"].layout.barmode == "stack"


def test_rules_table_counts_the_households_held_as_to_verify(tmp_path):
    """The rules table gives, per rule, the households held back as 待核实 (their evidence
    waits in the linkage review band) beside the flags, with a total, parsed from the page."""
    from rules_fixtures import M1, PARAMS, Fixture

    from lowincome.rules import run_rules

    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        people = [fx.person(n) for n in ("甲", "乙", "丙")]
        for key, person in zip(("H1", "H2", "H3"), people, strict=True):
            fx.household(M1, key, [person], income=0.8 * 560 * 12, category="低保")
        fx.civil(M1, people[0], "死亡火化", decision="review")  # R06 held
        fx.civil(M1, people[1], "死亡火化", decision="review")  # R06 held
        fx.civil(M1, people[2], "死亡火化")  # R06 flag
        run_rules(con, M1, PARAMS)
    with wh.reader() as con:
        page = write_report(con, M1, tmp_path).read_text(encoding="utf-8")
    held = dict(re.findall(r'<tr data-rule="(R\d\d)">.*?data-held="(\d+)"', page, flags=re.S))
    assert held["R06"] == "2" and held["R02"] == "0", held
    assert "待核实（户）" in page and "已列入乡镇工作簿的“待核实”表" in page
    total = re.search(r"<th colspan=\"3\">合计</th>(.*?)</tr>", page, flags=re.S).group(1)
    assert re.findall(r'<th class="n">([\d,—]+)</th>', total)[-1] == "2"
