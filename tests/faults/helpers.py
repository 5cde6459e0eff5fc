"""Builders for the delivery-fault cases, and the reference CSV reader.

`reference_csv_rows` is the former row-by-row reader (Python's csv module): the
oracle the fast path is compared with on regular files."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import polars as pl

from lowincome.ingest import LoadResult, _dedupe_headers, decode_bytes

MONTH = dt.date(2026, 7, 1)


def reference_csv_rows(path: Path) -> tuple[pl.DataFrame, list[int], str]:
    """(frame of the well-formed rows with __source_row, source rows of malformed lines, encoding)."""
    text, encoding = decode_bytes(path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    width = len(header)
    rows, positions, malformed = [], [], []
    source_row = 0
    for row in reader:
        if not row or all(not v.strip() for v in row):
            continue
        source_row += 1
        if len(row) != width:
            malformed.append(source_row)
            continue
        rows.append(row)
        positions.append(source_row)
    names = _dedupe_headers(header)
    frame = pl.DataFrame({n: [r[j] for r in rows] for j, n in enumerate(names)}, schema=dict.fromkeys(names, pl.Utf8))
    return frame.with_columns(pl.Series("__source_row", positions, dtype=pl.Int32)), malformed, encoding


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "utf-8", terminator: str = "\n") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerows([header, *rows])
    return buffer.getvalue().encode(encoding)


def sample_rows(csv_path: Path, n: int | None = None) -> tuple[list[str], list[list[str]], str]:
    """Header and the well-formed data rows of a generated CSV (as text), and its encoding."""
    frame, _, encoding = reference_csv_rows(csv_path)
    rows = [list(r) for r in frame.drop("__source_row").rows()]
    return list(frame.columns[:-1]), rows[:n] if n else rows, encoding


def write_manifest(folder: Path, files: dict | list | str, raw: str | None = None) -> None:
    (folder / "_MANIFEST.json").write_text(raw if raw is not None else json.dumps({"files": files}), encoding="utf-8")


def manifest_entry_for(path: Path, rows: int) -> dict:
    return {"rows": rows, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def assert_accounted(result: LoadResult) -> None:
    """rows read = loaded + quarantined; every source_row appears exactly once."""
    audit = result.audit
    assert audit["rows_read"] == audit["rows_loaded"] + audit["rows_quarantined"]
    assert result.data.height == audit["rows_loaded"]
    assert result.quarantine.height == audit["rows_quarantined"]
    rows = sorted(result.data["source_row"].to_list() + result.quarantine["source_row"].to_list())
    assert rows == list(range(1, audit["rows_read"] + 1))
