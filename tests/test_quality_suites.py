"""Every expectation of every source passes on good input and fails on a
crafted bad input; severities follow outputs.md's definition of critical."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from quality_fixtures import good_frame, load_row

from lowincome.schema import ALL_SOURCES
from quality import QualityConfig, results_frame, summarize, validate_source
from quality.results import DQ_RESULTS_SCHEMA
from quality.suites import required_std_columns

MONTH = dt.date(2026, 8, 1)
PREV = dt.date(2026, 7, 1)
N = 24
CFG = QualityConfig()

CRITICAL_NAMES = {
    "file_delivered",
    "required_columns_present",
    "file_readable",
    "manifest_rows_match",
    "manifest_sha256_match",
    "load_accounting_balanced",
    "std_columns_present",
    "id_valid_share_critical",
    "row_count_drop_critical",
}


def _set(frame: pl.DataFrame, col: str, value, rows=(0,)) -> pl.DataFrame:
    idx = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(idx.is_in(list(rows))).then(pl.lit(value, dtype=frame.schema[col])).otherwise(pl.col(col)).alias(col)
    )


def mutate(source: str, name: str, frame: pl.DataFrame, load: dict, previous: dict):
    """A bad input that must make expectation `name` fail: (frame, load, previous)."""
    family, _, col = name.partition(":")
    n = frame.height
    if family == "file_delivered":
        return (
            frame.clear(),
            {**load, "status": "missing", "rows_read": 0, "rows_loaded": 0, "error": "本月未收到该文件"},
            previous,
        )
    if family == "required_columns_present":
        return (
            frame.clear(),
            {
                **load,
                "status": "rejected",
                "rows_loaded": 0,
                "rows_quarantined": n,
                "error": "missing_required_column: 缺少必需列: 姓名(name)",
            },
            previous,
        )
    if family == "file_readable":
        return (
            frame.clear(),
            {**load, "status": "rejected", "rows_read": 0, "rows_loaded": 0, "error": "unreadable: 无法识别的文件格式"},
            previous,
        )
    if family == "manifest_rows_match":
        return frame, {**load, "manifest_rows": n + 3}, previous
    if family == "manifest_sha256_match":
        return frame, {**load, "manifest_sha256": "cd" * 32}, previous
    if family == "load_accounting_balanced":
        return frame, {**load, "rows_read": n + 5}, previous
    if family == "no_unknown_columns":
        return frame, {**load, "unknown_columns": ["备用字段"]}, previous
    if family == "quarantine_share":
        return frame, {**load, "rows_read": 2 * n, "rows_quarantined": n}, previous
    if family.startswith("row_count_drop"):
        return frame, load, {**previous, "rows_read": 10 * n, "rows_loaded": 10 * n}
    if family == "std_columns_present":
        return (
            frame.drop("name_raw" if "name_raw" in frame.columns else required_std_columns(source)[-1]),
            load,
            previous,
        )
    if family == "not_null":
        return _set(frame, col, None), load, previous
    if family.startswith("id_valid_share"):
        return _set(frame, "id_invalid_reason", "bad_check_digit", rows=range(n)), load, previous
    if family == "in_set":
        bad = 9 if frame.schema[col] == pl.Int32 else "未知值"
        return _set(frame, col, bad), load, previous
    if family == "in_range":
        return _set(frame, col, 0), load, previous
    if family == "money_non_negative":
        return _set(frame, col, -5.0), load, previous
    if family == "money_plausible":
        return _set(frame, col, 1e10), load, previous
    if family == "date_in_month":
        return _set(frame, col, MONTH - dt.timedelta(days=60)), load, previous
    if family == "date_not_future":
        return _set(frame, col, MONTH + dt.timedelta(days=60)), load, previous
    if family == "birth_date_plausible":
        return _set(frame, "birth_date", dt.date(1850, 1, 1)), load, previous
    if family == "region_format":
        return _set(frame, col, "12345"), load, previous
    if family == "icd10_format":
        return _set(frame, "diagnosis_icd10", "xx"), load, previous
    if family == "flag_id_format":
        return _set(frame, "flag_id", "R02-abc"), load, previous
    if family in ("unique_person", "unique"):
        return _set(frame, col, frame[col][0], rows=(1,)), load, previous
    if family == "no_duplicate_records":
        dup = pl.concat([frame, frame.head(1).with_columns(pl.lit(n + 1, dtype=pl.Int32).alias("source_row"))])
        return dup, {**load, "rows_read": n + 1, "rows_loaded": n + 1}, previous
    if family == "cost_parts_sum":
        return frame.with_columns((pl.col("total_cost") + 100.0).alias("total_cost")), load, previous
    if family == "end_not_before_start":
        return _set(frame, "end_date", dt.date(2023, 1, 1)), load, previous
    if family == "household_one_category":
        other = "特困" if frame["category"][0] != "特困" else "低保"
        return _set(frame, "category", other, rows=(1,)), load, previous
    if family == "household_one_size":
        return _set(frame, "household_size", frame["household_size"][0] + 1, rows=(1,)), load, previous
    if family == "household_size_matches_members":
        return frame.head(n - 1), {**load, "rows_read": n - 1, "rows_loaded": n - 1}, previous  # a death
    if family == "household_one_head":
        return _set(frame, "relation", "子女"), load, previous
    raise AssertionError(f"no crafted bad input for {name}")


def _run(source, frame, load, previous, cfg=CFG, only=None):
    return {r.expectation: r for r in validate_source(source, MONTH, frame, load, previous, cfg, only=only)}


@pytest.mark.parametrize("source", ALL_SOURCES)
def test_each_expectation_passes_on_good_and_fails_on_bad(source):
    frame = good_frame(source, MONTH, N)
    load, previous = load_row(source, MONTH, N), load_row(source, PREV, N)
    good = _run(source, frame, load, previous)
    assert len(good) >= 10
    assert [n for n, r in good.items() if not r.success] == []
    not_failing = []
    for name in good:
        if source == "dispositions" and (name.startswith("row_count_drop") or name == "file_delivered"):
            continue  # optional, not compared with last month (see test_dispositions_are_optional)
        bad = _run(source, *mutate(source, name, frame, load, previous), only={name})  # this expectation alone
        if name not in bad or bad[name].success:
            not_failing.append((name, bad.get(name) and bad[name].observed))
    assert not_failing == []


def test_severity_follows_the_critical_definition():
    frame = good_frame("registry", MONTH, N)
    results = validate_source(
        "registry", MONTH, frame, load_row("registry", MONTH, N), load_row("registry", PREV, N), CFG
    )
    critical = {r.expectation for r in results if r.severity == "critical"}
    assert critical == CRITICAL_NAMES


def test_routine_problems_are_warnings_only():
    """A few bad rows, an unknown column and a household size that disagrees after a
    death: reported as warnings, no critical failure."""
    frame = good_frame("registry", MONTH, 40).head(39)  # last household lost a member
    frame = _set(frame, "relation", "外甥", rows=(5,))
    frame = _set(frame, "household_annual_income", -1.0, rows=(6,))
    load = load_row("registry", MONTH, 41, rows_loaded=39, rows_quarantined=2, unknown_columns=["备注"])
    results = validate_source("registry", MONTH, frame, load, load_row("registry", PREV, 40), CFG)
    failed = {r.expectation: r for r in results if not r.success}
    assert {
        "in_set:relation",
        "money_non_negative:household_annual_income",
        "no_unknown_columns",
        "household_size_matches_members",
        "quarantine_share",
    } <= set(failed)
    assert all(r.severity == "warning" for r in failed.values())
    assert summarize(results)["passed"] is True
    assert failed["household_size_matches_members"].observed.startswith("涉及 1 户")


def test_collapse_of_valid_ids_is_critical_and_a_dip_is_a_warning():
    frame = good_frame("civil_affairs", MONTH, 40)
    load, prev = load_row("civil_affairs", MONTH, 40), load_row("civil_affairs", PREV, 40)
    dip = _run("civil_affairs", _set(frame, "id_invalid_reason", "blank", rows=range(6)), load, prev)  # 85 % valid
    assert dip["id_valid_share_critical"].success and not dip["id_valid_share_warning"].success
    collapse = _run("civil_affairs", _set(frame, "id_invalid_reason", "excel_mangled", rows=range(20)), load, prev)
    assert not collapse["id_valid_share_critical"].success
    assert collapse["id_valid_share_critical"].unexpected_count == 20
    assert "50.00%" in collapse["id_valid_share_critical"].observed


def test_row_count_drop_thresholds_and_no_previous_month():
    frame = good_frame("human_resources", MONTH, 30)
    load = load_row("human_resources", MONTH, 30)
    small = _run("human_resources", frame, load, load_row("human_resources", PREV, 40))  # -25 %
    assert small["row_count_drop_critical"].success and not small["row_count_drop_warning"].success
    first = _run("human_resources", frame, load, None)
    assert first["row_count_drop_critical"].success and "未比较" in first["row_count_drop_critical"].observed
    prev_rejected = _run("human_resources", frame, load, load_row("human_resources", PREV, 99, status="rejected"))
    assert prev_rejected["row_count_drop_critical"].details["skipped"]


def test_health_insurance_cost_tolerance_and_settlement_lag():
    frame = good_frame("health_insurance", MONTH, 20)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("total_cost") + 0.8)
        .otherwise(pl.col("total_cost"))
        .alias("total_cost")
    )
    frame = _set(frame, "settled_on", MONTH - dt.timedelta(days=10), rows=(1,))  # late settlement, within lag
    res = _run("health_insurance", frame, load_row("health_insurance", MONTH, 20), None)
    assert res["cost_parts_sum"].success and res["date_in_month:settled_on"].success
    strict = QualityConfig(date_lag_days={"health_insurance.settled_on": 0}, cost_tolerance_yuan=0.5)
    res = _run("health_insurance", frame, load_row("health_insurance", MONTH, 20), None, strict)
    assert res["cost_parts_sum"].unexpected_count == 1
    assert res["date_in_month:settled_on"].unexpected_count == 1


def test_examples_of_personal_data_are_masked():
    frame = good_frame("registry", MONTH, N)
    frame = _set(frame, "person_key", frame["person_key"][0], rows=(1,))
    res = _run("registry", frame, load_row("registry", MONTH, N), None)
    examples = res["unique_person:person_key"].details["examples"]
    full = frame["person_key"][0]
    assert examples and all(e == full[:6] + "********" + full[-4:] for e in examples)


def test_rejected_source_gets_no_gx_suite_and_a_critical_reason():
    res = validate_source(
        "health_insurance",
        MONTH,
        pl.DataFrame(),
        load_row(
            "health_insurance",
            MONTH,
            0,
            status="rejected",
            rows_read=12,
            rows_quarantined=12,
            error="missing_required_column: 缺少必需列: 个人自付(out_of_pocket)",
        ),
        None,
        CFG,
    )
    names = {r.expectation for r in res}
    assert "std_columns_present" not in names
    failed = [r for r in res if not r.success]
    assert [r.expectation for r in failed] == ["required_columns_present"]
    assert "个人自付" in failed[0].observed and not summarize(res)["passed"]


def test_results_frame_matches_dq_results(tmp_path):
    from lowincome.warehouse import Warehouse
    from quality import write_results

    frame = good_frame("rural_revitalization", MONTH, N)
    results = validate_source(
        "rural_revitalization", MONTH, frame, load_row("rural_revitalization", MONTH, N), None, CFG
    )
    df = results_frame(MONTH, "rural_revitalization", results)
    assert df.schema == pl.Schema(DQ_RESULTS_SCHEMA) and df.height == len(results)
    with Warehouse(tmp_path / "w.duckdb").writer() as con:
        write_results(con, MONTH, "rural_revitalization", results)
        write_results(con, MONTH, "rural_revitalization", results)  # rerun replaces
        write_results(con, PREV, "rural_revitalization", results[:3])  # other months are kept
        counts = dict(con.execute("SELECT month, count(*) FROM dq.results GROUP BY month").fetchall())
    assert counts == {MONTH: len(results), PREV: 3}


def test_config_from_yaml_and_environment(tmp_path):
    path = tmp_path / "dq.yaml"
    path.write_text(
        "id_valid_share_critical: 0.5\nper_source:\n  civil_affairs: {row_drop_critical: 0.8}\n"
        "severity_overrides: {no_unknown_columns: critical}\nmoney_max: {amount: 10}\n",
        encoding="utf-8",
    )
    cfg = QualityConfig.load(path, env={"MONITOR_DQ_ROW_DROP_WARNING": "0.3"})
    assert cfg.id_valid_share_critical == 0.5 and cfg.row_drop_warning == 0.3
    assert cfg.get("row_drop_critical", "civil_affairs") == 0.8 and cfg.get("row_drop_critical", "registry") == 0.5
    assert cfg.money_max["amount"] == 10 and cfg.money_max["total_cost"] == QualityConfig().money_max["total_cost"]
    res = _run(
        "civil_affairs",
        good_frame("civil_affairs", MONTH, N),
        load_row("civil_affairs", MONTH, N, unknown_columns=["x"]),
        None,
        cfg,
    )
    assert res["no_unknown_columns"].severity == "critical" and not res["money_plausible:amount"].success
    with pytest.raises(ValueError):
        bad = tmp_path / "bad.yaml"
        bad.write_text("no_such_threshold: 1\n", encoding="utf-8")
        QualityConfig.load(bad, env={})


def test_dispositions_are_optional():
    res = validate_source(
        "dispositions", MONTH, pl.DataFrame(), load_row("dispositions", MONTH, 0, status="missing"), None, CFG
    )
    assert [(r.expectation, r.success, r.severity) for r in res] == [("file_delivered", True, "warning")]
    frame = good_frame("dispositions", MONTH, 5)
    res = _run("dispositions", frame, load_row("dispositions", MONTH, 5), load_row("dispositions", PREV, 500))
    assert res["row_count_drop_critical"].success and res["row_count_drop_critical"].details["skipped"]
