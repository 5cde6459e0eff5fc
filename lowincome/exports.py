"""Caseworker deliverables (outputs.md): one workbook per township per month with
the month's active flags, and a summary workbook (村表 / 乡镇表 / 县表).

The first sheet of a township workbook, 预警清单, is made to be printed and carried
to the households: a title row (township, month, counts), one block per household
(all its flags together, the most severe household first), names as registered,
the household's phone in full (this workbook serves that township only), diseases
as categories, and per flag the basis of the match (比对依据). It carries the
disposition columns of extracts.md (标记编号 / 处置结果 / 处置日期 / 经办人 / 备注,
处置结果 with a drop-down); the sheet is protected except those input columns, so
the filled-in workbook reads back as next month's `dispositions.xlsx`
(read_dispositions_workbook).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import duckdb
import polars as pl
import xlsxwriter
import yaml

from lowincome.months import month_end
from lowincome.privacy import mask_id_expr
from lowincome.schema import DISPOSITION_VALUES, SOURCES
from lowincome.warehouse import query_pl

DISPOSITION_HEADERS = tuple(c.chinese for c in SOURCES["dispositions"].columns)  # 标记编号 … 备注
_CREATED = dt.datetime(2026, 1, 1, 8, 0, 0)  # fixed: same bytes for the same month
ICD10_FILE = Path(__file__).resolve().parent / "icd10_categories.yaml"
SOURCE_SHORT = {
    "registry": "在册",
    "civil_affairs": "民政",
    "health_insurance": "医保",
    "human_resources": "人社",
    "rural_revitalization": "乡村振兴",
}
METHOD_TEXT = {"exact_id": "身份证号一致", "clerical": "人工核定"}

# The household's columns, first in 预警清单 (merged over the household's rows there) and 待核实.
HOUSEHOLD_SPEC = (
    ("村（社区）", "village", 11),
    ("户编号", "household_key", 15),
    ("户主", "head_name", 8),
    ("联系电话", "phone", 12),
    ("救助类别", "category", 8),
    ("家庭成员", "members", 30),
)
HOUSEHOLD_COLUMNS = tuple(column for _header, column, _width in HOUSEHOLD_SPEC)
# 预警清单: (header, column, width); column None = a caseworker input column.
FLAG_SHEET = (
    *HOUSEHOLD_SPEC,
    ("标记编号", "flag_id", 19),
    ("严重程度", "severity", 5),
    ("预警规则", "rule_text", 13),
    ("状态", "state_text", 9),
    ("预警依据", "evidence_text", 34),
    ("比对依据", "match_basis", 14),
    ("建议措施", "recommended_action", 16),
    ("处置结果", None, 11),
    ("处置日期", None, 10),
    ("经办人", None, 7),
    ("备注", None, 16),
)
# 待核实: households a rule holds back because its evidence waits on a record in the linkage
# review band (flags.held_back): not a flag yet, but the caseworker should know and check.
HELD_SHEET = (*HOUSEHOLD_SPEC, ("预警规则", "rule_text", 13), ("待核实原因", "reason", 48))
MEMBER_SHEET = (
    ("村（社区）", "village", 12),
    ("户编号", "household_key", 16),
    ("姓名", "name", 12),
    ("与户主关系", "relation", 10),
    ("身份证号", "id_masked", 21),
    ("性别", "sex", 5),
    ("年龄", "age", 5),
    ("残疾等级", "disability", 8),
    ("残疾类别", "disability_type", 8),
    ("联系电话", "phone", 13),
)
CLEARED_SHEET = (
    ("村（社区）", "village", 12),
    ("户编号", "household_key", 16),
    ("标记编号", "flag_id", 19),
    ("预警规则", "rule_text", 16),
    ("清零原因", "closed_by", 10),
    ("预警持续月数", "months_open", 8),
    ("说明", "evidence_text", 60),
)
LEVELS = {
    "村表": ("village", ["county_code", "township_code", "village_code"]),
    "乡镇表": ("township", ["county_code", "township_code"]),
    "县表": ("county", ["county_code"]),
}
LEVEL_HEADERS = {"county_code": "县（区）", "township_code": "乡镇（街道）", "village_code": "村（社区）"}


# ---------------------------------------------------------------- readable values
@lru_cache(maxsize=1)
def _icd10_table() -> dict:
    return yaml.safe_load(ICD10_FILE.read_text(encoding="utf-8"))


def disease_category(code: str | None) -> str:
    """A readable Chinese category for an ICD-10 code (major-disease list first,
    then the chapter); never the code itself."""
    table = _icd10_table()
    c = (code or "").strip().upper().replace(" ", "")
    if not re.match(r"^[A-Z]\d{2}", c):
        return table["unknown"]
    major = [m for m in table["major_diseases"] if c.startswith(m["prefix"].upper())]
    if major:
        return max(major, key=lambda m: len(m["prefix"]))["name"]
    for chapter in table["chapters"]:
        if chapter["from"] <= c[:3] <= chapter["to"]:
            return chapter["name"]
    return table["unknown"]


_ICD_WITH_DOT = re.compile(r"(?<![A-Za-z0-9])[A-Z]\d{2}\.\d{1,4}(?![0-9])")


def region_label(code: str | None, names: dict[str, str]) -> str:
    if code is None:
        return "（地区不详）"
    return names.get(code) or code


def township_title(code: str | None, names: dict[str, str]) -> str:
    if code is None:
        return "地区不详"
    return f"{names[code]}（{code}）" if code in names else f"乡镇（街道）{code}"


def _file_label(code: str | None, names: dict[str, str]) -> str:
    if code is None:
        return "未知乡镇"
    name = re.sub(r'[\\/:*?"<>|\s]', "", names.get(code, ""))
    return f"{code}_{name}" if name else code


# ---------------------------------------------------------------- data
def _flags(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    return query_pl(
        con,
        """
        SELECT flag_id, severity, severity_rank, county_code, township_code, village_code, household_key,
               category, rule_code, rule_name, state, strftime(episode_start, '%Y-%m') AS episode_start_text,
               evidence, evidence_text, recommended_action
        FROM flags.risk_flags
        WHERE month = ? AND state IN ('新增', '持续')
        ORDER BY severity_rank, village_code NULLS LAST, household_key, rule_code""",
        [month],
    )


def _held(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    """The month's 待核实 rows (flags.to_verify)."""
    return query_pl(
        con,
        """
        SELECT township_code, village_code, household_key, rule_code, rule_name, reason, category
        FROM flags.to_verify
        WHERE month = ?
        ORDER BY village_code NULLS LAST, household_key, rule_code""",
        [month],
    )


def _cleared(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    return query_pl(
        con,
        """
        SELECT f.flag_id, f.township_code, f.village_code, f.household_key, f.rule_code, f.rule_name,
               f.closed_by, f.months_open, f.evidence, f.evidence_text
        FROM flags.risk_flags f
        JOIN flags.flag_history h ON h.month = f.month AND h.flag_id = f.flag_id AND h.to_state = '已清零'
        WHERE f.month = ?
        ORDER BY f.village_code NULLS LAST, f.household_key, f.rule_code""",
        [month],
    )


# A flag's evidence records as the rules write them (sql/rule_run/20_collect.sql).
_RECORDS_TYPE = '[{"source": "VARCHAR", "month": "DATE", "source_row": "BIGINT"}]'


def _evidence_records(con: duckdb.DuckDBPyConnection, flags: pl.DataFrame) -> pl.DataFrame:
    """(flag_id, source, month, source_row) of every record a flag's evidence names,
    with the record's link (method, score) and, for 医保 records, the diagnosis code.
    The JSON is unnested in SQL: at a prefecture a year's R01 flags name ~1M claims."""
    con.register("evidence_flags", flags.select("flag_id", "evidence").to_arrow())
    try:
        return query_pl(
            con,
            f"""
            WITH e AS (
                SELECT flag_id, unnest(from_json(json_extract(evidence, '$.records'), '{_RECORDS_TYPE}'), recursive := true)
                FROM evidence_flags
            )
            SELECT e.flag_id, e.source, e.month, e.source_row, l.method, l.match_score, l.decision,
                   h.diagnosis_icd10
            FROM e
            LEFT JOIN linkage.links l ON l.month = e.month AND l.source = e.source AND l.source_row = e.source_row
            LEFT JOIN std.health_insurance h ON e.source = 'health_insurance' AND h.month = e.month
                 AND h.source_row = e.source_row
            ORDER BY e.flag_id, e.source, e.month, e.source_row""",
        )
    finally:
        con.unregister("evidence_flags")


def _diagnosis_codes(records: pl.DataFrame) -> dict[str, list[str]]:
    """flag_id -> the ICD-10 codes of the 医保 records its evidence names."""
    codes = (
        records.filter(pl.col("diagnosis_icd10").is_not_null())
        .group_by("flag_id", maintain_order=True)
        .agg(pl.col("diagnosis_icd10"))
    )
    return dict(zip(codes["flag_id"].to_list(), codes["diagnosis_icd10"].to_list(), strict=True))


def _basis_text(source: str, method: str | None, score: float | None, decision: str | None) -> str:
    label = SOURCE_SHORT.get(source, source)
    if method is None or decision == "none":
        return f"{label}：未匹配到在册人员"
    if method == "probabilistic":
        return f"{label}：概率匹配 {score:.2f}"
    return f"{label}：{METHOD_TEXT.get(method, method)}"


def _match_basis(records: pl.DataFrame) -> dict[str, str]:
    """flag_id -> 比对依据, e.g. "医保：身份证号一致；人社：概率匹配 0.97": each distinct text
    once, in the order of the records (the text is made once per distinct link outcome)."""
    outcome = ["source", "method", "match_score", "decision"]
    linked = records.filter(pl.col("source") != "registry").select("flag_id", *outcome)
    texts = linked.select(outcome).unique()
    texts = texts.with_columns(text=pl.Series([_basis_text(*row) for row in texts.iter_rows()], dtype=pl.Utf8))
    basis = (
        linked.join(texts, on=outcome, how="left", nulls_equal=True, maintain_order="left")
        .unique(subset=["flag_id", "text"], keep="first", maintain_order=True)
        .group_by("flag_id", maintain_order=True)
        .agg(pl.col("text").str.join("；"))
    )
    return dict(zip(basis["flag_id"].to_list(), basis["text"].to_list(), strict=True))


def readable_evidence(text: str, codes: list[str], names: dict[str, str]) -> str:
    """The evidence sentence as caseworkers read it: ICD-10 codes as categories,
    members' names as registered."""
    for code in sorted({c for c in codes if c}, key=len, reverse=True):
        text = text.replace(code, disease_category(code))
    text = _ICD_WITH_DOT.sub(lambda m: disease_category(m.group(0)), text)
    for normalised, registered in sorted(names.items(), key=lambda kv: -len(kv[0])):
        if normalised and registered and normalised != registered:
            text = text.replace(normalised, registered)
    return text


def _members(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    """Members of the flagged households: registry rows, or 乡村振兴 rows for RR: keys.
    Names as registered (trimmed), the normalised form kept for replacing it in texts."""
    sql = """
        WITH keys AS (
            SELECT household_key FROM flags.risk_flags WHERE month = $1 AND state IN ('新增', '持续')
            UNION SELECT household_key FROM flags.to_verify WHERE month = $1
        )
        SELECT r.household_id AS household_key, r.source_row, r.name AS name_norm,
               coalesce(nullif(trim(r.name_raw), ''), r.name) AS name, r.relation,
               coalesce(r.id_number, r.id_number_raw) AS id_number, coalesce(r.sex, r.id_sex) AS sex,
               coalesce(r.birth_date, r.id_birth_date) AS birth, r.disability_grade, r.disability_type,
               nullif(trim(r.phone), '') AS phone
        FROM std.registry r JOIN keys k ON k.household_key = r.household_id
        WHERE r.month = $1
        UNION ALL
        SELECT 'RR:' || r.rr_household_id, r.source_row, r.name, coalesce(nullif(trim(r.name_raw), ''), r.name),
               r.relation, coalesce(r.id_number, r.id_number_raw), r.id_sex, r.id_birth_date, NULL, NULL, NULL
        FROM std.rural_revitalization r JOIN keys k ON k.household_key = 'RR:' || r.rr_household_id
        WHERE r.month = $1
    """
    frame = query_pl(con, sql, [month])
    end = month_end(month)
    birth = pl.col("birth")
    age = (
        pl.lit(end.year)
        - birth.dt.year()
        - pl.when(
            pl.lit(end.month * 100 + end.day) < birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day().cast(pl.Int32)
        )
        .then(1)
        .otherwise(0)
    ).cast(pl.Int32)
    grades = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
    return (
        frame.with_columns(
            id_masked=mask_id_expr(pl.col("id_number")),
            age=age,
            disability=pl.col("disability_grade").replace_strict(grades, default=None, return_dtype=pl.Utf8),
            head_rank=(pl.col("relation") != "户主").fill_null(True),
        )
        .sort("household_key", "head_rank", "source_row")
        .with_columns(
            member_text=pl.concat_str(
                pl.col("name").fill_null("（无姓名）"),
                pl.lit("（"),
                pl.col("relation").fill_null("关系不详"),
                pl.lit("，"),
                pl.col("id_masked").fill_null("无身份证号"),
                pl.when(pl.col("age").is_not_null())
                .then(pl.lit("，") + pl.col("age").cast(pl.Utf8) + pl.lit("岁"))
                .otherwise(pl.lit("")),
                pl.when(pl.col("disability").is_not_null())
                .then(pl.lit("，残疾") + pl.col("disability"))
                .otherwise(pl.lit("")),
                pl.lit("）"),
            )
        )
    )


def _household_members(members: pl.DataFrame) -> pl.DataFrame:
    return members.group_by("household_key", maintain_order=True).agg(
        members=pl.col("member_text").str.join("\n"),
        head_name=pl.col("name").first(),
        phone=pl.col("phone").drop_nulls().first(),  # the head's phone, else a member's
    )


def _village_and_rule(regions: dict[str, str]) -> dict[str, pl.Expr]:
    """The columns every sheet shows the same way: 村（社区） by name, 预警规则 as code and name."""
    return {
        "village": pl.col("village_code").map_elements(lambda c: region_label(c, regions), return_dtype=pl.Utf8),
        "rule_text": pl.concat_str(pl.col("rule_code"), pl.lit(" "), pl.col("rule_name")),
    }


def _registered_names(members: pl.DataFrame) -> dict[str, dict[str, str]]:
    """household_key -> {name as normalised: name as registered}, for readable_evidence."""
    names: dict[str, dict[str, str]] = {}
    for hh, norm, raw in members.select("household_key", "name_norm", "name").iter_rows():
        if norm:
            names.setdefault(hh, {})[norm] = raw
    return names


def _prepare_flags(
    con, month: dt.date, flags: pl.DataFrame, members: pl.DataFrame, regions: dict[str, str]
) -> pl.DataFrame:
    """Readable columns, and the household blocks: households by their most
    severe flag, then village; a household's flags together, most severe first."""
    records = _evidence_records(con, flags)
    basis = _match_basis(records)
    codes = _diagnosis_codes(records)
    names = _registered_names(members)
    evidence = [
        readable_evidence(t, codes.get(f, []), names.get(h, {}))
        for f, t, h in zip(flags["flag_id"], flags["evidence_text"], flags["household_key"])
    ]
    flags = flags.join(_household_members(members), on="household_key", how="left", maintain_order="left")
    return flags.with_columns(
        evidence_text=pl.Series(evidence, dtype=pl.Utf8),
        match_basis=pl.col("flag_id").replace_strict(basis, default="在册信息（低收入人口数据库）"),
        **_village_and_rule(regions),
        state_text=pl.when(pl.col("state") == "持续")
        .then(pl.concat_str(pl.lit("持续（自"), pl.col("episode_start_text"), pl.lit("）")))
        .otherwise(pl.col("state")),
        household_rank=pl.col("severity_rank").min().over("household_key"),
    ).sort("household_rank", "village_code", "household_key", "severity_rank", "rule_code", nulls_last=True)


def _prepare_held(held: pl.DataFrame, members: pl.DataFrame, regions: dict[str, str]) -> pl.DataFrame:
    """Readable columns of the 待核实 rows: names as registered, diseases as categories."""
    names = _registered_names(members)
    reasons = [readable_evidence(t, [], names.get(h, {})) for t, h in zip(held["reason"], held["household_key"])]
    return held.join(_household_members(members), on="household_key", how="left", maintain_order="left").with_columns(
        reason=pl.Series(reasons, dtype=pl.Utf8),
        **_village_and_rule(regions),
    )


# ---------------------------------------------------------------- writing
def _workbook(path: Path, title: str) -> xlsxwriter.Workbook:
    """A workbook that writes text as text (IDs, codes) with fixed metadata."""
    wb = xlsxwriter.Workbook(
        str(path), {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
    )
    wb.set_properties({"created": _CREATED, "title": title})
    return wb


class _Formats:
    """Cell formats by role, with a variant that draws the line above a household block."""

    BASE: ClassVar[dict] = {"font_size": 10, "valign": "top", "border": 1, "border_color": "#BFBFBF"}
    ROLES: ClassVar[dict[str, dict]] = {
        "title": {"bold": True, "font_size": 14, "valign": "vcenter", "border": 0},
        "header": {
            "bold": True,
            "bg_color": "#DDEBF7",
            "text_wrap": True,
            "valign": "vcenter",
            "border_color": "#808080",
        },
        "cell": {},
        "wrap": {"text_wrap": True},
        "high": {"font_color": "#C00000", "bold": True},
        "input": {"bg_color": "#FFF2CC", "locked": False},
        "date": {"bg_color": "#FFF2CC", "locked": False, "num_format": "yyyy-mm-dd"},
        "num": {},
        "pct": {"num_format": "0.00%"},
        "total": {"bold": True, "bg_color": "#F2F2F2"},
        "total_pct": {"bold": True, "bg_color": "#F2F2F2", "num_format": "0.00%"},
    }

    def __init__(self, wb: xlsxwriter.Workbook):
        self.wb, self.cache = wb, {}

    def __call__(self, role: str, block_top: bool = False):
        key = (role, block_top)
        if key not in self.cache:
            props = {**self.BASE, **self.ROLES[role]}
            if block_top:
                props.update(top=2, top_color="#404040")
            self.cache[key] = self.wb.add_format(props)
        return self.cache[key]


def _print_setup(ws, title: str, header_rows: int, landscape: bool = True) -> None:
    """A4, fit to the page width, header rows repeated, page numbers."""
    ws.set_paper(9)
    if landscape:
        ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0, header_rows - 1)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_header(f"&L&9{title}")
    ws.set_footer("&C&9第 &P 页，共 &N 页")
    ws.hide_gridlines(0)


def _protect(ws) -> None:
    """Everything locked except the cells formatted as input (locked: False); no
    password: this guards against slips, e.g. an edited 标记编号."""
    ws.protect(
        "",
        {
            "autofilter": True,
            "sort": False,
            "format_columns": True,
            "format_rows": True,
            "select_locked_cells": True,
            "select_unlocked_cells": True,
        },
    )


def _write_value(ws, i: int, j: int, v, style) -> None:
    if v is None:
        ws.write_blank(i, j, None, style)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        ws.write_number(i, j, v, style)
    else:
        ws.write_string(i, j, str(v), style)


def _write_title(ws, fmt: _Formats, text: str, width: int) -> None:
    ws.merge_range(0, 0, 0, width - 1, text, fmt("title"))
    ws.set_row(0, 26)


def _write_table(ws, fmt: _Formats, spec, frame: pl.DataFrame, title: str, wrap_cols=()) -> None:
    """Title row, header row, one row per frame row; protected, print-ready."""
    _write_title(ws, fmt, title, len(spec))
    for j, (header, _col, width) in enumerate(spec):
        ws.write_string(1, j, header, fmt("header"))
        ws.set_column(j, j, width)
    for j, (_header, col, _width) in enumerate(spec):
        if col is None:
            continue
        style = fmt("wrap" if col in wrap_cols else "cell")
        for i, v in enumerate(frame[col].to_list() if frame.height else [], start=2):
            _write_value(ws, i, j, v, style)
    ws.freeze_panes(2, 0)
    if frame.height:
        ws.autofilter(1, 0, frame.height + 1, len(spec) - 1)
    _print_setup(ws, title, 2)
    _protect(ws)


def _write_flag_sheet(ws, fmt: _Formats, flags: pl.DataFrame, title: str) -> None:
    """预警清单: title, header, then one block per household; household cells merged
    over the household's rows, a heavy line above each block."""
    spec = FLAG_SHEET
    headers = [h for h, _c, _w in spec]
    _write_title(ws, fmt, title, len(spec))
    for j, (header, _col, width) in enumerate(spec):
        ws.write_string(1, j, header, fmt("header"))
        ws.set_column(j, j, width)
    ws.set_row(1, 30)
    rows = flags.to_dicts()
    i = 2
    start = 0
    while start < len(rows):
        hh = rows[start]["household_key"]
        end = start
        while end + 1 < len(rows) and rows[end + 1]["household_key"] == hh:
            end += 1
        for k in range(start, end + 1):
            row, r = rows[k], i + k - start
            top = k == start
            for j, (header, col, _w) in enumerate(spec):
                if col in HOUSEHOLD_COLUMNS:
                    continue
                if col is None:
                    _write_value(ws, r, j, None, fmt("date" if header == "处置日期" else "input", top))
                elif col == "severity":
                    _write_value(ws, r, j, row[col], fmt("high" if row[col] == "高" else "cell", top))
                else:
                    _write_value(ws, r, j, row[col], fmt("wrap", top))
        for j, (_h, col, _w) in enumerate(spec):
            if col not in HOUSEHOLD_COLUMNS:
                continue
            value = rows[start][col]
            style = fmt("wrap", True)
            if end > start:
                ws.merge_range(i, j, i + end - start, j, "" if value is None else str(value), style)
            else:
                _write_value(ws, i, j, value, style)
        i += end - start + 1
        start = end + 1
    n = max(len(rows), 1)
    first_input = headers.index("处置结果")
    ws.data_validation(
        2,
        first_input,
        n + 1,
        first_input,
        {
            "validate": "list",
            "source": list(DISPOSITION_VALUES),
            "input_title": "处置结果",
            "input_message": "请从下拉列表选择",
            "error_title": "处置结果无效",
            "error_message": "只能填写：" + "、".join(DISPOSITION_VALUES),
        },
    )
    ws.data_validation(
        2,
        first_input + 1,
        n + 1,
        first_input + 1,
        {
            "validate": "date",
            "criteria": "between",
            "minimum": dt.date(2000, 1, 1),
            "maximum": dt.date(2100, 12, 31),
            "error_message": "请填写日期，例如 2026-09-15",
        },
    )
    ws.freeze_panes(2, 0)
    _print_setup(ws, title, 2)
    _protect(ws)


def _write_township(
    path: Path,
    month: dt.date,
    town_title: str,
    flags: pl.DataFrame,
    members: pl.DataFrame,
    cleared: pl.DataFrame,
    held: pl.DataFrame,
) -> None:
    households = flags["household_key"].n_unique()
    title = (
        f"{month.year}年{month.month}月 低收入人口风险预警核查清单 — {town_title}："
        f"{households} 户，{flags.height} 条预警"
    )
    wb = _workbook(path, title)
    fmt = _Formats(wb)
    _write_flag_sheet(wb.add_worksheet("预警清单"), fmt, flags, title)
    _write_table(
        wb.add_worksheet("待核实"),
        fmt,
        HELD_SHEET,
        held,
        f"{month.year}年{month.month}月 待核实（预警依据中有记录待人工核对匹配，核对后次月自动更新）— {town_title}："
        f"{held['household_key'].n_unique()} 户",
        wrap_cols=("members", "reason"),
    )
    _write_table(
        wb.add_worksheet("家庭成员"),
        fmt,
        MEMBER_SHEET,
        members,
        f"{month.year}年{month.month}月 预警户家庭成员 — {town_title}：{members.height} 人",
    )
    _write_table(
        wb.add_worksheet("本月清零"),
        fmt,
        CLEARED_SHEET,
        cleared,
        f"{month.year}年{month.month}月 本月清零的预警 — {town_title}：{cleared.height} 条",
        wrap_cols=("evidence_text",),
    )
    wb.close()


def _summary_wide(con: duckdb.DuckDBPyConnection, month: dt.date, level: str, keys: list[str]) -> pl.DataFrame:
    long = query_pl(con, f"SELECT * FROM flags.summary_{level} WHERE month = ?", [month])
    if long.height == 0:
        return pl.DataFrame(schema={**dict.fromkeys(keys, pl.Utf8), "registry_households": pl.Int32})
    reg = long.group_by(keys, maintain_order=True).agg(pl.col("registry_households").first())
    wide = reg
    for code in sorted(long["rule_code"].unique().to_list(), key=lambda c: (c == "合计", c)):
        part = long.filter(pl.col("rule_code") == code).select(
            *keys, pl.col("flagged_households").alias(f"{code}|n"), pl.col("share").alias(f"{code}|s")
        )
        wide = wide.join(part, on=keys, how="left", nulls_equal=True)
    return wide.sort(keys, nulls_last=True)


def _write_summary(path: Path, con: duckdb.DuckDBPyConnection, month: dt.date, regions: dict[str, str]) -> None:
    """村表 / 乡镇表 / 县表 with code and name columns and a 合计 row, and 规则运行情况."""
    doc_title = f"{month.year}年{month.month}月 风险预警汇总表"
    wb = _workbook(path, doc_title)
    fmt = _Formats(wb)
    names = dict(
        query_pl(con, "SELECT DISTINCT rule_code, rule_name FROM flags.rule_runs WHERE month = ?", [month]).iter_rows()
    )
    names["合计"] = "全部规则"
    for sheet, (level, keys) in LEVELS.items():
        wide = _summary_wide(con, month, level, keys)
        ws = wb.add_worksheet(sheet)
        headers, cols = [], []
        for k in keys:
            headers += [f"{LEVEL_HEADERS[k]}代码", f"{LEVEL_HEADERS[k]}名称"]
            cols += [k, f"{k}|name"]
        headers.append("在册户数")
        cols.append("registry_households")
        for c in wide.columns:
            if c.endswith("|n"):
                code = c[:-2]
                headers += [f"{code} {names.get(code, '')} 预警户数", f"{code} 占在册户比例"]
                cols += [c, f"{code}|s"]
        title = f"{doc_title}（{sheet}）"
        _write_title(ws, fmt, title, len(headers))
        for j, h in enumerate(headers):
            ws.write_string(1, j, h, fmt("header"))
            ws.set_column(j, j, 11 if cols[j].endswith(("|n", "|s")) else 13)
        ws.set_row(1, 45)
        for j, c in enumerate(cols):
            if c.endswith("|name"):
                values = [region_label(v, regions) if v in regions else "" for v in wide[c[:-5]].to_list()]
            else:
                values = wide[c].to_list()
            style = fmt("pct" if c.endswith("|s") else "cell")
            for i, v in enumerate(values, start=2):
                _write_value(ws, i, j, v, style)
        # 合计: households add up across regions (a household lives in one village);
        # the share is recomputed from the sums, never averaged.
        total_row = wide.height + 2
        ws.write_string(total_row, 0, "合计", fmt("total"))
        for j in range(1, 2 * len(keys)):
            ws.write_blank(total_row, j, None, fmt("total"))
        registry_total = int(wide["registry_households"].fill_null(0).sum()) if wide.height else 0
        for j, c in enumerate(cols):
            if c == "registry_households":
                ws.write_number(total_row, j, registry_total, fmt("total"))
            elif c.endswith("|n"):
                ws.write_number(total_row, j, int(wide[c].fill_null(0).sum()), fmt("total"))
            elif c.endswith("|s"):
                flagged = int(wide[c[:-2] + "|n"].fill_null(0).sum())
                ws.write_number(total_row, j, flagged / registry_total if registry_total else 0.0, fmt("total_pct"))
        ws.freeze_panes(2, 2 * len(keys))
        _print_setup(ws, title, 2)
        _protect(ws)
    runs = query_pl(
        con,
        """
        SELECT rule_code AS "规则编号", rule_name AS "规则名称",
               CASE status WHEN 'ran' THEN '已运行' WHEN 'skipped' THEN '跳过' ELSE '暂缓发布' END AS "运行情况",
               coalesce(reason, '') AS "原因", flags AS "触发户数", active AS "提示户数"
        FROM flags.rule_runs WHERE month = ? ORDER BY rule_code""",
        [month],
    )
    spec = [(c, c, 14 if c != "原因" else 60) for c in runs.columns]
    _write_table(wb.add_worksheet("规则运行情况"), fmt, spec, runs, f"{doc_title}（规则运行情况）", wrap_cols=("原因",))
    wb.close()


def write_caseworker_workbooks(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    exports_dir: Path,
    regions: dict[str, str] | None = None,
    workers: int | None = None,
) -> list[Path]:
    """One workbook per township with active flags or 待核实 rows (flags.held_back) under
    exports_dir/<YYYY-MM>/, named `<township code>_<name>.xlsx` (`<code>.xlsx` without a
    region-name table), plus 汇总表.xlsx. Returns the paths.

    workers: processes writing township workbooks (default: the machine's cores
    when the month has more than PARALLEL_MIN_FLAGS flags, else 1)."""
    month = dt.date(month.year, month.month, 1)
    published = con.execute("SELECT published FROM flags.month_status WHERE month = ?", [month]).fetchall()
    if not published or not published[0][0]:
        return []  # withheld (or never evaluated): nothing goes out to caseworkers; the DQ report says why
    out_dir = Path(exports_dir) / f"{month:%Y-%m}"
    out_dir.mkdir(parents=True, exist_ok=True)
    regions = regions or {}
    members = _members(con, month)
    flags = _prepare_flags(con, month, _flags(con, month), members, regions)
    cleared = _cleared(con, month)
    cleared_codes = _diagnosis_codes(_evidence_records(con, cleared))
    cleared = cleared.with_columns(
        evidence_text=pl.Series(
            [
                readable_evidence(t, cleared_codes.get(f, []), {})
                for f, t in zip(cleared["flag_id"], cleared["evidence_text"])
            ],
            dtype=pl.Utf8,
        ),
        **_village_and_rule(regions),
    )
    held = _prepare_held(_held(con, month), members, regions)
    village_of = dict(zip(flags["household_key"].to_list(), flags["village"].to_list()))
    members = members.with_columns(village=pl.col("household_key").replace_strict(village_of, default=None))
    paths: list[Path] = []
    tasks: list[tuple] = []
    towns = sorted(
        set(flags["township_code"].to_list())
        | set(cleared["township_code"].to_list())
        | set(held["township_code"].to_list()),
        key=lambda t: (t is None, t or ""),
    )
    for town in towns:
        sel = pl.col("township_code").is_null() if town is None else pl.col("township_code") == town
        f, h = flags.filter(sel), held.filter(sel)
        if f.height == 0 and h.height == 0:
            continue  # only cleared flags: listed next month nowhere, summary has them
        path = out_dir / f"{_file_label(town, regions)}.xlsx"
        keys = f["household_key"].unique(maintain_order=True).to_list()
        order = {k: n for n, k in enumerate(keys)}
        m = (
            members.filter(pl.col("household_key").is_in(keys))
            .with_columns(_order=pl.col("household_key").replace_strict(order, return_dtype=pl.Int64))
            .sort("_order", "head_rank", "source_row")
        )
        tasks.append((path, month, township_title(town, regions), f, m, cleared.filter(sel), h))
        paths.append(path)
    _write_townships(tasks, workers)
    summary = out_dir / "汇总表.xlsx"
    _write_summary(summary, con, month, regions)
    paths.append(summary)
    return paths


PARALLEL_MIN_FLAGS = 5_000
_MAX_WORKERS = 4


def _write_townships(tasks: list[tuple], workers: int | None) -> None:
    """Township workbooks are independent and xlsxwriter is pure Python (a prefecture
    month is ~10^5 flags): written by worker processes when that pays. Spawned, not
    forked: polars' and DuckDB's threads do not survive a fork."""
    if workers is None:
        flags = sum(t[3].height for t in tasks)
        workers = min(os.cpu_count() or 1, _MAX_WORKERS) if flags > PARALLEL_MIN_FLAGS else 1
    workers = max(1, min(workers, len(tasks)))
    if workers == 1:
        for task in tasks:
            _write_township(*task)
        return
    largest_first = sorted(tasks, key=lambda t: -t[3].height)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_write_township, *zip(*largest_first, strict=True)))  # raises a worker's error


# ---------------------------------------------------------------- reading back
def _header_row(reader, sheet) -> int:
    """The row holding 标记编号: 1 in a township workbook (under its title row), 0 in a plain file."""
    top = reader.load_sheet(sheet, header_row=None, n_rows=5, dtypes="string").to_polars()
    for i, row in enumerate(top.iter_rows()):
        if DISPOSITION_HEADERS[0] in [str(v).strip() if v is not None else None for v in row]:
            return i
    return 0


def read_dispositions_workbook(path: Path) -> pl.DataFrame:
    """A returned caseworker workbook (or a plain dispositions file) as the
    dispositions extract: columns 标记编号 / 处置结果 / 处置日期 (Date) / 经办人 / 备注,
    one row per flag whose 处置结果 was filled in."""
    import fastexcel

    reader = fastexcel.read_excel(str(path))
    sheet = "预警清单" if "预警清单" in reader.sheet_names else 0
    header_row = _header_row(reader, sheet)
    header = reader.load_sheet(sheet, header_row=header_row, n_rows=0).to_polars().columns
    missing = [h for h in DISPOSITION_HEADERS[:2] if h not in header]
    if missing:
        raise ValueError(f"{path}: 缺少列 {'、'.join(missing)}")
    wanted = [h for h in DISPOSITION_HEADERS if h in header]
    raw = reader.load_sheet(
        sheet, header_row=header_row, use_columns=wanted, dtypes=dict.fromkeys(wanted, "string")
    ).to_polars()
    cols = []
    for h in DISPOSITION_HEADERS:
        if h not in raw.columns:
            cols.append(pl.lit(None, pl.Utf8).alias(h))
            continue
        text = pl.col(h).str.strip_chars().replace("", None)
        if h == "处置日期":
            serial = text.str.extract(r"^(\d{5})(?:\.0+)?$", 1).cast(pl.Int64)
            iso = (
                text.str.slice(0, 10)
                .str.replace_all(r"[/.年月]", "-")
                .str.replace_all("日", "")
                .str.to_date("%Y-%m-%d", strict=False)
            )
            cols.append(
                pl.when(serial.is_not_null())
                .then(pl.lit(dt.date(1899, 12, 30)) + pl.duration(days=serial))
                .otherwise(iso)
                .cast(pl.Date)
                .alias(h)
            )
        else:
            cols.append(text.alias(h))
    frame = raw.select(cols)
    return frame.filter(pl.col("标记编号").is_not_null() & pl.col("处置结果").is_not_null())


def write_dispositions_file(frame: pl.DataFrame, path: Path) -> Path:
    """Write read_dispositions_workbook's frame as an inbox `dispositions.xlsx`."""
    wb = xlsxwriter.Workbook(
        str(path), {"strings_to_numbers": False, "strings_to_formulas": False, "default_date_format": "yyyy-mm-dd"}
    )
    wb.set_properties({"created": _CREATED})
    ws = wb.add_worksheet("Sheet1")
    ws.write_row(0, 0, list(DISPOSITION_HEADERS))
    for i, row in enumerate(frame.select(DISPOSITION_HEADERS).iter_rows(), start=1):
        for j, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, dt.date):
                ws.write_datetime(i, j, dt.datetime(v.year, v.month, v.day))
            else:
                ws.write_string(i, j, str(v))
    wb.close()
    return Path(path)
