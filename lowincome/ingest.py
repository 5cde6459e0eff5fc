"""Read one delivered file, whatever its format and encoding, and standardise it.

Every data row of the file ends up either in the standardised frame or in the
quarantine frame with a reason: rows_read = rows_loaded + rows_quarantined.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import os
import re
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from lowincome import normalize as nz
from lowincome.schema import ALL_SOURCES, REGISTRY, SOURCES, SourceSpec, polars_schema

EXTENSIONS = (".csv", ".xlsx", ".parquet")
MANIFEST = "_MANIFEST.json"

# ops.quarantine and ops.load_audit (one row per file and month): dtypes from sql/schema/00_core.sql.
QUARANTINE_SCHEMA = polars_schema("ops.quarantine")
AUDIT_SCHEMA = polars_schema("ops.load_audit")


class DeliveryError(Exception):
    """The file cannot be used at all (unreadable, or a required column missing)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class RawTable:
    """The file's data rows as text, before any interpretation."""

    frame: pl.DataFrame  # headers as delivered (a repeated one suffixed __dupN), values as delivered
    encoding: str
    malformed: list[tuple[int, str, str, str]] = field(default_factory=list)  # (source_row, raw, reason, code)
    header: list[str] = field(default_factory=list)  # the header row exactly as delivered
    warnings: list[str] = field(default_factory=list)  # ops.load_audit.warnings codes
    # (source_row, reason_code, reason) of rows whose delivered values cannot be trusted (xlsx)
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)

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
    # Wall time of reading the file and of standardising it (not in the audit:
    # a rerun must write the same ops.load_audit rows).
    seconds_read: float = 0.0
    seconds_standardise: float = 0.0

    @property
    def rows_read(self) -> int:
        return self.audit["rows_read"]

    def audit_frame(self) -> pl.DataFrame:
        return pl.DataFrame([self.audit], schema=AUDIT_SCHEMA)


# --- finding files -------------------------------------------------------------------


def find_deliveries(month_dir: Path, source: str) -> list[Path]:
    """Every file `<source>.<ext>` in the month's folder (case-insensitive), in
    the order of EXTENSIONS, then any other extension."""
    if not month_dir.is_dir():
        return []
    found = [p for p in month_dir.iterdir() if p.is_file() and p.stem.lower() == source]
    order = {ext: i for i, ext in enumerate(EXTENSIONS)}
    return sorted(found, key=lambda p: (order.get(p.suffix.lower(), len(order)), p.name))


def find_delivery(month_dir: Path, source: str) -> Path | None:
    """The file `<source>.<ext>` in the month's folder (case-insensitive). When
    several exist, prefer the order of EXTENSIONS (ingestion itself rejects a
    source delivered twice: see `ambiguous_delivery`); a file of another type is
    still returned, so that it is rejected with a reason instead of ignored."""
    found = find_deliveries(month_dir, source)
    return found[0] if found else None


def ambiguous_delivery(paths: list[Path]) -> DeliveryError | None:
    """Two files for one source (e.g. registry.csv and registry.xlsx): none is
    picked silently; the source is rejected."""
    if len(paths) < 2:
        return None
    names = "、".join(p.name for p in paths)
    return DeliveryError(
        "ambiguous_files",
        f"同一来源收到多个文件（{names}），无法确定使用哪一个，均不采用 "
        f"(several files for one source: {', '.join(p.name for p in paths)}; none is used)",
    )


_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def _manifest_problems(manifest) -> list[str]:
    if not isinstance(manifest, dict):
        return ["顶层不是 JSON 对象 (top level is not an object)"]
    files = manifest.get("files")
    if not isinstance(files, dict):
        return ["files 不是 {文件名: {rows, sha256}} 对象 (files is not an object of file entries)"]
    problems = []
    for name, entry in files.items():
        if not isinstance(entry, dict):
            problems.append(f"{name}: 条目不是对象 (entry is not an object)")
            continue
        rows, sha = entry.get("rows"), entry.get("sha256")
        if rows is None and sha is None:
            problems.append(f"{name}: 缺少 rows 与 sha256 (neither rows nor sha256)")
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows < 2**31):
            problems.append(f"{name}: rows={rows!r} 不是非负整数 (rows is not a non-negative integer)")
        if sha is not None and not (isinstance(sha, str) and _SHA256_RE.match(sha)):
            problems.append(f"{name}: sha256={str(sha)[:70]!r} 不是 64 位十六进制 (sha256 is not 64 hex digits)")
    return problems


def read_manifest(month_dir: Path) -> dict | None:
    """The month's `_MANIFEST.json`, checked; None when there is none. A manifest
    that exists but cannot be used (truncated JSON, wrong types) raises
    bad_manifest: it is never taken as absent, since then nothing is checked."""
    path = month_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeliveryError(
            "bad_manifest",
            f"清单文件 {MANIFEST} 无法解析，本月文件均不予采信 "
            f"(malformed manifest, no file of the month is trusted): {exc}",
        ) from exc
    problems = _manifest_problems(manifest)
    if problems:
        raise DeliveryError(
            "bad_manifest",
            f"清单文件 {MANIFEST} 格式错误，本月文件均不予采信 "
            f"(malformed manifest, no file of the month is trusted): " + "; ".join(problems[:5]),
        )
    return manifest


def manifest_entry(manifest: dict | None, source: str) -> dict | None:
    """The manifest's entry for `source` (`<source>.<ext>`), whether or not the
    file arrived: a listed file that is missing, or that arrived under another
    extension, then shows up as a manifest mismatch."""
    for name, entry in ((manifest or {}).get("files") or {}).items():
        if Path(name).stem.lower() == source:
            return entry
    return None


def manifest_unknown_files(manifest: dict | None) -> list[str]:
    """Files the manifest lists that are no source of the contract."""
    return sorted(n for n in ((manifest or {}).get("files") or {}) if Path(n).stem.lower() not in ALL_SOURCES)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- reading raw rows ----------------------------------------------------------------


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a whole small text whose encoding nobody told us: UTF-8 (with or
    without BOM) or GB18030/GBK. Strict UTF-8 rarely succeeds on GB text, so try
    it first. (CSV files go through `to_utf8`, which works line by line.)"""
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


# A line longer than this is quarantined on its own (a runaway field), its raw text shortened.
MAX_LINE_BYTES = 1 << 20
RAW_TEXT_LIMIT = 4000
# How many physical lines a quoted field may span (an embedded line break) before
# an opening quote is taken as unbalanced and its line quarantined alone.
MAX_RECORD_LINES = 50


def _shorten(text: str) -> str:
    if len(text) <= RAW_TEXT_LIMIT:
        return text
    return text[:RAW_TEXT_LIMIT] + f"…[已截断，原行共 {len(text)} 个字符]"


def _line_index(newlines: np.ndarray, pos: int) -> int:
    """0-based physical line holding byte `pos`."""
    return int(np.searchsorted(newlines, pos, side="left"))


def _utf8_bad_lines(data: bytes, newlines: np.ndarray, cap: int) -> list[int] | None:
    """Physical lines that are not valid UTF-8 (in order), or None when more than
    `cap` lines fail (then the file is not UTF-8). Blocks of about 1 MiB (whole
    lines) are checked at once; only a failing block is checked line by line."""
    bad: list[int] = []
    view = memoryview(data)
    size = len(data)
    start = 0
    while start < size:
        end = min(size, start + (1 << 20))
        if end < size:
            k = data.find(b"\n", end)
            end = size if k < 0 else k + 1
        try:
            codecs.utf_8_decode(view[start:end], "strict", True)
        except UnicodeDecodeError:
            for i in range(_line_index(newlines, start), _line_index(newlines, end - 1) + 1):
                line_start = int(newlines[i - 1]) + 1 if i > 0 else 0
                line_end = int(newlines[i]) if i < len(newlines) else size
                try:
                    codecs.utf_8_decode(view[line_start:line_end], "strict", True)
                except UnicodeDecodeError:
                    bad.append(i)
                    if len(bad) > cap:
                        return None
        start = end
    return bad


def to_utf8(data: bytes) -> tuple[bytes, str, dict[int, str]]:
    """The file as UTF-8 bytes, its encoding, and the physical lines that could
    not be decoded ({line index: text shown with replacement characters}); the
    line structure is unchanged (0x0A is never part of a GB18030 character).

    UTF-8 (BOM or not) is used as is, decoded once only to validate it. A file
    whose failing lines are a handful is UTF-8 with a few bad lines (a GBK line
    pasted in, a cut character); otherwise it is GB18030, transcoded once."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").encode("utf-8"), "utf-16", {}
        except UnicodeDecodeError as exc:
            raise DeliveryError("unreadable", f"UTF-16 文件无法解码: {exc}") from exc
    encoding = "utf-8"
    if data.startswith(b"\xef\xbb\xbf"):
        data, encoding = data[3:], "utf-8-sig"
    try:
        codecs.utf_8_decode(data, "strict", True)  # the usual case: valid UTF-8, one pass, nothing kept
        return data, encoding, {}
    except UnicodeDecodeError:
        pass
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    n_lines = len(newlines) + 1
    cap = max(5, n_lines // 1000)
    bad = _utf8_bad_lines(data, newlines, cap)
    if bad:
        # A few undecodable lines in a UTF-8 file, or a GB18030 file with little
        # Chinese? UTF-8 when more non-ASCII lines decode than fail.
        non_ascii = sum(1 for part in data.split(b"\n") if not part.isascii())
        if non_ascii - len(bad) <= len(bad) and encoding != "utf-8-sig":
            bad = None
    if bad is not None:
        shown = {i: _line_bytes(data, newlines, i).decode("gb18030", "replace") for i in bad}
        return data, encoding, shown
    if encoding == "utf-8-sig":
        raise DeliveryError("unreadable", "文件带 UTF-8 BOM，但大量行不是有效的 UTF-8")
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030", {}
    except UnicodeDecodeError:
        pass
    parts = data.split(b"\n")
    out: list[str] = []
    shown = {}
    for i, part in enumerate(parts):
        try:
            out.append(part.decode("gb18030"))
        except UnicodeDecodeError:
            shown[i] = part.decode("gb18030", "replace")
            out.append("")
    if len(shown) > cap:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise DeliveryError("unreadable", "无法识别文件编码（不是 UTF-8 或 GB18030）")
        return str(best).encode("utf-8"), best.encoding, {}
    return "\n".join(out).encode("utf-8"), "gb18030", shown


def _line_bytes(data: bytes, newlines: np.ndarray, i: int) -> bytes:
    start = int(newlines[i - 1]) + 1 if i > 0 else 0
    end = int(newlines[i]) if i < len(newlines) else len(data)
    return data[start:end]


def _text(lines: pl.Series) -> pl.Series:
    return lines.str.strip_suffix("\n").str.strip_suffix("\r")


def _line_text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value[:-1] if value.endswith("\n") else value
    return value[:-1] if value.endswith("\r") else value


def _lines(data: bytes, blank_out: dict[int, str]) -> tuple[pl.Series, bool, bytes, int]:
    """Physical lines of UTF-8 bytes as a String series (a zero-copy split into
    Arrow, one copy into polars), and whether the last line ends with a line
    break. A file without CR keeps each line's trailing LF (cheaper: `_text`
    drops it where a line is used as text); otherwise line breaks are removed.
    Lines in `blank_out` (not decodable) become null. Also the bytes
    (undecodable lines blanked) and the offset of the second line."""
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    terminated = bool(len(data)) and starts[-1] == len(data)
    if terminated:
        starts = starts[:-1]
    offsets = np.append(starts, len(data)).astype(np.int64)
    if blank_out:  # replace undecodable bytes by spaces (same length) so every value is valid UTF-8
        buffer = bytearray(data)
        for i in blank_out:
            buffer[offsets[i] : offsets[i + 1] - (1 if i < len(newlines) else 0)] = b" " * int(
                offsets[i + 1] - offsets[i] - (1 if i < len(newlines) else 0)
            )
        data = bytes(buffer)
    # The bytes are valid UTF-8 (checked or transcoded by to_utf8): no second validation.
    arrow = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))
    lines = pl.Series("line", pl.from_arrow(arrow))
    if b"\r" in data:
        lines = _text(lines)
    if blank_out:
        lines = lines.scatter(list(blank_out), None)
    return lines, terminated, data, int(offsets[1]) if len(offsets) > 1 else len(data)


# One well-formed CSV line (RFC 4180, no line break inside a field): quoted fields
# with doubled quotes, or unquoted fields holding no quote.
_FIELD = r'(?:"(?:[^"]|"")*"|[^,"\r]*)'
_LINE_RE = rf"^{_FIELD}(?:,{_FIELD})*$"
_QUOTED_RE = r'"(?:[^"]|"")*"'
_BLANK_RE = r"^[\s,]*$"


def _split_plain(body: pl.Series, data: bytes, body_start: int, plain: np.ndarray, schema: dict) -> pl.DataFrame:
    """The plain lines (no quote, CR or NUL; right comma count) split into fields.
    polars' reader without quoting gives one row per physical line here; should
    it not, the lines are split in polars instead (same result, slower)."""
    n = len(body)
    if n and plain.mean() > 0.5:
        try:
            rows = pl.read_csv(
                data[body_start:],
                has_header=False,
                quote_char=None,
                schema=schema,
                truncate_ragged_lines=True,
                empty_string_is_null=False,
                raise_if_empty=False,
            )
        except pl.exceptions.PolarsError:
            rows = None
        if rows is not None and rows.height == n:
            return rows.filter(pl.Series(plain))
    width = len(schema)
    return (
        _text(body.filter(pl.Series(plain)))
        .str.split_exact(",", width - 1)
        .struct.rename_fields(list(schema))
        .struct.unnest()
    )


def _parse_line(text: str) -> list[list[str]] | None:
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None


def read_csv_rows(path: Path, trust_last_line: bool = False, data: bytes | None = None) -> RawTable:
    """A delivered CSV, read with polars' native reader and exact accounting.

    Fast path: every physical line is checked vectorised (valid UTF-8, RFC 4180
    shape, field count); the well-formed lines are parsed by polars, all values
    as strings. Slow path, only for the lines that fail: the csv module on that
    line (a quoted field may span a few lines); a line that still does not make
    one record of the header's width is quarantined on its own with its raw
    text, and every later row keeps its position. Blank lines are not data rows.

    A last line without a line break is quarantined (the transfer may have cut
    it: `328.00` would load as `3`) unless `trust_last_line` (the file matches
    its manifest's sha256, so it is complete as sent). `data`: the file's bytes, when the
    caller has read them already."""
    data, encoding, undecodable = to_utf8(path.read_bytes() if data is None else data)
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # classic Mac line breaks
    lines, terminated, data, body_start = _lines(data, undecodable)
    if len(lines) == 0 or (len(lines) == 1 and _line_text(lines[0]) == ""):
        raise DeliveryError("unreadable", "文件为空，没有表头")
    header_text = _line_text(lines[0])
    header_rows = _parse_line(header_text or "")
    if 0 in undecodable or not header_rows or len(header_rows) != 1:
        raise DeliveryError("unreadable", "无法解析表头（第 1 行）")
    header = header_rows[0]
    width = len(header)
    body = lines.slice(1)
    n = len(body)
    del lines

    # Plain lines (no quote, CR or NUL) are well-formed when their comma count is
    # right; only lines with a quote go through the RFC 4180 pattern.
    line = pl.col("line")
    classes = pl.DataFrame({"line": body}).select(
        line.is_null().alias("undecodable"),
        line.str.contains_any(['"', "\r", "\x00"]).fill_null(True).alias("special"),
        (line.str.count_matches(",", literal=True) == width - 1).fill_null(False).alias("count_ok"),
        (line.str.len_bytes() <= MAX_LINE_BYTES).fill_null(False).alias("size_ok"),
        ~line.str.contains(r"[^\s,]").fill_null(True).alias("blank"),
    )
    special = classes["special"].to_numpy()
    plain = ~special & classes["count_ok"].to_numpy() & classes["size_ok"].to_numpy()
    quoted_idx = np.flatnonzero(special & classes["size_ok"].to_numpy())
    quoted = _text(body.gather(quoted_idx))
    quoted_ok = (
        pl.DataFrame({"line": quoted})
        .select(
            line.str.contains(_LINE_RE)
            & ~line.str.contains("\x00", literal=True)
            & (line.str.replace_all(_QUOTED_RE, "").str.count_matches(",", literal=True) == width - 1)
        )
        .to_series()
        .fill_null(False)
        .to_numpy()
    )
    ok_quoted = np.zeros(n, dtype=bool)
    ok_quoted[quoted_idx[quoted_ok]] = True
    ok = plain | ok_quoted
    undecodable_mask = classes["undecodable"].to_numpy()
    blank = classes["blank"].to_numpy() & ~undecodable_mask
    ok &= ~blank
    plain &= ~blank
    ok_quoted &= ~blank
    del classes, quoted
    if not terminated and n and not trust_last_line:
        ok[-1] = False

    # Slow path, in file order: lines neither well-formed nor blank.
    data_row = ok.copy()
    consumed = np.zeros(n, dtype=bool)
    slow_good: list[tuple[int, list[str]]] = []
    malformed: list[tuple[int, str, str, str]] = []  # (line, raw, reason, code)
    for i in np.flatnonzero(~ok & ~blank).tolist():
        if consumed[i]:
            continue
        physical = i + 2  # 1-based line number in the file, header = line 1
        if undecodable_mask[i]:
            data_row[i] = True
            malformed.append(
                (
                    i,
                    _shorten(undecodable[i + 1]),
                    f"第 {physical} 行不是有效的 {encoding} 编码，无法解码",
                    "bad_encoding",
                )
            )
            continue
        text = _line_text(body[i])
        data_row[i] = True
        if i == n - 1 and not terminated and not trust_last_line:
            malformed.append(
                (i, _shorten(text), f"第 {physical} 行（末行）没有换行符，文件可能在传输中被截断", "truncated_line")
            )
            continue
        if "\x00" in text:
            malformed.append((i, _shorten(text.replace("\x00", "\\0")), f"第 {physical} 行含空字符(NUL)", "nul_byte"))
            continue
        if len(text.encode("utf-8")) > MAX_LINE_BYTES:
            malformed.append(
                (
                    i,
                    _shorten(text),
                    f"第 {physical} 行过长（{len(text)} 个字符，超过 {MAX_LINE_BYTES} 字节上限）",
                    "oversized_line",
                )
            )
            continue
        rows = _parse_line(text)
        if text.count('"') % 2:
            # An opening quote: a field with a line break inside, or an unbalanced quote.
            merged, last = text, i
            while last + 1 < n and last - i < MAX_RECORD_LINES and merged.count('"') % 2:
                last += 1
                nxt = _line_text(body[last])
                if nxt is None or (last == n - 1 and not terminated and not trust_last_line):
                    break
                merged += "\n" + nxt
            rows = _parse_line(merged) if merged.count('"') % 2 == 0 else None
            if rows and len(rows) == 1 and len(rows[0]) == width:
                consumed[i + 1 : last + 1] = True
                data_row[i + 1 : last + 1] = False
                slow_good.append((i, rows[0]))
            else:
                malformed.append((i, _shorten(text), f"第 {physical} 行引号不成对，无法解析", "malformed_line"))
            continue
        if rows is not None and len(rows) == 1 and len(rows[0]) == width:
            slow_good.append((i, rows[0]))
        elif rows is not None and all(not v.strip() for r in rows for v in r):
            data_row[i] = False  # e.g. "","" : a blank line
        else:
            count = len(rows[0]) if rows and len(rows) == 1 else None
            reason = (
                f"第 {physical} 行字段数 {count}，表头为 {width} 列"
                if count is not None
                else f"第 {physical} 行无法按 CSV 解析"
            )
            malformed.append((i, _shorten(text), reason, "malformed_line"))

    # Fast path: plain lines split on commas (exactly CSV for a line without
    # quotes), lines with quotes parsed by polars' CSV reader; all values strings.
    ok &= ~consumed
    plain &= ok
    ok_quoted &= ok
    names = list(header)
    schema = {f"c{j}": pl.String for j in range(width)}
    plain_idx = np.flatnonzero(plain)
    parts = [
        _split_plain(body, data, body_start, plain, schema).with_columns(pl.Series("__line", plain_idx, dtype=pl.Int64))
    ]
    del data
    quoted_idx = np.flatnonzero(ok_quoted)
    if len(quoted_idx):
        text = _text(body.gather(quoted_idx)).str.join("\n").cast(pl.Binary).item()
        quoted_rows = pl.read_csv(
            text, has_header=False, schema=schema, quote_char='"', empty_string_is_null=False, raise_if_empty=False
        )
        if quoted_rows.height != len(quoted_idx):  # cannot happen for lines that passed the check
            raise DeliveryError("unreadable", f"CSV 解析行数不符（{quoted_rows.height} / {len(quoted_idx)}）")
        parts.append(quoted_rows.with_columns(pl.Series("__line", quoted_idx, dtype=pl.Int64)))
    del body
    if slow_good:
        parts.append(
            pl.DataFrame([r for _, r in slow_good], schema=schema, orient="row").with_columns(
                pl.Series("__line", [i for i, _ in slow_good], dtype=pl.Int64)
            )
        )
    # each part is in file order: merged, not sorted again (3.4M rows of 15 strings)
    fast = functools.reduce(lambda a, b: a.merge_sorted(b, key="__line"), parts)
    # A quoted-empty line ("","") parses to nothing: not a data row either.
    empty = (
        fast.select(
            ~pl.lit(pl.Series(plain)).gather(pl.col("__line"))
            & pl.all_horizontal(pl.col(f"c{j}").str.strip_chars() == "" for j in range(width))
        ).to_series()
        if len(parts) > 1
        else pl.Series([False] * fast.height, dtype=pl.Boolean)
    )
    if empty.any():
        data_row[fast["__line"].filter(empty).to_numpy()] = False
        fast = fast.filter(~empty)
    source_row = np.cumsum(data_row, dtype=np.int64)
    fast = fast.with_columns(pl.Series("__source_row", source_row[fast["__line"].to_numpy()], dtype=pl.Int32)).drop(
        "__line"
    )
    frame = fast.rename(dict(zip(schema, _dedupe_headers(names))))
    return RawTable(
        frame, encoding, [(int(source_row[i]), raw, reason, code) for i, raw, reason, code in malformed], header=names
    )


def _xlsx_sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name -> path of its XML part inside the xlsx (zip)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        workbook = z.read("xl/workbook.xml").decode("utf-8")
        rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    targets = {}
    for rel in re.finditer(r"<Relationship\b[^>]*>", rels):
        rid = re.search(r'\bId="([^"]+)"', rel.group(0))
        target = re.search(r'\bTarget="([^"]+)"', rel.group(0))
        if rid and target:
            t = target.group(1)
            targets[rid.group(1)] = t.lstrip("/") if t.startswith("/") else "xl/" + t
    parts = {}
    for sheet in re.finditer(r"<(?:\w+:)?sheet\b[^>]*>", workbook):
        name = re.search(r'\bname="([^"]*)"', sheet.group(0))
        rid = re.search(r'\b(?:\w+:)?id="([^"]+)"', sheet.group(0))
        if name and rid and rid.group(1) in targets:
            parts[_xml_unescape(name.group(1))] = targets[rid.group(1)]
    return parts


def _xml_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


_FORMULA_NO_VALUE = re.compile(
    rb'<c r="([A-Z]+)(\d+)"[^>]*?(?<!/)>\s*<f\b[^>]*?(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>'
)


def _xlsx_sheet_faults(path: Path, part: str | None) -> tuple[int, list[tuple[int, int]], int | None, int | None]:
    """From the sheet's XML: merged ranges, formula cells without a cached value
    as (excel row, 0-based column), and the first row / column holding a cell."""
    import zipfile

    if part is None:
        return 0, [], None, None
    try:
        with zipfile.ZipFile(path) as z:
            xml = z.read(part)
    except (KeyError, zipfile.BadZipFile):
        return 0, [], None, None
    merged = xml.count(b"<mergeCell ")
    formulas = []
    if b"<f" in xml:
        formulas = [(int(m.group(2)), _col_index(m.group(1).decode())) for m in _FORMULA_NO_VALUE.finditer(xml)]
    first = re.search(rb'<c r="([A-Z]+)(\d+)"', xml)
    first_row = int(first.group(2)) if first else None
    first_col = _col_index(first.group(1).decode()) if first else None
    del xml
    return merged, formulas, first_row, first_col


def _header_score(spec: SourceSpec | None, headers: list) -> int:
    """How many of the source's columns a header row names (required ones first)."""
    if spec is None:
        return 0
    lookup = {k.lower(): v for k, v in spec.header_map.items()}
    found = {lookup.get(_clean_header(str(h)).lower()) for h in headers if h is not None}
    required = {c.canonical for c in spec.columns if c.required_column}
    return 1000 * len(required & found) + len(found - {None})


def read_xlsx_rows(path: Path, source: str | None = None) -> RawTable:
    """The data sheet(s) of an xlsx, every value as text. The data sheet is
    found by its headers (a notes sheet first is skipped); several sheets with
    the source's headers are all loaded in order and reported. IDs stored as
    numbers (not text) with more than 15 digits are Excel-mangled whatever their
    digits say; formula cells without a cached value put their row in quarantine;
    merged cells are counted."""
    import fastexcel

    spec = SOURCES.get(source) if source else None
    try:
        reader = fastexcel.read_excel(str(path))
        names = reader.sheet_names
        # Each sheet parsed once, every cell as text; its first row is the header.
        sheets = [reader.load_sheet(i, header_row=None, dtypes="string").to_polars() for i in range(len(names))]
        headers = [list(sheet.row(0)) if sheet.height else [] for sheet in sheets]
    except Exception as exc:  # fastexcel raises its own error types
        raise DeliveryError("unreadable", f"无法读取 Excel 文件: {exc}") from exc
    warnings: list[str] = []
    scores = [_header_score(spec, h) for h in headers]
    required = 1000 * sum(1 for c in spec.columns if c.required_column) if spec else 0
    chosen = [i for i, sc in enumerate(scores) if spec and sc >= required and sc > 0]
    if not chosen:
        best = max(range(len(names)), key=lambda i: (scores[i], -i)) if names else 0
        chosen = [best]
    skipped = [names[i] for i in range(len(names)) if i not in chosen and headers[i]]
    if skipped:
        warnings.append("sheets_skipped:" + ",".join(skipped))
    if len(chosen) > 1:
        warnings.append("multiple_data_sheets:" + ",".join(names[i] for i in chosen))
    try:
        parts = _xlsx_sheet_parts(path)
    except Exception:  # not a standard package: no XML checks, fastexcel still read it
        parts = {}

    frames, bad_rows = [], []
    offset = 0
    merged_total = 0
    formula_total = 0
    numeric_ids = 0
    header_out: list[str] = []
    for i in chosen:
        header = [str(h) if h is not None else "" for h in headers[i]]
        columns = _dedupe_headers(header)
        frame = sheets[i].slice(1).rename(dict(zip(sheets[i].columns, columns)))
        sheets[i] = None
        header_out = header_out or header
        # IDs stored as numbers: the cell type, not the digits, tells.
        lookup = {k.lower(): v for k, v in spec.header_map.items()} if spec else {}
        id_cols = [
            c
            for c in columns
            if spec
            and lookup.get(_clean_header(c).lower())
            in {col.canonical for col in spec.columns if col.kind == "id_number"}
        ]
        if id_cols and frame.height:
            positions = [columns.index(c) for c in id_cols]
            try:
                typed = (
                    reader.load_sheet(
                        i, header_row=None, use_columns=positions, dtypes=dict.fromkeys(positions, "boolean")
                    )
                    .to_polars()
                    .slice(1)
                )
            except Exception as exc:
                raise DeliveryError(
                    "unreadable", f"无法读取 Excel 工作表 {names[i]} 的身份证号单元格类型: {exc}"
                ) from exc
            for c, typed_col in zip(id_cols, typed.columns):
                numeric = typed[typed_col].is_not_null() & (frame[c].str.strip_chars().str.len_chars() > 15).fill_null(
                    False
                )
                count = int(numeric.sum())
                if count:
                    numeric_ids += count
                    as_float = frame[c].cast(pl.Float64, strict=False)
                    shown = as_float.map_elements(lambda v: f"{v:.15E}", return_dtype=pl.Utf8)
                    frame = frame.with_columns(pl.when(numeric).then(shown).otherwise(pl.col(c)).alias(c))
        merged, formulas, first_row, first_col = _xlsx_sheet_faults(path, parts.get(names[i]))
        merged_total += merged
        frame = frame.with_row_index("__pos")
        mapped = {j for j, c in enumerate(columns) if not spec or lookup.get(_clean_header(c).lower())}
        formula_rows = {}
        for excel_row, col in formulas:
            if first_row is None or excel_row <= first_row:
                continue
            j = col - (first_col or 0)
            if j in mapped:
                formula_rows.setdefault(excel_row - first_row - 1, []).append(columns[j])
            formula_total += 1
        non_empty = (
            pl.any_horizontal(pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "") for c in columns)
            if columns
            else pl.lit(False)
        )
        frame = frame.filter(non_empty | pl.col("__pos").is_in(list(formula_rows))) if columns else frame.head(0)
        frame = frame.with_columns((pl.int_range(pl.len(), dtype=pl.Int32) + offset + 1).alias("__source_row"))
        for pos, row in zip(frame["__pos"].to_list(), frame["__source_row"].to_list()):
            if pos in formula_rows:
                cols = "、".join(formula_rows[pos])
                bad_rows.append(
                    (
                        row,
                        "formula_without_value",
                        f"工作表 {names[i]} 第 {pos + (first_row or 1) + 1} 行 {cols} 为公式但无计算结果 "
                        f"(formula without a cached value)",
                    )
                )
        offset += frame.height
        frames.append(frame.drop("__pos"))
    if numeric_ids:
        warnings.append(f"ids_stored_as_numbers:{numeric_ids}")
    if merged_total:
        warnings.append(f"merged_cells:{merged_total}")
    if formula_total:
        warnings.append(f"formulas_without_values:{formula_total}")
    frame = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    frame = frame.rename(dict(zip(frame.columns, _dedupe_headers(frame.columns))))
    return RawTable(
        frame.select([*[c for c in frame.columns if c != "__source_row"], "__source_row"]),
        "xlsx",
        header=header_out,
        warnings=warnings,
        bad_rows=bad_rows,
    )


def read_parquet_rows(path: Path) -> RawTable:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise DeliveryError("unreadable", f"无法读取 Parquet 文件: {exc}") from exc
    frame = frame.with_row_index("__source_row", offset=1).with_columns(pl.col("__source_row").cast(pl.Int32))
    return RawTable(frame.select([*frame.columns[1:], "__source_row"]), "parquet")


def read_raw(
    path: Path, source: str | None = None, trust_last_line: bool = False, data: bytes | None = None
) -> RawTable:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv_rows(path, trust_last_line, data)
    if suffix == ".xlsx":
        return read_xlsx_rows(path, source)
    if suffix == ".parquet":
        return read_parquet_rows(path)
    raise DeliveryError("unreadable", f"不支持的文件类型: {path.suffix}")


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


def _original_headers(raw: RawTable) -> dict[str, str]:
    """Frame column (a repeated header suffixed __dupN) -> the header as delivered."""
    cols = [c for c in raw.frame.columns if c != "__source_row"]
    if len(raw.header) == len(cols):
        return dict(zip(cols, raw.header))
    return {c: c for c in cols}


def _resolve_duplicate_columns(spec: SourceSpec, raw: RawTable) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Columns delivered twice (the same header, or 姓名 beside name) are never
    renamed silently: identical copies load once with a warning; copies that
    differ reject the file. Rows the reader flagged (xlsx formulas without a
    value) are taken out here. Returns (frame, those rows as quarantine, warnings)."""
    frame = raw.frame
    warnings = list(raw.warnings)
    originals = _original_headers(raw)
    lookup = {k.lower(): v for k, v in spec.header_map.items()}
    groups: dict[str, list[str]] = {}
    for col in originals:
        canonical = lookup.get(_clean_header(originals[col]).lower())
        groups.setdefault(canonical or "?" + _clean_header(originals[col]), []).append(col)
    drop = []
    for key, members in groups.items():
        if len(members) < 2:
            continue
        shown = "、".join(originals[m] for m in members)
        if not key.startswith("?"):
            text = frame.select(pl.col(m).cast(pl.Utf8).str.strip_chars().fill_null("").alias(m) for m in members)
            same = (
                text.select(pl.all_horizontal(pl.col(m) == pl.col(members[0]) for m in members[1:])).to_series().all()
            )
            if not same:
                raise DeliveryError(
                    "duplicate_column",
                    f"同一字段有多列且内容不同: {shown}，无法确定使用哪一列 "
                    f"(one field delivered in several columns with different values)",
                )
            drop += members[1:]
        warnings.append("duplicate_column:" + ",".join(originals[m] for m in members))
    if drop:
        frame = frame.drop(drop)
    dropped = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    if raw.bad_rows:
        rows = pl.DataFrame(
            {
                "__source_row": [r for r, _, _ in raw.bad_rows],
                "code": [c for _, c, _ in raw.bad_rows],
                "reason": [t for _, _, t in raw.bad_rows],
            },
            schema={"__source_row": pl.Int32, "code": pl.Utf8, "reason": pl.Utf8},
        )
        flagged = frame.join(rows, on="__source_row", how="inner", maintain_order="left")
        dropped = quarantine_frame(
            None,
            "",
            None,
            flagged["__source_row"],
            flagged["code"],
            flagged["reason"],
            _rows_as_json(flagged.drop("__source_row", "code", "reason")),
        )
        frame = frame.join(rows.select("__source_row"), on="__source_row", how="anti", maintain_order="left")
    return frame, dropped, warnings


def standardise(
    source: str, raw: RawTable, month: dt.date, source_file: str
) -> tuple[pl.DataFrame, pl.DataFrame, dict, list[str]]:
    """Raw rows -> (std rows, quarantined rows, nulled optional values per column, unknown columns).
    Warnings found on the way are added to raw.warnings."""
    spec = SOURCES[source]
    frame, dropped_rows, warnings = _resolve_duplicate_columns(spec, raw)
    mapping, unknown = map_headers(spec, frame.columns)
    originals = _original_headers(raw)
    unknown = [originals.get(u, u) for u in unknown]
    raw_frame = frame
    frame = frame.rename(mapping)
    out: dict[str, pl.Series] = {}
    problems: list[tuple[str, str, pl.Series]] = []  # (reason_code, reason, bool mask)
    text_columns = [c for c in raw_frame.columns if c != "__source_row" and raw_frame[c].dtype == pl.Utf8]
    if text_columns:  # a NUL byte in any delivered value (xlsx / parquet; a CSV line with one is already out)
        problems.append(
            (
                "nul_byte",
                "字段含空字符(NUL) (NUL byte in a value)",
                raw_frame.select(
                    pl.any_horizontal(
                        pl.col(c).str.contains("\x00", literal=True).fill_null(False) for c in text_columns
                    )
                ).to_series(),
            )
        )
    nulled: dict[str, int] = {}

    def values_of(col) -> pl.Series:
        if col.canonical not in frame.columns:
            return pl.Series(col.canonical, [None] * frame.height, dtype=pl.Utf8)
        return frame[col.canonical]

    # Columns are independent and polars releases the GIL: parse them on all cores.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda col: _parse_column(col.kind, values_of(col)), spec.columns))
    for col, (parsed, bad) in zip(spec.columns, results):
        values = values_of(col)
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
        out.update(dict(parsed.items()))

    std = pl.DataFrame(out) if out else pl.DataFrame()
    std = std.with_columns(
        pl.lit(month).alias("month"),
        pl.lit(source).alias("source"),
        pl.lit(source_file).alias("source_file"),
        frame["__source_row"].alias("source_row"),
    )
    if source == REGISTRY:
        std = std.with_columns(
            pl.coalesce(pl.col("id_number"), pl.col("household_id") + pl.lit("|") + pl.col("name")).alias("person_key")
        )

    # First failing reason per row wins; every row is either loaded or quarantined.
    masks = pl.DataFrame({f"p{i}": mask.fill_null(False) for i, (_, _, mask) in enumerate(problems)})
    reasons = (
        masks.select(
            pl.coalesce(
                [pl.when(pl.col(f"p{i}")).then(pl.lit(code)) for i, (code, _, _) in enumerate(problems)]
                + [pl.lit(None, pl.Utf8)]
            ).alias("reason_code"),
            pl.coalesce(
                [pl.when(pl.col(f"p{i}")).then(pl.lit(text)) for i, (_, text, _) in enumerate(problems)]
                + [pl.lit(None, pl.Utf8)]
            ).alias("reason"),
        )
        if problems
        else pl.DataFrame(
            {"reason_code": [None] * frame.height, "reason": [None] * frame.height},
            schema={"reason_code": pl.Utf8, "reason": pl.Utf8},
        )
    )
    bad_rows = reasons["reason_code"].is_not_null()

    std_ok = _cast_to_table(std.filter(~bad_rows), polars_schema(f"std.{source}"))
    rejected = raw_frame.filter(bad_rows)  # JSON of the delivered row only where it is kept in quarantine
    quarantine = quarantine_frame(
        month,
        source,
        source_file,
        rejected["__source_row"],
        reasons["reason_code"].filter(bad_rows),
        reasons["reason"].filter(bad_rows),
        _rows_as_json(rejected.drop("__source_row")),
    )
    if dropped_rows.height:
        quarantine = pl.concat(
            [
                quarantine,
                dropped_rows.with_columns(
                    pl.lit(month).alias("month"),
                    pl.lit(source).alias("source"),
                    pl.lit(source_file).alias("source_file"),
                ),
            ]
        )
    raw.warnings = warnings
    return std_ok, quarantine, nulled, unknown


def quarantine_frame(month: dt.date, source: str, source_file: str | None, rows, codes, reasons, raw) -> pl.DataFrame:
    """ops.quarantine rows; codes / reasons may be one value for every row."""
    n = len(rows)
    return pl.DataFrame(
        {
            "month": [month] * n,
            "source": source,
            "source_file": source_file,
            "source_row": rows,
            "reason_code": codes,
            "reason": reasons,
            "raw": raw,
        },
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


def _cast_to_table(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return df.select([(pl.col(n) if n in df.columns else pl.lit(None)).cast(t).alias(n) for n, t in schema.items()])


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


def _audit(
    month,
    source,
    path,
    status,
    rows_read,
    rows_loaded,
    rows_quarantined,
    encoding=None,
    sha=None,
    unknown=(),
    error=None,
    entry=None,
    nulled=None,
    warnings=(),
) -> dict:
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
        "warnings": list(dict.fromkeys(warnings)),
    }


def empty_std(source: str) -> pl.DataFrame:
    return pl.DataFrame(schema=polars_schema(f"std.{source}"))


def load_delivery(
    path: Path | None, source: str, month: dt.date, entry: dict | None = None, reject: DeliveryError | None = None
) -> LoadResult:
    """Read, map, standardise and account for one delivered file.

    A missing file or a file that cannot be used gives status missing / rejected,
    never an exception: the other sources of the month still run. `reject` (e.g.
    a malformed manifest) rejects a readable file: its rows are read and all
    quarantined with that reason.
    """
    empty_q = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    if path is None:
        error = "本月未收到该文件 (no file delivered this month)"
        if reject is not None:
            error = f"{error}; {reject.code}: {reject}"
        audit = _audit(month, source, None, "missing", 0, 0, 0, error=error, entry=entry)
        return LoadResult(source, month, None, "missing", empty_std(source), empty_q, audit)

    started = time.perf_counter()
    # a CSV is read once, for its hash and its rows (a prefecture's claims: ~0.6 GB)
    data = path.read_bytes() if path.suffix.lower() == ".csv" else None
    sha = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(path)
    trust_last_line = bool(entry) and str(entry.get("sha256") or "").lower() == sha
    try:
        raw = read_raw(path, source, trust_last_line, data)
        del data
    except DeliveryError as exc:
        if reject is not None:
            exc = DeliveryError(reject.code, f"{reject}; {exc.code}: {exc}")
        audit = _audit(month, source, path, "rejected", 0, 0, 0, sha=sha, error=f"{exc.code}: {exc}", entry=entry)
        return LoadResult(
            source,
            month,
            path,
            "rejected",
            empty_std(source),
            empty_q,
            audit,
            seconds_read=time.perf_counter() - started,
        )
    seconds_read = time.perf_counter() - started
    warnings = list(raw.warnings)
    if raw.rows_read == 0:
        warnings.append("header_only")

    malformed = quarantine_frame(
        month,
        source,
        path.name,
        [m[0] for m in raw.malformed],
        [m[3] for m in raw.malformed],
        [m[2] for m in raw.malformed],
        [m[1] for m in raw.malformed],
    )
    started = time.perf_counter()
    try:
        if reject is not None:
            raise reject
        std, quarantine, nulled, unknown = standardise(source, raw, month, path.name)
    except DeliveryError as exc:
        # The whole file is rejected: every row is quarantined with the file's reason.
        rejected = quarantine_frame(
            month,
            source,
            path.name,
            raw.frame["__source_row"],
            "file_rejected",
            f"{exc.code}: {exc}",
            _rows_as_json(raw.frame.drop("__source_row")),
        )
        quarantine = pl.concat([malformed, rejected]).sort("source_row")
        audit = _audit(
            month,
            source,
            path,
            "rejected",
            raw.rows_read,
            0,
            quarantine.height,
            raw.encoding,
            sha,
            error=f"{exc.code}: {exc}",
            entry=entry,
            warnings=[*warnings, *raw.warnings],
        )
        return LoadResult(
            source,
            month,
            path,
            "rejected",
            empty_std(source),
            quarantine,
            audit,
            seconds_read=seconds_read,
            seconds_standardise=time.perf_counter() - started,
        )

    quarantine = pl.concat([malformed, quarantine]).sort("source_row")
    audit = _audit(
        month,
        source,
        path,
        "loaded",
        raw.rows_read,
        std.height,
        quarantine.height,
        raw.encoding,
        sha,
        unknown=unknown,
        entry=entry,
        nulled=nulled,
        warnings=[*warnings, *raw.warnings],
    )
    return LoadResult(
        source,
        month,
        path,
        "loaded",
        std,
        quarantine,
        audit,
        seconds_read=seconds_read,
        seconds_standardise=time.perf_counter() - started,
    )
