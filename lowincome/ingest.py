"""Read one delivered file, whatever its format and encoding, and standardise it.

Every data row of the file ends up either in the standardised frame or in the
quarantine frame with a reason: rows_read = rows_loaded + rows_quarantined.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lowincome import normalize as nz
from lowincome.schema import REGISTRY, SOURCES, SourceSpec, std_columns

EXTENSIONS = (".csv", ".xlsx", ".parquet")
MANIFEST = "_MANIFEST.json"

QUARANTINE_SCHEMA = {
    "month": pl.Date,
    "source": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int32,
    "reason_code": pl.Utf8,
    "reason": pl.Utf8,
    "raw": pl.Utf8,
}

# ops.load_audit, one row per file and month (sql/schema/00_core.sql).
AUDIT_SCHEMA = {
    "month": pl.Date,
    "source": pl.Utf8,
    "source_file": pl.Utf8,
    "status": pl.Utf8,
    "rows_read": pl.Int32,
    "rows_loaded": pl.Int32,
    "rows_quarantined": pl.Int32,
    "encoding": pl.Utf8,
    "sha256": pl.Utf8,
    "unknown_columns": pl.List(pl.Utf8),
    "error": pl.Utf8,
    "manifest_rows": pl.Int32,
    "manifest_sha256": pl.Utf8,
    "optional_nulled": pl.Utf8,
}


class DeliveryError(Exception):
    """The file cannot be used at all (unreadable, or a required column missing)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class RawTable:
    """The file's data rows as text, before any interpretation."""

    frame: pl.DataFrame  # original headers, every value as delivered (str or native type)
    encoding: str
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # (source_row, raw, reason)

    @property
    def rows_read(self) -> int:
        return self.frame.height + len(self.malformed)


@dataclass
class LoadResult:
    source: str
    month: dt.date
    path: Path | None
    status: str  # loaded / rejected / missing
    data: pl.DataFrame
    quarantine: pl.DataFrame
    audit: dict

    @property
    def rows_read(self) -> int:
        return self.audit["rows_read"]

    def audit_frame(self) -> pl.DataFrame:
        return pl.DataFrame([self.audit], schema=AUDIT_SCHEMA)


# --- finding files -------------------------------------------------------------------


def find_delivery(month_dir: Path, source: str) -> Path | None:
    """The file `<source>.<ext>` in the month's folder (case-insensitive). When
    several exist, prefer the order of EXTENSIONS; a file of another type is
    still returned, so that it is rejected with a reason instead of ignored."""
    if not month_dir.is_dir():
        return None
    candidates = {p.suffix.lower(): p for p in month_dir.iterdir() if p.is_file() and p.stem.lower() == source}
    for ext in EXTENSIONS:
        if ext in candidates:
            return candidates[ext]
    return next(iter(sorted(candidates.values())), None)


def read_manifest(month_dir: Path) -> dict | None:
    path = month_dir / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeliveryError("bad_manifest", f"清单文件 {MANIFEST} 无法解析: {exc}") from exc


def manifest_entry(manifest: dict | None, source: str) -> dict | None:
    """The manifest's entry for `source` (`<source>.<ext>`), whether or not the
    file arrived: a listed file that is missing, or that arrived under another
    extension, then shows up as a manifest mismatch."""
    for name, entry in ((manifest or {}).get("files") or {}).items():
        if Path(name).stem.lower() == source:
            return entry
    return None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- reading raw rows ----------------------------------------------------------------


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a CSV whose encoding nobody told us: UTF-8 (with or without BOM) or
    GB18030/GBK. Strict UTF-8 rarely succeeds on GB text, so try it first."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DeliveryError("unreadable", "无法识别文件编码（不是 UTF-8 或 GB18030）")
    return str(best), best.encoding


def read_csv_rows(path: Path) -> RawTable:
    text, encoding = decode_bytes(path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DeliveryError("unreadable", "文件为空，没有表头") from None
    except csv.Error as exc:
        raise DeliveryError("unreadable", f"无法解析表头: {exc}") from exc
    width = len(header)
    good: list[list[str]] = []
    malformed: list[tuple[int, str, str]] = []
    source_row = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            source_row += 1
            malformed.append((source_row, "", f"CSV 解析错误: {exc}"))
            continue
        if not row or all(not v.strip() for v in row):
            continue  # a blank line is not a data row
        source_row += 1
        if len(row) != width:
            malformed.append((source_row, json.dumps(row, ensure_ascii=False), f"字段数 {len(row)}，表头为 {width} 列"))
            row = None
        good.append(row)  # keep positions; malformed rows are None
    rows = [r for r in good if r is not None]
    positions = [i + 1 for i, r in enumerate(good) if r is not None]
    names = _dedupe_headers(header)
    frame = pl.DataFrame(
        {name: [r[j] for r in rows] for j, name in enumerate(names)},
        schema={name: pl.Utf8 for name in names},
    ).with_columns(pl.Series("__source_row", positions, dtype=pl.Int32))
    return RawTable(frame, encoding, malformed)


def read_xlsx_rows(path: Path) -> RawTable:
    import fastexcel

    try:
        sheet = fastexcel.read_excel(str(path)).load_sheet(0, dtypes="string")
        frame = sheet.to_polars()
    except Exception as exc:  # fastexcel raises its own error types
        raise DeliveryError("unreadable", f"无法读取 Excel 文件: {exc}") from exc
    frame = frame.rename(dict(zip(frame.columns, _dedupe_headers(frame.columns))))
    # Excel rows that are entirely empty are not data rows.
    non_empty = pl.any_horizontal(pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "") for c in frame.columns)
    frame = frame.filter(non_empty) if frame.width else frame
    frame = frame.with_row_index("__source_row", offset=1).with_columns(pl.col("__source_row").cast(pl.Int32))
    return RawTable(frame.select([*frame.columns[1:], "__source_row"]), "xlsx")


def read_parquet_rows(path: Path) -> RawTable:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise DeliveryError("unreadable", f"无法读取 Parquet 文件: {exc}") from exc
    frame = frame.with_row_index("__source_row", offset=1).with_columns(pl.col("__source_row").cast(pl.Int32))
    return RawTable(frame.select([*frame.columns[1:], "__source_row"]), "parquet")


READERS = {".csv": read_csv_rows, ".xlsx": read_xlsx_rows, ".parquet": read_parquet_rows}


def read_raw(path: Path) -> RawTable:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DeliveryError("unreadable", f"不支持的文件类型: {path.suffix}")
    return reader(path)


def _dedupe_headers(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        h = h or "__blank"
        if h in seen:
            seen[h] += 1
            h = f"{h}__dup{seen[h]}"
        else:
            seen[h] = 0
        out.append(h)
    return out


def _clean_header(h: str) -> str:
    return unicodedata.normalize("NFKC", h).replace("\ufeff", "").strip()


# --- header mapping ------------------------------------------------------------------


def map_headers(spec: SourceSpec, headers: list[str]) -> tuple[dict[str, str], list[str]]:
    """Delivered header -> canonical, and the unknown headers (kept out of the model)."""
    lookup = {k.lower(): v for k, v in spec.header_map.items()}
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    for h in headers:
        if h == "__source_row":
            continue
        canonical = lookup.get(_clean_header(h).lower())
        if canonical is None or canonical in mapping.values():
            unknown.append(h)
        else:
            mapping[h] = canonical
    missing = [c for c in spec.columns if c.required_column and c.canonical not in mapping.values()]
    if missing:
        names = "、".join(f"{c.chinese}({c.canonical})" for c in missing)
        raise DeliveryError("missing_required_column", f"缺少必需列: {names}")
    return mapping, unknown


# --- standardising -------------------------------------------------------------------


def standardise(
    source: str, raw: RawTable, month: dt.date, source_file: str
) -> tuple[pl.DataFrame, pl.DataFrame, dict, list[str]]:
    """Raw rows -> (std rows, quarantined rows, nulled optional values per column, unknown columns)."""
    spec = SOURCES[source]
    mapping, unknown = map_headers(spec, raw.frame.columns)
    frame = raw.frame.rename(mapping)
    out: dict[str, pl.Series] = {}
    problems: list[tuple[str, str, pl.Series]] = []  # (reason_code, reason, bool mask)
    nulled: dict[str, int] = {}

    for col in spec.columns:
        if col.canonical not in frame.columns:
            values = pl.Series(col.canonical, [None] * frame.height, dtype=pl.Utf8)
        else:
            values = frame[col.canonical]
        parsed, bad = _parse_column(col.kind, values)
        if bad is None:
            bad = pl.Series([False] * frame.height, dtype=pl.Boolean)
        blank = values.is_null() if values.dtype != pl.Utf8 else (values.is_null() | (values.str.strip_chars() == ""))
        if col.required_value:
            problems.append((f"missing_{col.canonical}", f"必填字段为空: {col.chinese}", blank))
            problems.append((f"invalid_{col.canonical}", f"必填字段无法解析: {col.chinese}", bad & ~blank))
        else:
            count = int((bad & ~blank).sum())
            if count:
                nulled[col.canonical] = count
        out.update({k: v for k, v in parsed.items()})

    std = pl.DataFrame(out) if out else pl.DataFrame()
    std = std.with_columns(
        pl.lit(month).alias("month"),
        pl.lit(source).alias("source"),
        pl.lit(source_file).alias("source_file"),
        raw.frame["__source_row"].alias("source_row"),
    )
    if source == REGISTRY:
        std = std.with_columns(
            pl.coalesce(pl.col("id_number"), pl.col("household_id") + pl.lit("|") + pl.col("name")).alias("person_key")
        )

    # First failing reason per row wins; every row is either loaded or quarantined.
    masks = pl.DataFrame({f"p{i}": mask.fill_null(False) for i, (_, _, mask) in enumerate(problems)})
    reasons = masks.select(
        pl.coalesce([pl.when(pl.col(f"p{i}")).then(pl.lit(code)) for i, (code, _, _) in enumerate(problems)]
                    + [pl.lit(None, pl.Utf8)]).alias("reason_code"),
        pl.coalesce([pl.when(pl.col(f"p{i}")).then(pl.lit(text)) for i, (_, text, _) in enumerate(problems)]
                    + [pl.lit(None, pl.Utf8)]).alias("reason"),
    ) if problems else pl.DataFrame({"reason_code": [None] * frame.height, "reason": [None] * frame.height},
                                    schema={"reason_code": pl.Utf8, "reason": pl.Utf8})
    bad_rows = reasons["reason_code"].is_not_null()

    std_ok = _cast_to_table(std.filter(~bad_rows), std_columns(source))
    rejected = raw.frame.filter(bad_rows)  # JSON of the delivered row only where it is kept in quarantine
    quarantine = quarantine_frame(month, source, source_file, rejected["__source_row"],
                                  reasons["reason_code"].filter(bad_rows), reasons["reason"].filter(bad_rows),
                                  _rows_as_json(rejected.drop("__source_row")))
    return std_ok, quarantine, nulled, unknown


def quarantine_frame(month: dt.date, source: str, source_file: str | None, rows, codes, reasons, raw) -> pl.DataFrame:
    """ops.quarantine rows; codes / reasons may be one value for every row."""
    n = len(rows)
    return pl.DataFrame(
        {"month": [month] * n, "source": source, "source_file": source_file, "source_row": rows,
         "reason_code": codes, "reason": reasons, "raw": raw},
        schema=QUARANTINE_SCHEMA,
    )


def _parse_column(kind: str, values: pl.Series) -> tuple[dict[str, pl.Series], pl.Series | None]:
    """Return the std columns for one delivered column, and a mask of
    non-blank values that could not be parsed (None when nothing can fail)."""
    name = values.name
    if kind == "id_number":
        df = nz.normalize_id_numbers(values)
        return {c: df[c] for c in df.columns}, None
    if kind == "name":
        df = nz.normalize_names(values)
        return {c: df[c] for c in df.columns}, df["name"].is_null()
    if kind == "region":
        df = nz.split_region_codes(values)
        bad = df["county_code"].is_null()
        if name == "region_code":
            return {c: df[c] for c in ("region_code", "county_code", "township_code", "village_code")}, bad
        return {name: df["region_code"], "county_code": df["county_code"]}, bad
    if kind == "date":
        parsed = nz.parse_dates(values).alias(name)
        return {name: parsed}, parsed.is_null()
    if kind == "money":
        parsed = nz.parse_money(values).alias(name)
        return {name: parsed}, parsed.is_null()
    if kind == "integer":
        parsed = nz.parse_integer(values).alias(name)
        return {name: parsed}, parsed.is_null()
    if kind == "sex":
        parsed = nz.normalize_sex(values).alias(name)
        return {name: parsed}, parsed.is_null()
    if kind == "category":
        return {name: nz.normalize_category(values).alias(name)}, None
    if kind == "disability_grade":
        parsed = nz.normalize_disability_grade(values).alias(name)
        return {name: parsed}, parsed.is_null()
    if kind == "yes_no":
        parsed = nz.normalize_yes_no(values).alias(name)
        return {name: parsed}, parsed.is_null()
    if kind == "icd10":
        return {name: nz.normalize_icd10(values).alias(name)}, None
    return {name: nz.normalize_text(values).alias(name)}, None


POLARS_TYPES = {"VARCHAR": pl.Utf8, "DATE": pl.Date, "DOUBLE": pl.Float64, "INTEGER": pl.Int32, "BOOLEAN": pl.Boolean}


def _cast_to_table(df: pl.DataFrame, typed: list[tuple[str, str]]) -> pl.DataFrame:
    return df.select(
        [
            (pl.col(n) if n in df.columns else pl.lit(None)).cast(POLARS_TYPES[t]).alias(n)
            for n, t in typed
        ]
    )


def _rows_as_json(frame: pl.DataFrame) -> pl.Series:
    if frame.width == 0:
        return pl.Series("raw", ["{}"] * frame.height, dtype=pl.Utf8)
    as_text = frame.select(pl.all().cast(pl.Utf8))
    return pl.Series(
        "raw",
        [json.dumps(r, ensure_ascii=False) for r in as_text.iter_rows(named=True)],
        dtype=pl.Utf8,
    )


# --- the whole file ------------------------------------------------------------------


def _audit(month, source, path, status, rows_read, rows_loaded, rows_quarantined, encoding=None, sha=None,
           unknown=(), error=None, entry=None, nulled=None) -> dict:
    return {
        "month": month,
        "source": source,
        "source_file": path.name if path else None,
        "status": status,
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_quarantined": rows_quarantined,
        "encoding": encoding,
        "sha256": sha,
        "unknown_columns": list(unknown),
        "error": error,
        "manifest_rows": (entry or {}).get("rows"),
        "manifest_sha256": (entry or {}).get("sha256"),
        "optional_nulled": json.dumps(nulled or {}, ensure_ascii=False, sort_keys=True),
    }


def empty_std(source: str) -> pl.DataFrame:
    return pl.DataFrame(schema={n: POLARS_TYPES[t] for n, t in std_columns(source)})


def load_delivery(path: Path | None, source: str, month: dt.date, entry: dict | None = None) -> LoadResult:
    """Read, map, standardise and account for one delivered file.

    A missing file or a file that cannot be used gives status missing / rejected,
    never an exception: the other sources of the month still run.
    """
    empty_q = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    if path is None:
        audit = _audit(month, source, None, "missing", 0, 0, 0, error="本月未收到该文件", entry=entry)
        return LoadResult(source, month, None, "missing", empty_std(source), empty_q, audit)

    sha = file_sha256(path)
    try:
        raw = read_raw(path)
    except DeliveryError as exc:
        audit = _audit(month, source, path, "rejected", 0, 0, 0, sha=sha, error=f"{exc.code}: {exc}", entry=entry)
        return LoadResult(source, month, path, "rejected", empty_std(source), empty_q, audit)

    malformed = quarantine_frame(month, source, path.name, [m[0] for m in raw.malformed], "malformed_line",
                                 [m[2] for m in raw.malformed], [m[1] for m in raw.malformed])
    try:
        std, quarantine, nulled, unknown = standardise(source, raw, month, path.name)
    except DeliveryError as exc:
        # The whole file is rejected: every row is quarantined with the file's reason.
        rejected = quarantine_frame(month, source, path.name, raw.frame["__source_row"], "file_rejected", str(exc),
                                    _rows_as_json(raw.frame.drop("__source_row")))
        quarantine = pl.concat([malformed, rejected]).sort("source_row")
        audit = _audit(month, source, path, "rejected", raw.rows_read, 0, quarantine.height, raw.encoding, sha,
                       error=f"{exc.code}: {exc}", entry=entry)
        return LoadResult(source, month, path, "rejected", empty_std(source), quarantine, audit)

    quarantine = pl.concat([malformed, quarantine]).sort("source_row")
    audit = _audit(month, source, path, "loaded", raw.rows_read, std.height, quarantine.height, raw.encoding, sha,
                   unknown=unknown, entry=entry, nulled=nulled)
    return LoadResult(source, month, path, "loaded", std, quarantine, audit)
