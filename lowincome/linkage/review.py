"""Clerical review of the linkage's review band.

write_review_list: one Excel row per review-band link (Chinese headers, IDs masked
to the first 6 + last 4 characters, a 人工判定 column with a 同一人/非同一人
drop-down). The clerk returns the file as
`$MONITOR_INBOX/<YYYY-MM>/review_decisions*.xlsx`; `read_review_decisions` reads one
file or every such file under a folder (recursively), and link_source applies them
(method `clerical`) in that month (by source_row) and every later month (by the
record key: source + name + ID as delivered, hashed).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from lowincome.linkage.clerical import person_tokens, record_tokens
from lowincome.linkage.explain import evidence_zh, waterfall_zh
from lowincome.linkage.registry import LinkageSettings
from lowincome.linkage.features import col
from lowincome.privacy import mask_id_expr
from lowincome.schema import SOURCE_LABELS

DECISION_MATCH = "同一人"
DECISION_NON_MATCH = "非同一人"
_DECISIONS = {DECISION_MATCH: "match", DECISION_NON_MATCH: "non_match"}

HEADERS = {
    "month": "月份",
    "source_label": "数据来源",
    "source_row": "来源行号",
    "rec_name": "记录姓名",
    "rec_id": "记录身份证号",
    "rec_birth": "记录出生日期",
    "rec_region": "记录行政区划代码",
    "reg_household": "候选户编号",
    "reg_name": "候选姓名",
    "reg_id": "候选身份证号",
    "reg_birth": "候选出生日期",
    "reg_region": "候选行政区划代码",
    "score": "匹配得分",
    "waterfall": "匹配依据（对数几率）",
    "evidence": "身份证据",
    "reason": "复核原因",
    "decision": "人工判定",
    "source": "来源代码",
    "record_key": "记录键",
    "person_token": "候选人员键",
}

_REASONS = {
    "id_equal_name_conflict": "身份证号相同但姓名不符",
    "id_duplicated_in_registry": "身份证号在数据库中重复",
}


def _reason(detail: pl.Expr) -> pl.Expr:
    r = detail.str.json_path_match("$.reason")
    amb = detail.str.json_path_match("$.ambiguous")
    ev = detail.str.json_path_match("$.evidence")
    return (
        pl.when(r.is_not_null())
        .then(r.replace(_REASONS))
        .when(amb == "true")
        .then(pl.lit("存在多个相近候选人"))
        .when(ev.str.contains("contradicted"))
        .then(pl.lit("身份证号或出生日期指向他人"))
        .when(ev.str.contains("claimed"))
        .then(pl.lit("此人本月已有同类记录按身份证号匹配，疑为同名者"))
        .otherwise(pl.lit("得分高但无身份证号、出生日期、同户或姓名唯一等身份证据"))
    )


def review_rows(links: pl.DataFrame, registry: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """The review band as the table written to Excel (masked, Chinese-ready), each
    row with its waterfall in words so the clerk decides from the evidence."""
    rv = links.filter(pl.col("decision") == "review")
    if rv.height == 0:
        return pl.DataFrame()
    source = rv["source"][0]
    settings = LinkageSettings().for_source(source)
    rec = records.with_columns(record_key=record_tokens(records, source)).select(
        pl.col("source_row").cast(pl.Int32),
        pl.col("name").alias("rec_name"),
        mask_id_expr(pl.coalesce(col(records, "id_number"), col(records, "id_number_raw"))).alias("rec_id"),
        pl.coalesce(col(records, "birth_date").cast(pl.String), col(records, "id_birth_date").cast(pl.String)).alias("rec_birth"),
        pl.coalesce(col(records, "region_code"), col(records, "insured_region")).cast(pl.String).alias("rec_region"),
        "record_key",
    )
    reg = registry.with_columns(person_token=person_tokens(registry["person_key"].cast(pl.String))).select(
        pl.col("source_row").cast(pl.Int32).alias("registry_row"),
        pl.col("household_id").cast(pl.String).alias("reg_household"),
        pl.col("name").alias("reg_name"),
        mask_id_expr(pl.coalesce(col(registry, "id_number"), col(registry, "id_number_raw"))).alias("reg_id"),
        pl.coalesce(col(registry, "birth_date").cast(pl.String), col(registry, "id_birth_date").cast(pl.String)).alias("reg_birth"),
        pl.col("region_code").cast(pl.String).alias("reg_region"),
        "person_token",
    )
    out = (
        rv.join(rec, on="source_row", how="left")
        .join(reg, on="registry_row", how="left")
        .with_columns(
            month=pl.col("month").dt.strftime("%Y-%m"),
            source_label=pl.col("source").replace(SOURCE_LABELS),
            score=pl.col("match_score").round(3),
            reason=_reason(pl.col("detail")),
            waterfall=pl.col("detail").map_elements(lambda d: waterfall_zh(d, settings), return_dtype=pl.String),
            evidence=pl.col("detail").map_elements(evidence_zh, return_dtype=pl.String),
            decision=pl.lit(None, dtype=pl.String),
        )
        .sort("score", descending=True)
    )
    return out.select(list(HEADERS)).rename(HEADERS)


def write_review_list(links: pl.DataFrame, registry: pl.DataFrame, records: pl.DataFrame, path: Path) -> Path | None:
    """Write the review band to `path` (xlsx); None when there is nothing to review."""
    table = review_rows(links, registry, records)
    if table.height == 0:
        return None
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("待复核匹配")
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    fill = wb.add_format({"bg_color": "#FFF2CC", "border": 1})
    cols = table.columns
    for j, h in enumerate(cols):
        ws.write_string(0, j, h, head)
    # small table (the review band): writing cell by cell is fine
    for i, row in enumerate(table.iter_rows(), start=1):
        for j, v in enumerate(row):
            if v is None:
                ws.write_blank(i, j, None, fill if cols[j] == HEADERS["decision"] else None)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(i, j, v)
            else:
                ws.write_string(i, j, str(v))
    dcol = cols.index(HEADERS["decision"])
    ws.data_validation(
        1, dcol, table.height, dcol,
        {"validate": "list", "source": [DECISION_MATCH, DECISION_NON_MATCH],
         "input_title": "人工判定", "input_message": "请选择：同一人 / 非同一人"},
    )
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, table.height, len(cols) - 1)
    ws.set_column(0, len(cols) - 1, 14)
    ws.set_column(cols.index(HEADERS["waterfall"]), cols.index(HEADERS["waterfall"]), 60)
    notes = wb.add_worksheet("说明")
    notes.write_string(0, 0, "请在“人工判定”列选择“同一人”或“非同一人”，保存后放入收件箱对应月份文件夹，文件名以 review_decisions 开头。")
    notes.write_string(1, 0, "身份证号已脱敏（前6位+后4位）。“记录键”“候选人员键”请勿修改。")
    wb.close()
    return path


_EMPTY = {
    "month": pl.Date,
    "source": pl.String,
    "source_row": pl.Int32,
    "registry_person_key": pl.String,
    "decision": pl.String,
    "record_key": pl.String,
}


def read_review_decisions(path_or_dir: Path | str) -> pl.DataFrame:
    """Returned review lists -> month, source, source_row, registry_person_key
    (the masked token `h:…`, accepted by link_source), decision (match / non_match),
    record_key. Rows without a decision are skipped; one file or every
    `review_decisions*.xlsx` under a folder."""
    p = Path(path_or_dir)
    files = sorted(p.rglob("review_decisions*.xlsx")) if p.is_dir() else ([p] if p.exists() else [])
    frames = []
    inv = {v: k for k, v in HEADERS.items()}
    for f in files:
        df = pl.read_excel(f, sheet_name="待复核匹配", infer_schema_length=0)
        df = df.rename({c: inv[c] for c in df.columns if c in inv})
        if "decision" not in df.columns:
            continue
        df = df.with_columns(pl.col("decision").cast(pl.String).str.strip_chars())
        df = df.filter(pl.col("decision").is_in(list(_DECISIONS)))
        frames.append(
            df.select(
                pl.col("month").cast(pl.String).str.slice(0, 7).str.to_date("%Y-%m", strict=False).alias("month"),
                pl.col("source").cast(pl.String),
                pl.col("source_row").cast(pl.Float64).cast(pl.Int32),
                pl.col("person_token").cast(pl.String).alias("registry_person_key"),
                pl.col("decision").replace_strict(_DECISIONS, return_dtype=pl.String),
                pl.col("record_key").cast(pl.String),
            )
        )
    if not frames:
        return pl.DataFrame(schema=_EMPTY)
    return pl.concat(frames).cast(_EMPTY)
