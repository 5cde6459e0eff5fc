"""Caseworker deliverables (outputs.md): one workbook per township per month with
the month's active flags, and a summary workbook (村表 / 乡镇表 / 县表).

The first sheet of a township workbook, 预警清单, carries the disposition columns
of extracts.md (标记编号 / 处置结果 / 处置日期 / 经办人 / 备注, 处置结果 with a
drop-down of the four allowed values), so the filled-in workbook can be returned
and read back as next month's `dispositions.xlsx` (read_dispositions_workbook).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import xlsxwriter

from lowincome.months import month_end
from lowincome.privacy import mask_id_expr, mask_phone_expr
from lowincome.schema import DISPOSITION_VALUES, SOURCES
from lowincome.warehouse import query_pl

DISPOSITION_HEADERS = tuple(c.chinese for c in SOURCES["dispositions"].columns)  # 标记编号 … 备注
_CREATED = dt.datetime(2026, 1, 1, 8, 0, 0)  # fixed: same bytes for the same month

# 预警清单: (header, column, width)
FLAG_SHEET = (
    ("标记编号", "flag_id", 22),
    ("严重程度", "severity", 8),
    ("村（社区）代码", "village_code", 15),
    ("户编号", "household_key", 18),
    ("户主", "head_name", 12),
    ("救助类别", "category", 10),
    ("家庭成员", "members", 46),
    ("规则编号", "rule_code", 8),
    ("规则名称", "rule_name", 16),
    ("状态", "state", 6),
    ("首次预警月份", "episode_start_text", 12),
    ("预警依据", "evidence_text", 60),
    ("建议措施", "recommended_action", 26),
    ("处置结果", None, 14),
    ("处置日期", None, 12),
    ("经办人", None, 10),
    ("备注", None, 24),
)
MEMBER_SHEET = (
    ("户编号", "household_key", 18),
    ("姓名", "name", 12),
    ("与户主关系", "relation", 10),
    ("身份证号", "id_masked", 22),
    ("性别", "sex", 6),
    ("年龄", "age", 6),
    ("残疾等级", "disability", 10),
    ("残疾类别", "disability_type", 10),
    ("联系电话", "phone_masked", 14),
)
CLEARED_SHEET = (
    ("标记编号", "flag_id", 22),
    ("村（社区）代码", "village_code", 15),
    ("户编号", "household_key", 18),
    ("规则编号", "rule_code", 8),
    ("规则名称", "rule_name", 16),
    ("清零原因", "closed_by", 12),
    ("预警持续月数", "months_open", 12),
    ("说明", "evidence_text", 60),
)
LEVELS = {
    "村表": ("village", ["county_code", "township_code", "village_code"], ["县（区）代码", "乡镇（街道）代码", "村（社区）代码"]),
    "乡镇表": ("township", ["county_code", "township_code"], ["县（区）代码", "乡镇（街道）代码"]),
    "县表": ("county", ["county_code"], ["县（区）代码"]),
}


# ---------------------------------------------------------------- data
def _flags(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    return query_pl(con, """
        SELECT flag_id, severity, severity_rank, county_code, township_code, village_code, household_key,
               category, rule_code, rule_name, state, strftime(episode_start, '%Y-%m') AS episode_start_text,
               evidence_text, recommended_action
        FROM flags.risk_flags
        WHERE month = ? AND state IN ('新增', '持续')
        ORDER BY severity_rank, village_code NULLS LAST, household_key, rule_code""", [month])


def _cleared(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    return query_pl(con, """
        SELECT f.flag_id, f.township_code, f.village_code, f.household_key, f.rule_code, f.rule_name,
               f.closed_by, f.months_open, f.evidence_text
        FROM flags.risk_flags f
        JOIN flags.flag_history h ON h.month = f.month AND h.flag_id = f.flag_id AND h.to_state = '已清零'
        WHERE f.month = ?
        ORDER BY f.village_code NULLS LAST, f.household_key, f.rule_code""", [month])


def _members(con: duckdb.DuckDBPyConnection, month: dt.date) -> pl.DataFrame:
    """Members of the flagged households: registry rows, or 乡村振兴 rows for RR: keys."""
    sql = """
        WITH keys AS (SELECT DISTINCT household_key FROM flags.risk_flags WHERE month = ? AND state IN ('新增', '持续'))
        SELECT r.household_id AS household_key, r.source_row, r.name, r.relation,
               coalesce(r.id_number, r.id_number_raw) AS id_number, coalesce(r.sex, r.id_sex) AS sex,
               coalesce(r.birth_date, r.id_birth_date) AS birth, r.disability_grade, r.disability_type, r.phone
        FROM std.registry r JOIN keys k ON k.household_key = r.household_id
        WHERE r.month = ?
        UNION ALL
        SELECT 'RR:' || r.rr_household_id, r.source_row, r.name, r.relation,
               coalesce(r.id_number, r.id_number_raw), r.id_sex, r.id_birth_date, NULL, NULL, NULL
        FROM std.rural_revitalization r JOIN keys k ON k.household_key = 'RR:' || r.rr_household_id
        WHERE r.month = ?
    """
    frame = query_pl(con, sql, [month, month, month])
    end = month_end(month)
    birth = pl.col("birth")
    age = (pl.lit(end.year) - birth.dt.year() - pl.when(
        pl.lit(end.month * 100 + end.day) < birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day().cast(pl.Int32)
    ).then(1).otherwise(0)).cast(pl.Int32)
    grades = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
    return (
        frame.with_columns(
            id_masked=mask_id_expr(pl.col("id_number")),
            phone_masked=mask_phone_expr(pl.col("phone")),
            age=age,
            disability=pl.col("disability_grade").replace_strict(grades, default=None, return_dtype=pl.Utf8),
            head_rank=(pl.col("relation") != "户主").fill_null(True),
        )
        .sort("household_key", "head_rank", "source_row")
        .with_columns(
            member_text=pl.concat_str(
                pl.col("name").fill_null("（无姓名）"), pl.lit("（"), pl.col("relation").fill_null("关系不详"), pl.lit("，"),
                pl.col("id_masked").fill_null("无身份证号"),
                pl.when(pl.col("age").is_not_null()).then(pl.lit("，") + pl.col("age").cast(pl.Utf8) + pl.lit("岁")).otherwise(pl.lit("")),
                pl.when(pl.col("disability").is_not_null()).then(pl.lit("，残疾") + pl.col("disability")).otherwise(pl.lit("")),
                pl.lit("）"),
            )
        )
    )


def _household_members(members: pl.DataFrame) -> pl.DataFrame:
    return members.group_by("household_key", maintain_order=True).agg(
        members=pl.col("member_text").str.join("\n"),
        head_name=pl.col("name").first(),
    )


# ---------------------------------------------------------------- writing
def _workbook(path: Path, title: str) -> xlsxwriter.Workbook:
    """A workbook that writes text as text (IDs, codes) with fixed metadata."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    wb.set_properties({"created": _CREATED, "title": title})
    return wb


def _formats(wb: xlsxwriter.Workbook) -> dict:
    return {
        "header": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        "cell": wb.add_format({"valign": "top"}),
        "input": wb.add_format({"bg_color": "#FFF2CC", "border": 1, "valign": "top"}),
        "date": wb.add_format({"bg_color": "#FFF2CC", "border": 1, "num_format": "yyyy-mm-dd", "valign": "top"}),
        "pct": wb.add_format({"num_format": "0.00%"}),
        "high": wb.add_format({"font_color": "#C00000", "bold": True, "valign": "top"}),
    }


def _write_table(ws, fmt: dict, spec, frame: pl.DataFrame, wrap_cols=()) -> None:
    for j, (header, _col, width) in enumerate(spec):
        ws.write_string(0, j, header, fmt["header"])
        ws.set_column(j, j, width)
    for j, (_header, col, _width) in enumerate(spec):
        if col is None or frame.height == 0:
            continue
        style = fmt["wrap"] if col in wrap_cols else fmt["cell"]
        for i, v in enumerate(frame[col].to_list(), start=1):
            if v is None:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(i, j, v, style)
            else:
                ws.write_string(i, j, str(v), style)
    ws.freeze_panes(1, 0)
    if frame.height:
        ws.autofilter(0, 0, frame.height, len(spec) - 1)


def _write_township(path: Path, month: dt.date, township: str, flags: pl.DataFrame, members: pl.DataFrame,
                    cleared: pl.DataFrame) -> None:
    wb = _workbook(path, f"{month:%Y年%m月} 低收入人口风险预警清单（{township}）")
    fmt = _formats(wb)
    ws = wb.add_worksheet("预警清单")
    _write_table(ws, fmt, FLAG_SHEET, flags, wrap_cols=("members", "evidence_text", "recommended_action"))
    sev = [h for h, _c, _w in FLAG_SHEET].index("严重程度")
    for i, s in enumerate(flags["severity"].to_list(), start=1):
        if s == "高":
            ws.write_string(i, sev, s, fmt["high"])
    first_input = [h for h, _c, _w in FLAG_SHEET].index("处置结果")
    n = max(flags.height, 1)
    for j in range(first_input, len(FLAG_SHEET)):
        ws.set_column(j, j, FLAG_SHEET[j][2], fmt["date"] if FLAG_SHEET[j][0] == "处置日期" else fmt["input"])
    ws.data_validation(1, first_input, n, first_input, {
        "validate": "list", "source": list(DISPOSITION_VALUES),
        "input_title": "处置结果", "input_message": "请从下拉列表选择",
        "error_title": "处置结果无效", "error_message": "只能填写：" + "、".join(DISPOSITION_VALUES),
    })
    ws.data_validation(1, first_input + 1, n, first_input + 1, {
        "validate": "date", "criteria": "between",
        "minimum": dt.date(2000, 1, 1), "maximum": dt.date(2100, 12, 31),
        "error_message": "请填写日期，例如 2026-09-15",
    })
    ms = wb.add_worksheet("家庭成员")
    _write_table(ms, fmt, MEMBER_SHEET, members)
    cs = wb.add_worksheet("本月清零")
    _write_table(cs, fmt, CLEARED_SHEET, cleared, wrap_cols=("evidence_text",))
    wb.close()


def _summary_wide(con: duckdb.DuckDBPyConnection, month: dt.date, level: str, keys: list[str]) -> pl.DataFrame:
    long = query_pl(con, f"SELECT * FROM flags.summary_{level} WHERE month = ?", [month])
    if long.height == 0:
        return pl.DataFrame(schema={**{k: pl.Utf8 for k in keys}, "registry_households": pl.Int32})
    reg = long.group_by(keys, maintain_order=True).agg(pl.col("registry_households").first())
    wide = reg
    for code in sorted(long["rule_code"].unique().to_list(), key=lambda c: (c == "合计", c)):
        part = long.filter(pl.col("rule_code") == code).select(
            *keys, pl.col("flagged_households").alias(f"{code}|n"), pl.col("share").alias(f"{code}|s"))
        wide = wide.join(part, on=keys, how="left", nulls_equal=True)
    return wide


def _write_summary(path: Path, con: duckdb.DuckDBPyConnection, month: dt.date) -> None:
    wb = _workbook(path, f"{month:%Y年%m月} 风险预警汇总表")
    fmt = _formats(wb)
    names = dict(query_pl(con, "SELECT DISTINCT rule_code, rule_name FROM flags.rule_runs WHERE month = ?", [month]).iter_rows())
    names["合计"] = "全部规则"
    for sheet, (level, keys, key_headers) in LEVELS.items():
        wide = _summary_wide(con, month, level, keys)
        ws = wb.add_worksheet(sheet)
        headers = key_headers + ["在册户数"]
        cols = keys + ["registry_households"]
        for c in wide.columns:
            if c.endswith("|n"):
                code = c[:-2]
                headers += [f"{code} {names.get(code, '')} 预警户数", f"{code} 占在册户比例"]
                cols += [c, f"{code}|s"]
        for j, h in enumerate(headers):
            ws.write_string(0, j, h, fmt["header"])
            ws.set_column(j, j, 14 if j < len(keys) + 1 else 12)
        for j, c in enumerate(cols):
            for i, v in enumerate(wide[c].to_list(), start=1):
                if v is None:
                    continue
                if c.endswith("|s"):
                    ws.write_number(i, j, v, fmt["pct"])
                elif isinstance(v, (int, float)):
                    ws.write_number(i, j, v)
                else:
                    ws.write_string(i, j, str(v))
        ws.freeze_panes(1, len(keys))
    runs = query_pl(con, """
        SELECT rule_code AS "规则编号", rule_name AS "规则名称",
               CASE status WHEN 'ran' THEN '已运行' WHEN 'skipped' THEN '跳过' ELSE '暂缓发布' END AS "运行情况",
               coalesce(reason, '') AS "原因", flags AS "触发户数", active AS "提示户数"
        FROM flags.rule_runs WHERE month = ? ORDER BY rule_code""", [month])
    ws = wb.add_worksheet("规则运行情况")
    spec = [(c, c, 14 if c != "原因" else 60) for c in runs.columns]
    _write_table(ws, fmt, spec, runs, wrap_cols=("原因",))
    wb.close()


def write_caseworker_workbooks(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    exports_dir: Path,
    township_names: dict[str, str] | None = None,
) -> list[Path]:
    """One workbook per township with active flags under exports_dir/<YYYY-MM>/,
    named `<township code>_<name>.xlsx`, plus 汇总表.xlsx. Returns the paths."""
    month = dt.date(month.year, month.month, 1)
    published = con.execute("SELECT published FROM flags.month_status WHERE month = ?", [month]).fetchall()
    if not published or not published[0][0]:
        return []  # withheld (or never evaluated): nothing goes out to caseworkers; the DQ report says why
    out_dir = Path(exports_dir) / f"{month:%Y-%m}"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = township_names or {}
    flags = _flags(con, month)
    members = _members(con, month)
    per_household = _household_members(members)
    flags = flags.join(per_household, on="household_key", how="left", maintain_order="left")
    cleared = _cleared(con, month)
    paths: list[Path] = []
    towns = sorted(set(flags["township_code"].to_list()) | set(cleared["township_code"].to_list()), key=lambda t: (t is None, t or ""))
    for town in towns:
        sel = pl.col("township_code").is_null() if town is None else pl.col("township_code") == town
        f = flags.filter(sel)
        if f.height == 0:
            continue  # only cleared flags: listed next month nowhere, summary has them
        label = "未知乡镇" if town is None else f"{town}_{names.get(town, '乡镇')}"
        path = out_dir / f"{label}.xlsx"
        m = members.filter(pl.col("household_key").is_in(f["household_key"].unique().implode()))
        _write_township(path, month, label, f, m, cleared.filter(sel))
        paths.append(path)
    summary = out_dir / "汇总表.xlsx"
    _write_summary(summary, con, month)
    paths.append(summary)
    return paths


# ---------------------------------------------------------------- reading back
def read_dispositions_workbook(path: Path) -> pl.DataFrame:
    """A returned caseworker workbook (or a plain dispositions file) as the
    dispositions extract: columns 标记编号 / 处置结果 / 处置日期 (Date) / 经办人 / 备注,
    one row per flag whose 处置结果 was filled in."""
    import fastexcel

    reader = fastexcel.read_excel(str(path))
    sheet = "预警清单" if "预警清单" in reader.sheet_names else 0
    header = reader.load_sheet(sheet, n_rows=0).to_polars().columns
    missing = [h for h in DISPOSITION_HEADERS[:2] if h not in header]
    if missing:
        raise ValueError(f"{path}: 缺少列 {'、'.join(missing)}")
    wanted = [h for h in DISPOSITION_HEADERS if h in header]
    raw = reader.load_sheet(sheet, use_columns=wanted, dtypes={h: "string" for h in wanted}).to_polars()
    cols = []
    for h in DISPOSITION_HEADERS:
        if h not in raw.columns:
            cols.append(pl.lit(None, pl.Utf8).alias(h))
            continue
        text = pl.col(h).str.strip_chars().replace("", None)
        if h == "处置日期":
            serial = text.str.extract(r"^(\d{5})(?:\.0+)?$", 1).cast(pl.Int64)
            iso = (text.str.slice(0, 10).str.replace_all(r"[/.年月]", "-").str.replace_all("日", "")
                   .str.to_date("%Y-%m-%d", strict=False))
            cols.append(pl.when(serial.is_not_null())
                        .then(pl.lit(dt.date(1899, 12, 30)) + pl.duration(days=serial))
                        .otherwise(iso).cast(pl.Date).alias(h))
        else:
            cols.append(text.alias(h))
    frame = raw.select(cols)
    return frame.filter(pl.col("标记编号").is_not_null() & pl.col("处置结果").is_not_null())


def write_dispositions_file(frame: pl.DataFrame, path: Path) -> Path:
    """Write read_dispositions_workbook's frame as an inbox `dispositions.xlsx`."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "default_date_format": "yyyy-mm-dd"})
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
