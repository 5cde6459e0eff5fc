"""Clerical review of the linkage's review band.

write_review_list: one Excel row per review-band link (Chinese headers, IDs masked
to the first 6 + last 4 characters, a 人工判定 column with a 同一人/非同一人
drop-down). The clerk returns the file as
`$MONITOR_INBOX/<YYYY-MM>/review_decisions*.xlsx`; `read_review_decisions` reads one
file or every such file under a folder (recursively), and link_source applies them
(method `clerical`) in that month (by source_row) and every later month (by the
record key: source + name + ID as delivered, hashed).

Returned lists are input, not authority (issue 11): every issued row carries a
校验码, an HMAC-SHA256 over its month, source, source row, record key, candidate
key and both masked IDs, keyed with the deployment secret `MONITOR_SIGNING_KEY`
(a fixed demo key when unset; set a real secret in production). A returned row
whose 校验码 does not match those cells (a changed 候选人员键, a made-up row, an
edited ID) is refused and reported; a file that cannot be read is quarantined
for the month with a warning and never fails the month.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lowincome.linkage.clerical import person_tokens, record_tokens
from lowincome.linkage.explain import EVIDENCE_ZH, evidence_zh, waterfall_zh
from lowincome.linkage.features import col
from lowincome.linkage.registry import LinkageSettings
from lowincome.privacy import mask_free_text, mask_free_text_expr, mask_id_expr
from lowincome.schema import SOURCE_LABELS

DECISION_MATCH = "同一人"
DECISION_NON_MATCH = "非同一人"
# The only way to override an exact-ID link (the record's ID equals another registry
# person's): explicit, applied with method clerical and reported in the link detail.
DECISION_OVERRIDE = "同一人（推翻身份证号匹配）"
_DECISIONS = {DECISION_MATCH: "match", DECISION_NON_MATCH: "non_match", DECISION_OVERRIDE: "match_override"}

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
    "signature": "校验码",
}

SIGNING_ENV = "MONITOR_SIGNING_KEY"
DEMO_SIGNING_KEY = "lowincome-demo-signing-key: set MONITOR_SIGNING_KEY in production"
# the cells a returned decision must carry unchanged
SIGNED = ("month", "source", "source_row", "record_key", "person_token", "rec_id", "reg_id")


def _signing_key() -> bytes:
    return (os.environ.get(SIGNING_ENV) or DEMO_SIGNING_KEY).encode("utf-8")


def _norm(name: str, value) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if name == "source_row":
        try:
            return str(int(float(text)))
        except ValueError:
            return text
    if name == "month":
        return text[:7]
    return text


def sign_row(values: dict) -> str:
    """HMAC of the issued row's keys (SIGNED) with the deployment secret."""
    msg = "\x1f".join(_norm(k, values.get(k)) for k in SIGNED)
    return hmac.new(_signing_key(), msg.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


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
        .when(ev.str.contains("unique_name_seen_withheld"))
        .then(pl.lit(EVIDENCE_ZH["unique_name_seen_withheld"]))
        .otherwise(pl.lit("得分高但无身份证号、出生日期、同户或姓名唯一等身份证据"))
    )


# The agency record's std columns the review list shows (besides those linkage reads).
RECORD_COLUMNS = (
    "source_row",
    "name",
    "id_number",
    "id_number_raw",
    "birth_date",
    "id_birth_date",
    "region_code",
    "insured_region",
)


def review_rows(links: pl.DataFrame, registry: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """The review band as the table written to Excel (masked, Chinese-ready), each
    row with its waterfall in words so the clerk decides from the evidence."""
    rv = links.filter(pl.col("decision") == "review")
    if rv.height == 0:
        return pl.DataFrame()
    source = rv["source"][0]
    settings = LinkageSettings().for_source(source)
    # only the rows under review: hashing keys of a whole prefecture month costs seconds
    records = records.filter(pl.col("source_row").cast(pl.Int32).is_in(rv["source_row"].implode()))
    registry = registry.filter(pl.col("source_row").cast(pl.Int32).is_in(rv["registry_row"].drop_nulls().implode()))
    rec = records.with_columns(record_key=record_tokens(records, source)).select(
        pl.col("source_row").cast(pl.Int32),
        pl.col("name").alias("rec_name"),
        mask_id_expr(pl.coalesce(col(records, "id_number"), col(records, "id_number_raw"))).alias("rec_id"),
        pl.coalesce(col(records, "birth_date").cast(pl.String), col(records, "id_birth_date").cast(pl.String)).alias(
            "rec_birth"
        ),
        pl.coalesce(col(records, "region_code"), col(records, "insured_region")).cast(pl.String).alias("rec_region"),
        "record_key",
    )
    reg = registry.with_columns(person_token=person_tokens(registry["person_key"].cast(pl.String))).select(
        pl.col("source_row").cast(pl.Int32).alias("registry_row"),
        pl.col("household_id").cast(pl.String).alias("reg_household"),
        pl.col("name").alias("reg_name"),
        mask_id_expr(pl.coalesce(col(registry, "id_number"), col(registry, "id_number_raw"))).alias("reg_id"),
        pl.coalesce(col(registry, "birth_date").cast(pl.String), col(registry, "id_birth_date").cast(pl.String)).alias(
            "reg_birth"
        ),
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
    out = out.with_columns(
        rec_name=mask_free_text_expr(pl.col("rec_name")),  # free text leaving the warehouse
        reg_name=mask_free_text_expr(pl.col("reg_name")),
    )
    out = out.with_columns(signature=pl.struct(list(SIGNED)).map_elements(sign_row, return_dtype=pl.String))
    return out.select(list(HEADERS)).rename(HEADERS)


# generated explanations: masked once more on the way out (keys and 校验码 stay exact)
_FREE_TEXT = {HEADERS[k] for k in ("waterfall", "evidence", "reason")}


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
                ws.write_string(i, j, mask_free_text(str(v)) if cols[j] in _FREE_TEXT else str(v))
    dcol = cols.index(HEADERS["decision"])
    ws.data_validation(
        1,
        dcol,
        table.height,
        dcol,
        {
            "validate": "list",
            "source": [DECISION_MATCH, DECISION_NON_MATCH, DECISION_OVERRIDE],
            "input_title": "人工判定",
            "input_message": "请选择：同一人 / 非同一人（推翻身份证号匹配须明确选择）",
        },
    )
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, table.height, len(cols) - 1)
    ws.set_column(0, len(cols) - 1, 14)
    ws.set_column(cols.index(HEADERS["waterfall"]), cols.index(HEADERS["waterfall"]), 60)
    notes = wb.add_worksheet("说明")
    notes.write_string(
        0,
        0,
        "请在“人工判定”列选择“同一人”或“非同一人”，保存后放入收件箱对应月份文件夹，文件名以 review_decisions 开头。",
    )
    notes.write_string(
        1, 0, "身份证号已脱敏（前6位+后4位）。“记录键”“候选人员键”“校验码”请勿修改：与下发时不一致的行不予采用。"
    )
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


@dataclass
class ReturnedReviews:
    """What the returned review lists under a folder hold: the decisions that may be
    applied, and per file what was read, refused or could not be read."""

    decisions: pl.DataFrame
    files: list[dict] = field(default_factory=list)  # file, status (read / corrupt), rows, applied, refused, error
    issues: list[dict] = field(
        default_factory=list
    )  # file, row (data row, 1 = first under the header), reason_code, reason


def read_returned_reviews(path_or_dir: Path | str) -> ReturnedReviews:
    """Returned review lists -> decisions (month, source, source_row, registry_person_key
    = the masked token `h:…`, decision match / non_match, record_key) whose 校验码
    matches what was issued. Rows without a decision are skipped; a row with a bad
    校验码 is refused (issue `review_signature_mismatch`); a file that cannot be read
    or lacks the columns is `corrupt` (issue `returned_file_corrupt`). Never raises
    for a bad file."""
    p = Path(path_or_dir)
    files = sorted(p.rglob("review_decisions*.xlsx")) if p.is_dir() else ([p] if p.exists() else [])
    out = ReturnedReviews(pl.DataFrame(schema=_EMPTY))
    frames = []
    inv = {v: k for k, v in HEADERS.items()}
    for f in files:
        try:
            df = pl.read_excel(f, sheet_name="待复核匹配", infer_schema_length=0)
            df = df.rename({c: inv[c] for c in df.columns if c in inv})
            missing = [HEADERS[c] for c in ("decision", *SIGNED, "signature") if c not in df.columns]
            if missing:
                raise ValueError(f"missing columns {'、'.join(missing)}")
        except Exception as exc:  # any unreadable file: quarantined for the month, never a failed month
            reason = (
                f"退回的复核清单无法读取，已隔离，本文件的判定均未采用：{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                f" / returned review list unreadable, quarantined, none of its decisions applied"
            )
            out.files.append(
                {"file": f.name, "status": "corrupt", "rows": 0, "applied": 0, "refused": 0, "error": reason}
            )
            out.issues.append({"file": f.name, "row": None, "reason_code": "returned_file_corrupt", "reason": reason})
            continue
        df = df.with_row_index("data_row", offset=1).with_columns(pl.col("decision").cast(pl.String).str.strip_chars())
        decided = df.filter(pl.col("decision").is_in(list(_DECISIONS)))
        ok = [sign_row(r) == (r["signature"] or "").strip() for r in decided.iter_rows(named=True)]
        good = decided.filter(pl.Series(ok, dtype=pl.Boolean)) if decided.height else decided
        bad = decided.filter(~pl.Series(ok, dtype=pl.Boolean)) if decided.height else decided
        for r in bad.iter_rows(named=True):
            out.issues.append(
                {
                    "file": f.name,
                    "row": int(r["data_row"]),
                    "reason_code": "review_signature_mismatch",
                    "reason": (
                        "复核判定未采用：记录键、候选人员键、身份证号或校验码与下发时不一致（被修改或非本系统下发）"
                        " / review decision refused: record key, candidate key, masked IDs or signature differ from what was issued"
                    ),
                }
            )
        out.files.append(
            {
                "file": f.name,
                "status": "read",
                "rows": df.height,
                "applied": good.height,
                "refused": bad.height,
                "error": None,
            }
        )
        if good.height:
            frames.append(
                good.select(
                    pl.col("month").cast(pl.String).str.slice(0, 7).str.to_date("%Y-%m", strict=False).alias("month"),
                    pl.col("source").cast(pl.String),
                    pl.col("source_row").cast(pl.Float64).cast(pl.Int32),
                    pl.col("person_token").cast(pl.String).alias("registry_person_key"),
                    pl.col("decision").replace_strict(_DECISIONS, return_dtype=pl.String),
                    pl.col("record_key").cast(pl.String),
                )
            )
    if frames:
        out.decisions = pl.concat(frames).cast(_EMPTY)
    return out


def read_review_decisions(path_or_dir: Path | str) -> pl.DataFrame:
    """The applicable decisions of read_returned_reviews (signed rows only)."""
    return read_returned_reviews(path_or_dir).decisions
