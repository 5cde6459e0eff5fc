"""The data-quality suite of each source, and `validate_source`.

Two kinds of results per (month, source):

* load checks, derived from the month's ops.load_audit row (and last month's):
  delivered, readable, required columns present, manifest rows / sha256,
  load accounting, unknown columns, quarantine share;
* GX 1.x expectations on the standardised DataFrame: std columns present,
  required values non-null, share of valid IDs, enumerations, money
  non-negative and plausible, 医保 cost parts, dates in the delivered month,
  duplicates, registry household consistency, row count against last month.

Critical (the month's data cannot be trusted for flags, outputs.md): the file
does not match its manifest, a required column is missing, the file cannot be
read, the share of valid IDs or the row count collapses. Everything else is a
warning. Every severity can be overridden in QualityConfig.severity_overrides.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection

import polars as pl

from lowincome.months import month_end
from lowincome.schema import (
    DISPOSITIONS,
    EXTRACT_SOURCES,
    HEALTH_INSURANCE,
    REGISTRY,
    RURAL_REVITALIZATION,
    SOURCES,
    std_columns,
)
from quality.config import QualityConfig, default_config
from quality.gx_runner import GxCheck, gx_modules, run_checks
from quality.results import CRITICAL, WARNING, ExpectationResult

# Date columns that must lie in the delivered month (minus a configured lag).
IN_MONTH_DATES = {("civil_affairs", "event_date"), ("health_insurance", "settled_on")}
# Date columns that must not lie after the delivered month.
NOT_FUTURE_DATES = {
    ("registry", "enrolled_on"),
    ("rural_revitalization", "identified_on"),
    ("dispositions", "disposed_on"),
}
# Snapshot sources list each person once: the key that must be unique.
PERSON_KEYS = {REGISTRY: "person_key", RURAL_REVITALIZATION: "id_number"}
HI_PARTS = ("basic_paid", "critical_illness_paid", "assistance_paid", "out_of_pocket")
FLAG_ID_REGEX = r"^\d{6}-R\d{2}-[0-9A-F]{8}$"
ICD10_REGEX = r"^[A-Z][0-9]{2}(?:\.[0-9A-Z]{1,4})?$"

LOAD_SUITE = "load"


def _fmt_count(res: dict) -> str:
    return f"不符 {res.get('unexpected_count', 0)} / 共 {res.get('element_count', 0)} 行"


def _pct(x: float) -> str:
    return f"{x:.2%}"


# --- load checks (from ops.load_audit) ------------------------------------------------------


def _is_column_error(error: str | None) -> bool:
    e = (error or "").lower()
    return "missing_required_column" in e or "缺少必需列" in e or ("missing" in e and "column" in e)


def load_checks(
    source: str,
    month: dt.date,
    load: dict,
    data_rows: int | None,
    cfg: QualityConfig,
) -> list[ExpectationResult]:
    status = (load or {}).get("status") or "missing"
    error = (load or {}).get("error")
    out: list[ExpectationResult] = []

    def add(name, description, default_severity, success, observed=None, unexpected=None, element=None, **details):
        out.append(
            ExpectationResult(
                expectation=name,
                description=description,
                severity=cfg.severity(name, default_severity),
                success=bool(success),
                unexpected_count=unexpected,
                element_count=element,
                observed=observed,
                details={k: v for k, v in details.items() if v is not None},
                suite=LOAD_SUITE,
            )
        )

    optional = source == DISPOSITIONS
    if status == "missing":
        add(
            "file_delivered",
            "本月文件已送达",
            WARNING if optional else CRITICAL,
            optional,
            observed="未提供（可选）" if optional else "本月未收到该文件",
            error=error,
        )
        return out
    add(
        "file_delivered",
        "本月文件已送达",
        WARNING if optional else CRITICAL,
        True,
        observed=load.get("source_file") or "已送达",
    )

    column_error = status == "rejected" and _is_column_error(error)
    add(
        "required_columns_present",
        "必需列齐全（缺少必需列则整文件拒收）",
        CRITICAL,
        not column_error,
        observed=error if column_error else "齐全",
    )
    unreadable = status == "rejected" and not column_error
    add(
        "file_readable",
        "文件可读取并可解析",
        CRITICAL,
        not unreadable,
        observed=error if unreadable else f"编码 {load.get('encoding') or '—'}",
    )

    rows_read = int(load.get("rows_read") or 0)
    rows_loaded = int(load.get("rows_loaded") or 0)
    rows_q = int(load.get("rows_quarantined") or 0)
    m_rows = load.get("manifest_rows")
    if m_rows is None:
        add(
            "manifest_rows_match",
            "行数与清单(_MANIFEST.json)一致",
            CRITICAL,
            True,
            observed="无清单，未核对",
            skipped="no manifest entry",
        )
    else:
        add(
            "manifest_rows_match",
            "行数与清单(_MANIFEST.json)一致",
            CRITICAL,
            int(m_rows) == rows_read,
            observed=f"读取 {rows_read} 行 / 清单 {m_rows} 行",
            unexpected=abs(int(m_rows) - rows_read),
            element=int(m_rows),
            manifest_rows=int(m_rows),
            rows_read=rows_read,
        )
    m_sha, sha = load.get("manifest_sha256"), load.get("sha256")
    if not m_sha:
        add(
            "manifest_sha256_match",
            "文件校验值(SHA-256)与清单一致",
            CRITICAL,
            True,
            observed="无清单，未核对",
            skipped="no manifest entry",
        )
    else:
        ok = bool(sha) and str(sha).lower() == str(m_sha).lower()
        add(
            "manifest_sha256_match",
            "文件校验值(SHA-256)与清单一致",
            CRITICAL,
            ok,
            observed="一致" if ok else f"不一致：文件 {str(sha or '—')[:12]}… 清单 {str(m_sha)[:12]}…",
            sha256=sha,
            manifest_sha256=m_sha,
        )

    balanced = rows_read == rows_loaded + rows_q
    if status == "loaded" and data_rows is not None:
        balanced = balanced and data_rows == rows_loaded
    add(
        "load_accounting_balanced",
        "读取行数 = 入库行数 + 隔离行数（无记录静默丢失）",
        CRITICAL,
        balanced,
        observed=f"读取 {rows_read} = 入库 {rows_loaded} + 隔离 {rows_q}"
        + ("" if data_rows is None or status != "loaded" else f"；标准化表 {data_rows} 行"),
        unexpected=abs(rows_read - rows_loaded - rows_q),
        element=rows_read,
    )

    unknown = list(load.get("unknown_columns") or [])
    add(
        "no_unknown_columns",
        "无协议外的多余列（多余列不入库，仅报告）",
        WARNING,
        not unknown,
        observed="、".join(unknown) if unknown else "无",
        unexpected=len(unknown),
        columns=unknown or None,
    )

    if status == "loaded":
        share = rows_q / rows_read if rows_read else 0.0
        limit = float(cfg.get("quarantine_share_warning", source))
        add(
            "quarantine_share",
            f"隔离行占比不超过 {_pct(limit)}",
            WARNING,
            share <= limit,
            observed=f"隔离 {rows_q} / 读取 {rows_read}（{_pct(share)}）",
            unexpected=rows_q,
            element=rows_read,
            value=round(share, 6),
            threshold=limit,
        )
    return out


def row_count_results(
    source: str, n_rows: int, previous: dict | None, cfg: QualityConfig, gxe
) -> tuple[list[GxCheck], list[ExpectationResult]]:
    """Row count against last month's loaded rows: GX checks when comparable,
    else 'not compared' results (so the list of expectations is stable)."""
    names = (
        ("row_count_drop_critical", "row_drop_critical", CRITICAL),
        ("row_count_drop_warning", "row_drop_warning", WARNING),
    )
    prev_rows = None
    if previous and previous.get("status") == "loaded" and (previous.get("rows_loaded") or 0) > 0:
        prev_rows = int(previous["rows_loaded"])
    checks, fixed = [], []
    for name, key, sev in names:
        drop = float(cfg.get(key, source))
        desc = f"入库行数较上月下降不超过 {_pct(drop)}"
        if source not in EXTRACT_SOURCES or prev_rows is None:
            fixed.append(
                ExpectationResult(
                    name,
                    desc,
                    cfg.severity(name, sev),
                    True,
                    observed="无上月可比数据，未比较",
                    details={"skipped": "no comparable previous month", "threshold": drop},
                    suite=f"dq_{source}",
                )
            )
            continue
        minimum = math.ceil(prev_rows * (1.0 - drop))
        change = n_rows / prev_rows - 1.0

        def observe(res, prev=prev_rows):
            n = res.get("observed_value") or 0
            return f"本月 {n} 行 / 上月 {prev} 行（{n / prev - 1:+.1%}）"

        checks.append(
            GxCheck(
                name,
                desc,
                cfg.severity(name, sev),
                gxe.ExpectTableRowCountToBeBetween(min_value=minimum),
                observe=observe,
                details={"previous_rows": prev_rows, "min_rows": minimum, "threshold": drop, "value": round(change, 6)},
            )
        )
    return checks, fixed


# --- GX suites on the std frame -------------------------------------------------------------


def _std_column_names(source: str) -> list[str]:
    return [name for name, _ in std_columns(source)]


def required_std_columns(source: str) -> list[str]:
    """The std columns that carry a required delivered column."""
    cols = set()
    for c in SOURCES[source].columns:
        if not c.required_column:
            continue
        if c.kind == "id_number":
            cols |= {"id_number", "id_number_raw", "id_invalid_reason"}
        elif c.kind == "name":
            cols |= {"name", "name_raw"}
        else:
            cols.add(c.canonical)
    return [c for c in _std_column_names(source) if c in cols]


def prepare_frame(source: str, data: pl.DataFrame) -> pl.DataFrame:
    """Derived columns the expectations read (vectorised)."""
    if source == HEALTH_INSURANCE and {"total_cost", *HI_PARTS} <= set(data.columns):
        parts = sum(pl.col(c).cast(pl.Float64).fill_null(0.0) for c in HI_PARTS)
        data = data.with_columns((pl.col("total_cost").cast(pl.Float64) - parts).alias("_cost_parts_diff"))
    if source == REGISTRY and "household_id" in data.columns:
        # One row per household, joined back on the key column only: the new columns are
        # added to the frame, whose own columns are shared, not copied.
        aggs = [pl.len().alias("_hh_members")]
        if "category" in data.columns:
            aggs.append(pl.col("category").drop_nulls().n_unique().alias("_hh_category_n"))
        if "household_size" in data.columns:
            aggs.append(pl.col("household_size").drop_nulls().n_unique().alias("_hh_size_n"))
        if "relation" in data.columns:
            aggs.append((pl.col("relation") == "户主").sum().cast(pl.Int64).alias("_hh_heads"))
        hh = data.filter(pl.col("household_id").is_not_null()).group_by("household_id").agg(aggs)
        per_row = data.select("household_id").join(hh, on="household_id", how="left", maintain_order="left")
        data = data.hstack(per_row.drop("household_id"))
    return data


def _ts(day: dt.date) -> dt.datetime:
    """A date bound as midnight datetime: compares with pandas datetime64 columns and
    renders as a SQL timestamp literal (GX's SQL path cannot render pd.Timestamp)."""
    return dt.datetime(day.year, day.month, day.day)


def _households_affected(data: pl.DataFrame, condition: pl.Expr) -> int:
    if data.height == 0:
        return 0
    return data.select(pl.col("household_id").filter(condition.fill_null(False)).n_unique()).item()


def build_checks(source: str, month: dt.date, data: pl.DataFrame, cfg: QualityConfig, gxe) -> list[GxCheck]:
    spec = SOURCES[source]
    suite = f"dq_{source}"
    end = month_end(month)
    present = set(data.columns)
    checks: list[GxCheck] = []

    def add(name, description, severity, expectation, columns=(), **kw):
        if not set(columns) <= present:
            return  # reported by std_columns_present
        checks.append(GxCheck(name, description, cfg.severity(name, severity), expectation, **kw))

    required = required_std_columns(source)
    add(
        "std_columns_present",
        "标准化表包含全部必需列",
        CRITICAL,
        gxe.ExpectTableColumnsToMatchSet(column_set=required, exact_match=False),
        observe=lambda res, req=required: (
            "齐全"
            if set(req) <= set(res.get("observed_value") or [])
            else "缺少: " + "、".join(sorted(set(req) - set(res.get("observed_value") or [])))
        ),
    )

    for c in spec.columns:
        col = {"id_number": "id_number_raw", "name": "name"}.get(c.kind, c.canonical)
        if c.required_value:
            add(
                f"not_null:{col}",
                f"必填字段「{c.chinese}」非空",
                WARNING,
                gxe.ExpectColumnValuesToNotBeNull(column=col),
                (col,),
                observe=_fmt_count,
                mask_examples=c.kind in ("id_number", "name"),
            )
        if c.kind == "id_number":
            for name, key, sev in (
                ("id_valid_share_critical", "id_valid_share_critical", CRITICAL),
                ("id_valid_share_warning", "id_valid_share_warning", WARNING),
            ):
                limit = float(cfg.get(key, source))
                add(
                    name,
                    f"身份证号有效率不低于 {_pct(limit)}",
                    sev,
                    gxe.ExpectColumnValuesToBeNull(column="id_invalid_reason", mostly=limit),
                    ("id_invalid_reason",),
                    observe=lambda res: (
                        "有效率 "
                        + _pct(1 - (res.get("unexpected_count") or 0) / max(res.get("element_count") or 0, 1))
                        + f"（无效 {res.get('unexpected_count') or 0} / 共 {res.get('element_count') or 0}）"
                    ),
                    details={"threshold": limit},
                )
        if c.allowed and c.kind in ("enum", "category"):
            add(
                f"in_set:{c.canonical}",
                f"「{c.chinese}」取值在规定范围内：" + "/".join(c.allowed),
                WARNING,
                gxe.ExpectColumnValuesToBeInSet(column=c.canonical, value_set=list(c.allowed)),
                (c.canonical,),
                observe=_fmt_count,
            )
        if c.kind == "sex":
            add(
                f"in_set:{c.canonical}",
                f"「{c.chinese}」为 男/女",
                WARNING,
                gxe.ExpectColumnValuesToBeInSet(column=c.canonical, value_set=["男", "女"]),
                (c.canonical,),
                observe=_fmt_count,
            )
        if c.kind == "disability_grade":
            add(
                f"in_set:{c.canonical}",
                f"「{c.chinese}」为一至四级",
                WARNING,
                gxe.ExpectColumnValuesToBeBetween(column=c.canonical, min_value=1, max_value=4),
                (c.canonical,),
                observe=_fmt_count,
            )
        if c.kind == "integer" and c.canonical == "household_size":
            add(
                "in_range:household_size",
                "「家庭人口数」在 1–30 之间",
                WARNING,
                gxe.ExpectColumnValuesToBeBetween(column=c.canonical, min_value=1, max_value=30),
                (c.canonical,),
                observe=_fmt_count,
            )
        if c.kind == "money":
            add(
                f"money_non_negative:{c.canonical}",
                f"「{c.chinese}」不为负数",
                WARNING,
                gxe.ExpectColumnValuesToBeBetween(column=c.canonical, min_value=0),
                (c.canonical,),
                observe=_fmt_count,
            )
            maximum = cfg.money_max.get(c.canonical)
            if maximum is not None:
                add(
                    f"money_plausible:{c.canonical}",
                    f"「{c.chinese}」不超过合理上限 {maximum:,.0f} 元",
                    WARNING,
                    gxe.ExpectColumnValuesToBeBetween(column=c.canonical, max_value=float(maximum)),
                    (c.canonical,),
                    observe=_fmt_count,
                    details={"max": maximum},
                )
        if c.kind == "date":
            lag_key = f"{source}.{c.canonical}"
            if (source, c.canonical) in IN_MONTH_DATES:
                lag = int(cfg.date_lag_days.get(lag_key, 0))
                start = month - dt.timedelta(days=lag)
                desc = f"「{c.chinese}」在交付月份内（{month:%Y-%m}" + (f"，允许滞后 {lag} 天）" if lag else "）")
                add(
                    f"date_in_month:{c.canonical}",
                    desc,
                    WARNING,
                    gxe.ExpectColumnValuesToBeBetween(column=c.canonical, min_value=_ts(start), max_value=_ts(end)),
                    (c.canonical,),
                    observe=_fmt_count,
                    details={"from": start.isoformat(), "to": end.isoformat()},
                )
            elif c.canonical == "birth_date":
                add(
                    "birth_date_plausible",
                    f"「出生日期」在 {cfg.min_birth_year} 年至月末之间",
                    WARNING,
                    gxe.ExpectColumnValuesToBeBetween(
                        column=c.canonical, min_value=_ts(dt.date(cfg.min_birth_year, 1, 1)), max_value=_ts(end)
                    ),
                    (c.canonical,),
                    observe=_fmt_count,
                )
            elif (source, c.canonical) in NOT_FUTURE_DATES:
                add(
                    f"date_not_future:{c.canonical}",
                    f"「{c.chinese}」不晚于交付月末",
                    WARNING,
                    gxe.ExpectColumnValuesToBeBetween(column=c.canonical, max_value=_ts(end)),
                    (c.canonical,),
                    observe=_fmt_count,
                )
        if c.kind == "region":
            regex = (
                r"^\d{12}$"
                if source == REGISTRY
                else (r"^\d{6}$" if c.canonical == "insured_region" else r"^(?:\d{6}|\d{12})$")
            )
            add(
                f"region_format:{c.canonical}",
                f"「{c.chinese}」为 "
                + (
                    "12 位村级代码"
                    if source == REGISTRY
                    else ("6 位县级代码" if c.canonical == "insured_region" else "6 或 12 位代码")
                ),
                WARNING,
                gxe.ExpectColumnValuesToMatchRegex(column=c.canonical, regex=regex),
                (c.canonical,),
                observe=_fmt_count,
            )
        if c.kind == "icd10":
            add(
                "icd10_format",
                "「主诊断编码」符合 ICD-10 格式",
                WARNING,
                gxe.ExpectColumnValuesToMatchRegex(column=c.canonical, regex=ICD10_REGEX),
                (c.canonical,),
                observe=_fmt_count,
            )

    if source == HEALTH_INSURANCE:
        tol = float(cfg.get("cost_tolerance_yuan", source))
        add(
            "cost_parts_sum",
            f"医疗总费用 = 基本医保 + 大病保险 + 医疗救助 + 个人自付（误差 ±{tol:g} 元）",
            WARNING,
            gxe.ExpectColumnValuesToBeBetween(column="_cost_parts_diff", min_value=-tol, max_value=tol),
            ("_cost_parts_diff",),
            observe=_fmt_count,
            details={"tolerance": tol},
        )
    if source == "human_resources":
        add(
            "end_not_before_start",
            "「结束日期」不早于「开始日期」",
            WARNING,
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_date", column_B="start_date", or_equal=True, ignore_row_if="either_value_is_missing"
            ),
            ("end_date", "start_date"),
            observe=_fmt_count,
        )

    # Duplicates.
    if source in PERSON_KEYS:
        key = PERSON_KEYS[source]
        add(
            f"unique_person:{key}",
            "同一人员只出现一次（按" + ("人员标识" if key == "person_key" else "身份证号") + "）",
            WARNING,
            gxe.ExpectColumnValuesToBeUnique(column=key),
            (key,),
            observe=_fmt_count,
            mask_examples=True,
        )
    elif source == DISPOSITIONS:
        add(
            "unique:flag_id",
            "每个标记编号只反馈一次",
            WARNING,
            gxe.ExpectColumnValuesToBeUnique(column="flag_id"),
            ("flag_id",),
            observe=_fmt_count,
        )
        add(
            "flag_id_format",
            "「标记编号」格式为 YYYYMM-Rnn-XXXXXXXX",
            WARNING,
            gxe.ExpectColumnValuesToMatchRegex(column="flag_id", regex=FLAG_ID_REGEX),
            ("flag_id",),
            observe=_fmt_count,
        )
    if source != DISPOSITIONS:
        content = [c.canonical for c in spec.columns if c.canonical in present]
        add(
            "no_duplicate_records",
            "无完全重复的记录（除行号外各字段相同）",
            WARNING,
            gxe.ExpectCompoundColumnsToBeUnique(column_list=content),
            tuple(content),
            observe=_fmt_count,
            mask_examples=True,
        )

    # Registry households.
    if source == REGISTRY:
        hh_details = {}
        if "_hh_category_n" in present:
            hh_details["category"] = {"households_affected": _households_affected(data, pl.col("_hh_category_n") > 1)}
        if "_hh_size_n" in present:
            hh_details["size"] = {"households_affected": _households_affected(data, pl.col("_hh_size_n") > 1)}
        if {"household_size", "_hh_members"} <= present:
            hh_details["members"] = {
                "households_affected": _households_affected(data, pl.col("household_size") != pl.col("_hh_members"))
            }
        if "_hh_heads" in present:
            hh_details["heads"] = {"households_affected": _households_affected(data, pl.col("_hh_heads") != 1)}

        def hh_observe(key):
            return lambda res: f"涉及 {hh_details[key]['households_affected']} 户 / {res.get('unexpected_count', 0)} 人"

        add(
            "household_one_category",
            "同一户只有一个「救助类别」",
            WARNING,
            gxe.ExpectColumnValuesToBeBetween(column="_hh_category_n", max_value=1),
            ("_hh_category_n",),
            observe=hh_observe("category"),
            details=hh_details.get("category", {}),
        )
        add(
            "household_one_size",
            "同一户只有一个「家庭人口数」",
            WARNING,
            gxe.ExpectColumnValuesToBeBetween(column="_hh_size_n", max_value=1),
            ("_hh_size_n",),
            observe=hh_observe("size"),
            details=hh_details.get("size", {}),
        )
        add(
            "household_size_matches_members",
            "「家庭人口数」等于该户在册人数（死亡未销户等会导致不一致）",
            WARNING,
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="household_size", column_B="_hh_members", ignore_row_if="either_value_is_missing"
            ),
            ("household_size", "_hh_members"),
            observe=hh_observe("members"),
            details=hh_details.get("members", {}),
        )
        add(
            "household_one_head",
            "每户有且只有一名户主",
            WARNING,
            gxe.ExpectColumnValuesToBeBetween(column="_hh_heads", min_value=1, max_value=1),
            ("_hh_heads",),
            observe=hh_observe("heads"),
            details=hh_details.get("heads", {}),
        )
    for check in checks:
        check.details.setdefault("suite", suite)
    return checks


def validate_source(
    source: str,
    month: dt.date,
    data: pl.DataFrame,
    load: dict,
    previous: dict | None,
    config: QualityConfig | None = None,
    *,
    only: Collection[str] | None = None,
    engine: str | None = None,
) -> list[ExpectationResult]:
    """Every expectation of `source` for `month`: load checks from the
    load_audit row, then the GX suite on the std frame (only when loaded).
    `only` restricts the GX suite to the named expectations (debugging, tests);
    `engine` picks GX's data source (duckdb / pandas, default QualityConfig.gx_engine)."""
    cfg = config or default_config()
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    status = (load or {}).get("status") or "missing"
    data = data if data is not None else pl.DataFrame()
    results = load_checks(source, month, load or {}, data.height if status == "loaded" else None, cfg)
    if status != "loaded":
        return results

    _, gxe = gx_modules()
    frame = prepare_frame(source, data)
    checks = build_checks(source, month, frame, cfg, gxe)
    rc_checks, rc_fixed = row_count_results(source, frame.height, previous, cfg, gxe)
    checks += rc_checks
    if only is not None:
        only = set(only)
        checks = [c for c in checks if c.name in only]
        rc_fixed = [r for r in rc_fixed if r.expectation in only]
    gx_results, _ = run_checks(f"dq_{source}", frame, checks, engine=engine or cfg.gx_engine)
    return results + gx_results + rc_fixed


__all__ = ["build_checks", "load_checks", "prepare_frame", "required_std_columns", "validate_source"]
