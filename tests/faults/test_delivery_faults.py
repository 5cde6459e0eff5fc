"""Delivery faults (issue #11): each ends loaded exactly, quarantined with its own
row and reason, rejected with a reason, or (manifest) the month's files not
trusted — and no row goes missing: rows read = loaded + quarantined."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import xlsxwriter

from faults.helpers import (
    MONTH,
    assert_accounted,
    csv_bytes,
    manifest_entry_for,
    reference_csv_rows,
    sample_rows,
    write_manifest,
)
from lowincome import monthly
from lowincome.ingest import RawTable, load_delivery, read_csv_rows, standardise
from lowincome.normalize import id_check_digit, make_id_number
from lowincome.schema import ALL_SOURCES, EXTRACT_SOURCES
from lowincome.warehouse import Warehouse

SOURCE = "human_resources"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """Two generated months (small): the base every fault is made from."""
    from data_samples.generate import generate

    root = tmp_path_factory.mktemp("faults")
    generate(root, households=200, months=2, start_month="2026-07", seed=11)
    return root


@pytest.fixture(scope="module")
def rows(sample) -> tuple[list[str], list[list[str]]]:
    """Header and well-formed rows of a delivered CSV of SOURCE, as text."""
    path = next((sample / "inbox").glob(f"*/{SOURCE}.csv"), None)
    if path is None:  # the generator chose another format: take the rows from any month's file
        from lowincome.ingest import read_raw

        raw = read_raw(next((sample / "inbox").glob(f"*/{SOURCE}.*")), SOURCE)
        frame = raw.frame.drop("__source_row").select(pl.all().cast(pl.Utf8).fill_null(""))
        return list(frame.columns), [list(r) for r in frame.rows()]
    header, data, _ = sample_rows(path)
    return header, data


def load(path: Path, entry: dict | None = None):
    result = load_delivery(path, SOURCE, MONTH, entry)
    assert_accounted(result)
    return result


def quarantined(result) -> dict[int, str]:
    return dict(zip(result.quarantine["source_row"].to_list(), result.quarantine["reason_code"].to_list()))


# --- the fast path --------------------------------------------------------------------


def test_fast_csv_path_reads_exactly_what_the_reference_reader_reads(sample):
    """Every generated CSV (all encodings, CRLF, ragged lines): same rows, values,
    positions and malformed lines as the row-by-row csv-module reader, and the
    same standardised rows."""
    files = sorted((sample / "inbox").glob("*/*.csv"))
    assert files
    for path in files:
        reference, malformed, encoding = reference_csv_rows(path)
        raw = read_csv_rows(path)
        assert raw.encoding == encoding, path
        assert raw.frame.equals(reference), path
        assert [m[0] for m in raw.malformed] == malformed, path
        source = path.stem
        fast_std = standardise(source, raw, MONTH, path.name)[0]
        ref_std = standardise(source, RawTable(reference, encoding), MONTH, path.name)[0]
        assert fast_std.equals(ref_std), path


def test_blank_lines_are_not_rows_and_do_not_shift_positions(tmp_path, rows):
    header, data = rows
    text = csv_bytes(header, data[:3]).decode()
    lines = text.split("\n")
    path = tmp_path / f"{SOURCE}.csv"
    path.write_text("\n".join(lines[:2] + ["", ",,,", "   "] + lines[2:]), encoding="utf-8")
    result = load(path)
    assert result.audit["rows_read"] == 3
    assert sorted(result.data["source_row"].to_list() + list(quarantined(result))) == [1, 2, 3]


# --- lost or changed silently (issue #11, items 1-3) --------------------------------------


def test_file_cut_inside_its_last_field_quarantines_the_cut_row(tmp_path, rows):
    header, data = rows
    whole = csv_bytes(header, data[:5])
    result = load(_write(tmp_path / f"{SOURCE}.csv", whole[:-3]))  # cut inside the last field, no final line break
    assert quarantined(result)[5] == "truncated_line"
    assert result.audit["rows_read"] == 5
    clean = load(_write(tmp_path / "clean" / f"{SOURCE}.csv", csv_bytes(header, data[:4])))
    assert result.data.drop("source_file").equals(clean.data.drop("source_file"))


def test_file_without_final_line_break_that_matches_its_manifest_loads_whole(tmp_path, rows):
    header, data = rows
    path = tmp_path / f"{SOURCE}.csv"
    path.write_bytes(csv_bytes(header, data[:5])[:-1])  # complete, just no final line break
    result = load(path, manifest_entry_for(path, 5))
    assert "truncated_line" not in quarantined(result).values()
    reference = load(_write(tmp_path / "ref" / f"{SOURCE}.csv", csv_bytes(header, data[:5])))
    assert result.data.drop("source_file").equals(reference.data.drop("source_file"))


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_oversized_field_is_quarantined_alone_with_its_text_and_later_rows_keep_their_row(tmp_path, rows):
    header, data = rows
    big = [list(r) for r in data[:8]]
    big[3][0] = "x" * 3_000_000  # a 3 MB field on row 4
    path = _write(tmp_path / f"{SOURCE}.csv", csv_bytes(header, big))
    result = load(path)
    q = result.quarantine.filter(pl.col("source_row") == 4).row(0, named=True)
    assert q["reason_code"] == "oversized_line" and q["raw"].startswith("xxxx") and "已截断" in q["raw"]
    clean = load(_write(tmp_path / "clean" / f"{SOURCE}.csv", csv_bytes(header, data[:8])))
    later = pl.col("source_row") > 4
    assert result.data.filter(later).drop("source_file").equals(clean.data.filter(later).drop("source_file"))


def test_unbalanced_quote_quarantines_only_its_own_line(tmp_path, rows):
    header, data = rows
    lines = csv_bytes(header, data[:30]).decode().split("\n")
    lines[10] = lines[10].replace(",", ',"', 1)  # data row 10 opens a quote it never closes
    path = tmp_path / f"{SOURCE}.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = load(path)
    clean = load(_write(tmp_path / "clean" / f"{SOURCE}.csv", csv_bytes(header, data[:30])))
    assert quarantined(result)[10] == "malformed_line"
    assert result.audit["rows_read"] == 30
    others = pl.col("source_row") != 10
    assert result.data.filter(others).drop("source_file").equals(clean.data.filter(others).drop("source_file"))


def test_quoted_field_with_a_line_break_is_one_row(tmp_path, rows):
    header, data = rows
    two = [list(r) for r in data[:3]]
    name_col = next(i for i, h in enumerate(header) if h in ("姓名", "name"))
    two[1][name_col] = two[1][name_col] + "\n"  # csv writer quotes it; the record spans two lines
    result = load(_write(tmp_path / f"{SOURCE}.csv", csv_bytes(header, two)))
    clean = load(_write(tmp_path / "clean" / f"{SOURCE}.csv", csv_bytes(header, data[:3])))
    assert result.audit["rows_read"] == 3
    assert result.data.drop("source_file", "name_raw").equals(clean.data.drop("source_file", "name_raw"))


# --- encodings, NUL ----------------------------------------------------------------------


def test_a_few_gbk_lines_in_a_utf8_file_are_quarantined_alone(tmp_path, rows):
    header, data = rows
    body = [csv_bytes(header, []).decode()] + [csv_bytes([], [r]).decode()[1:] for r in data[:20]]
    raw = b"".join(line.encode("gbk" if i in (5, 12) else "utf-8") for i, line in enumerate(body))
    result = load(_write(tmp_path / f"{SOURCE}.csv", raw))
    assert result.audit["encoding"] == "utf-8"
    q = quarantined(result)
    assert q[5] == "bad_encoding" and q[12] == "bad_encoding"
    assert result.audit["rows_read"] == 20
    shown = result.quarantine.filter(pl.col("source_row") == 5)["raw"][0]
    assert data[4][next(i for i, v in enumerate(data[4]) if not v.isascii())] in shown  # readable as GBK


def test_file_cut_mid_utf8_character_quarantines_the_last_line_only(tmp_path, rows):
    header, data = rows
    content = csv_bytes(header, data[:6])
    last_non_ascii = max(i for i in range(len(content)) if content[i] >= 0xE0)
    result = load(_write(tmp_path / f"{SOURCE}.csv", content[: last_non_ascii + 1]))
    assert result.status == "loaded"
    assert quarantined(result)[6] in ("bad_encoding", "truncated_line")
    assert result.audit["rows_read"] == 6


def test_gb18030_file_is_transcoded_and_read_like_utf8(tmp_path, rows):
    header, data = rows
    gb = load(_write(tmp_path / "gb" / f"{SOURCE}.csv", csv_bytes(header, data[:40], "gb18030")))
    utf = load(_write(tmp_path / "u8" / f"{SOURCE}.csv", csv_bytes(header, data[:40], "utf-8")))
    assert gb.audit["encoding"] == "gb18030"
    assert gb.data.drop("source_file").equals(utf.data.drop("source_file"))


def test_line_with_nul_bytes_is_quarantined(tmp_path, rows):
    header, data = rows
    bad = [list(r) for r in data[:5]]
    name_col = next(i for i, h in enumerate(header) if h in ("姓名", "name"))
    bad[2][name_col] = bad[2][name_col][:1] + "\x00" + bad[2][name_col][1:]
    result = load(_write(tmp_path / f"{SOURCE}.csv", csv_bytes(header, bad)))
    assert quarantined(result)[3] == "nul_byte"
    assert all("\x00" not in (v or "") for v in result.data["name"].to_list())


# --- headers -------------------------------------------------------------------------------


def test_duplicated_identical_column_loads_once_and_is_reported(tmp_path, rows):
    header, data = rows
    result = load(_write(tmp_path / f"{SOURCE}.csv", csv_bytes(header + [header[0]], [r + [r[0]] for r in data[:5]])))
    assert result.status == "loaded"
    assert any(w.startswith("duplicate_column:") for w in result.audit["warnings"])
    assert not any("__dup" in c for c in result.audit["unknown_columns"])


def test_duplicated_column_with_different_values_rejects_the_file(tmp_path, rows):
    header, data = rows
    result = load(
        _write(tmp_path / f"{SOURCE}.csv", csv_bytes(header + [header[0]], [r + [r[0] + "9"] for r in data[:5]]))
    )
    assert result.status == "rejected" and result.audit["error"].startswith("duplicate_column")
    assert set(result.quarantine["reason_code"]) == {"file_rejected"}


def test_header_only_file_loads_nothing_with_a_warning(tmp_path, rows):
    header, _ = rows
    result = load(_write(tmp_path / f"{SOURCE}.csv", csv_bytes(header, [])))
    assert result.status == "loaded" and result.audit["rows_read"] == 0
    assert "header_only" in result.audit["warnings"]


# --- xlsx --------------------------------------------------------------------------------


def _xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    for name, table in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(table):
            for c, v in enumerate(row):
                if isinstance(v, (int, float)):
                    ws.write_number(r, c, v)
                elif v not in (None, ""):
                    ws.write_string(r, c, v)
    wb.close()
    return path


def test_xlsx_notes_sheet_first_the_data_sheet_is_found_by_its_headers(tmp_path, rows):
    header, data = rows
    path = _xlsx(
        tmp_path / f"{SOURCE}.xlsx", {"说明": [["填表说明"], ["本表为人社数据"]], "数据": [header, *data[:10]]}
    )
    result = load(path)
    assert result.status == "loaded" and result.audit["rows_read"] == 10
    assert "sheets_skipped:说明" in result.audit["warnings"]


def test_xlsx_data_on_two_sheets_loads_both_and_says_so(tmp_path, rows):
    header, data = rows
    path = _xlsx(tmp_path / f"{SOURCE}.xlsx", {"一": [header, *data[:6]], "二": [header, *data[6:10]]})
    result = load(path)
    assert result.audit["rows_read"] == 10
    assert "multiple_data_sheets:一,二" in result.audit["warnings"]


def _workbook(header, data):
    """An openpyxl workbook whose first sheet holds the header and the rows, to be altered."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in data:
        ws.append(list(r))
    return wb, ws


def test_xlsx_formula_without_cached_value_quarantines_its_row(tmp_path, rows):
    header, data = rows
    wb, ws = _workbook(header, data[:6])
    id_col = next(i for i, h in enumerate(header) if h in ("身份证号", "id_number")) + 1
    ws.cell(row=4, column=id_col).value = '=CONCAT("6201","02")'  # data row 3: a formula, no cached value
    path = tmp_path / f"{SOURCE}.xlsx"
    wb.save(path)
    result = load(path)
    assert quarantined(result).get(3) == "formula_without_value"
    assert "formulas_without_values:1" in result.audit["warnings"]
    assert result.audit["rows_read"] == 6


def test_xlsx_ids_stored_as_numbers_are_mangled_even_with_a_valid_check_digit(tmp_path, rows):
    header, data = rows
    id_col = next(i for i, h in enumerate(header) if h in ("身份证号", "id_number"))
    # an ID whose double rounding lands on another valid ID still must not be trusted
    good = next(
        i
        for i in (make_id_number("620102", dt.date(1960 + k % 40, 1 + k % 12, 15), k % 1000) for k in range(5000))
        if i.isdigit() and str(int(float(i))) != i and id_check_digit(str(int(float(i)))[:17]) == str(int(float(i)))[17]
    )
    table = [list(r) for r in data[:4]]
    table[0][id_col] = float(good)
    table[1][id_col] = good  # text: fine
    result = load(_xlsx(tmp_path / f"{SOURCE}.xlsx", {"Sheet1": [header, *table]}))
    by_row = {r["source_row"]: r for r in result.data.iter_rows(named=True)}
    assert by_row[1]["id_invalid_reason"] == "excel_mangled" and by_row[1]["id_number"] is None
    assert by_row[2]["id_number"] == good
    assert "ids_stored_as_numbers:1" in result.audit["warnings"]


def test_xlsx_merged_cells_are_counted(tmp_path, rows):
    header, data = rows
    wb, ws = _workbook(header, data[:6])
    ws.merge_cells(start_row=2, start_column=1, end_row=3, end_column=1)
    path = tmp_path / f"{SOURCE}.xlsx"
    wb.save(path)
    result = load(path)
    assert "merged_cells:1" in result.audit["warnings"]


# --- the month's folder: two files, manifest ---------------------------------------------


def _month_folder(sample: Path, tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    shutil.copytree(sample / "inbox" / f"{MONTH:%Y-%m}", inbox / f"{MONTH:%Y-%m}")
    return inbox


def test_two_files_for_one_source_reject_it_and_pick_neither(sample, tmp_path):
    inbox = _month_folder(sample, tmp_path)
    folder = inbox / f"{MONTH:%Y-%m}"
    existing = next(folder.glob("registry.*"))
    other = ".csv" if existing.suffix != ".csv" else ".parquet"
    shutil.copy(existing, folder / f"registry{other}")
    result = monthly.ingest_source(Warehouse(tmp_path / "w.duckdb"), inbox, "registry", MONTH)
    assert result.status == "rejected" and result.audit["error"].startswith("ambiguous_files")
    assert result.data.height == 0 and result.rows_read == 0 == result.audit["rows_quarantined"]
    assert any(w.startswith("ambiguous_files:") for w in result.audit["warnings"])


@pytest.mark.parametrize(
    "manifest",
    [
        '{"files": {"registry.csv": {"rows": 4',
        '{"files": {"registry.xlsx": {"rows": "abc"}}}',
        '{"files": ["registry.xlsx"]}',
    ],
    ids=["truncated", "rows_not_a_number", "files_a_list"],
)
def test_malformed_manifest_rejects_every_source_of_the_month(sample, tmp_path, manifest):
    inbox = _month_folder(sample, tmp_path)
    write_manifest(inbox / f"{MONTH:%Y-%m}", {}, raw=manifest)
    wh = Warehouse(tmp_path / "w.duckdb")
    for source in ALL_SOURCES:
        result = monthly.ingest_source(wh, inbox, source, MONTH)
        assert_accounted(result)
        assert "bad_manifest" in (result.audit["error"] or ""), source
        if source in EXTRACT_SOURCES:
            assert result.status == "rejected" and result.data.height == 0, source
            assert set(result.quarantine["reason_code"]) <= {"file_rejected", "malformed_line"}


@pytest.mark.slow
def test_malformed_manifest_month_completes_and_withholds_flags(sample, tmp_path):
    from pipelines.cli import run_month

    inbox = _month_folder(sample, tmp_path)
    write_manifest(inbox / f"{MONTH:%Y-%m}", {}, raw='{"files": {"registry.csv": {"rows": 4')
    warehouse = tmp_path / "w.duckdb"
    params = Path(__file__).resolve().parents[2] / "data_samples" / "params.yaml"
    result = run_month(
        MONTH, inbox=str(inbox), warehouse=str(warehouse), exports=str(tmp_path / "exports"), params=str(params)
    )
    assert result.success
    timings = {
        e.asset_key.path[-1]: e.step_materialization_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.path[0] == "std"
    }
    assert set(timings) == set(ALL_SOURCES)
    for metadata in timings.values():
        assert metadata["seconds_read"].value >= 0 and metadata["seconds_standardise"].value >= 0
    assert timings["registry"]["seconds_read"].value > 0  # read, then rejected for the manifest
    with Warehouse(warehouse).reader() as con:
        assert con.execute("SELECT count(*) FROM flags.risk_flags WHERE month = ?", [MONTH]).fetchone()[0] == 0
        statuses = dict(con.execute("SELECT source, status FROM ops.load_audit WHERE month = ?", [MONTH]).fetchall())
    assert all(statuses[s] == "rejected" for s in EXTRACT_SOURCES)


def test_manifest_listing_an_unknown_file_is_reported(sample, tmp_path):
    inbox = _month_folder(sample, tmp_path)
    folder = inbox / f"{MONTH:%Y-%m}"
    manifest = json.loads((folder / "_MANIFEST.json").read_text(encoding="utf-8"))
    manifest["files"]["payroll.csv"] = {"rows": 3, "sha256": "ab" * 32}
    (folder / "_MANIFEST.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = monthly.ingest_source(Warehouse(tmp_path / "w.duckdb"), inbox, "registry", MONTH)
    assert result.status == "loaded"
    assert "manifest_unknown_file:payroll.csv" in result.audit["warnings"]
    with Warehouse(tmp_path / "w.duckdb").reader() as con:
        stored = con.execute("SELECT warnings FROM ops.load_audit WHERE source = 'registry'").fetchone()[0]
    assert "manifest_unknown_file:payroll.csv" in stored


def test_nul_byte_in_a_parquet_value_quarantines_its_row(tmp_path, rows):
    header, data = rows
    table = [list(r) for r in data[:4]]
    name_col = next(i for i, h in enumerate(header) if h in ("姓名", "name"))
    table[1][name_col] = "张\x00三"
    path = tmp_path / f"{SOURCE}.parquet"
    pl.DataFrame(table, schema=header, orient="row").write_parquet(path)
    result = load(path)
    assert quarantined(result)[2] == "nul_byte"
    assert 2 not in result.data["source_row"].to_list()
