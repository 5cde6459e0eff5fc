"""Ingestion of each format and encoding, header mapping, rejection and row accounting."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from lowincome import monthly
from lowincome.ingest import decode_bytes, find_delivery, load_delivery
from lowincome.normalize import make_id_number
from lowincome.warehouse import Warehouse

MONTH = dt.date(2026, 8, 1)
ID_A = make_id_number("620102", dt.date(1960, 3, 15), 11)  # male
ID_B = make_id_number("620102", dt.date(1988, 12, 1), 22)  # female

CA_HEADER = ["姓名", "身份证号", "行政区划代码", "事件类型", "金额", "发生日期"]
CA_ROWS = [
    ["陳 大明", ID_A, "620102001001", "临时救助", "1,200元", "2026/8/3"],
    ["阿依古丽•买买提", ID_B.lower(), "620102001002", "低保金发放", "560", "2026年8月5日"],
    ["王小红", "6.20102198E+17", "620102002001", "死亡火化", "", "20260809"],
]


def write_csv(path: Path, header, rows, encoding: str) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_every_encoding_loads_the_same_rows(tmp_path, encoding):
    path = write_csv(tmp_path / "civil_affairs.csv", CA_HEADER, CA_ROWS, encoding)
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.status == "loaded"
    assert result.audit["encoding"] == encoding
    data = result.data
    assert data["name"].to_list() == ["陈大明", "阿依古丽买买提", "王小红"]
    assert data["id_number"].to_list() == [ID_A, ID_B, None]
    assert data["id_invalid_reason"].to_list() == [None, None, "excel_mangled"]
    assert data["amount"].to_list() == [1200.0, 560.0, None]
    assert data["event_date"].to_list() == [dt.date(2026, 8, 3), dt.date(2026, 8, 5), dt.date(2026, 8, 9)]
    assert data["township_code"].to_list() == ["620102001", "620102001", "620102002"]
    assert data["source_row"].to_list() == [1, 2, 3]
    assert (result.audit["rows_read"], result.audit["rows_loaded"], result.audit["rows_quarantined"]) == (3, 3, 0)


def test_gbk_text_is_not_mistaken_for_utf8():
    text, encoding = decode_bytes("姓名,身份证号\n张三,1\n".encode("gbk"))
    assert encoding == "gb18030" and text.startswith("姓名")


def test_xlsx_with_real_excel_dates_and_serials(tmp_path):
    path = tmp_path / "civil_affairs.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet()
    date_format = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, CA_HEADER)
    ws.write_row(1, 0, ["陈大明", ID_A, "620102001001", "临时救助"])
    ws.write_number(1, 4, 1200)
    ws.write_datetime(1, 5, dt.datetime(2026, 8, 3), date_format)
    ws.write_row(2, 0, ["李四", ID_B, "620102001002", "临时救助", "300"])
    ws.write_number(2, 5, 46240)  # an Excel serial: 2026-08-06
    wb.close()
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.status == "loaded"
    assert result.data["event_date"].to_list() == [dt.date(2026, 8, 3), dt.date(2026, 8, 6)]
    assert result.data["amount"].to_list() == [1200.0, 300.0]


def test_parquet_with_english_headers(tmp_path):
    path = tmp_path / "civil_affairs.parquet"
    pl.DataFrame(
        {
            "name": ["陈大明"],
            "id_number": [ID_A],
            "region_code": ["620102001001"],
            "event_type": ["受灾救助"],
            "amount": [800.0],
            "event_date": [dt.date(2026, 8, 20)],
        }
    ).write_parquet(path)
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.status == "loaded"
    assert result.data.row(0, named=True)["event_date"] == dt.date(2026, 8, 20)
    assert result.data["amount"].to_list() == [800.0]


def test_missing_required_column_rejects_the_file_and_quarantines_every_row(tmp_path):
    header = [h for h in CA_HEADER if h != "事件类型"]
    rows = [[v for h, v in zip(CA_HEADER, r) if h != "事件类型"] for r in CA_ROWS]
    path = write_csv(tmp_path / "civil_affairs.csv", header, rows, "utf-8")
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.status == "rejected"
    assert "事件类型" in result.audit["error"]
    assert result.data.height == 0
    assert result.quarantine["reason_code"].unique().to_list() == ["file_rejected"]
    assert result.audit["rows_read"] == 3 == result.audit["rows_quarantined"]


def test_unknown_columns_are_reported_and_kept_out(tmp_path):
    path = write_csv(tmp_path / "civil_affairs.csv", CA_HEADER + ["备注"], [r + ["x"] for r in CA_ROWS], "utf-8")
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.audit["unknown_columns"] == ["备注"]
    assert "备注" not in result.data.columns


def test_malformed_lines_and_unparseable_required_values_are_quarantined(tmp_path):
    rows = [
        CA_ROWS[0],
        ["张三", ID_A, "620102001001", "临时救助", "100"],  # one field short
        ["李四", ID_B, "620102001001", "临时救助", "100", "未知"],  # required date unparseable
        ["", ID_B, "620102001001", "临时救助", "100", "2026-08-01"],  # required name blank
        CA_ROWS[1],
    ]
    path = write_csv(tmp_path / "civil_affairs.csv", CA_HEADER, rows, "utf-8")
    result = load_delivery(path, "civil_affairs", MONTH)
    audit = result.audit
    assert audit["rows_read"] == 5 == audit["rows_loaded"] + audit["rows_quarantined"]
    assert result.data["source_row"].to_list() == [1, 5]
    q = {r["source_row"]: r["reason_code"] for r in result.quarantine.iter_rows(named=True)}
    assert q == {2: "malformed_line", 3: "invalid_event_date", 4: "missing_name"}
    raw = json.loads(result.quarantine.filter(pl.col("source_row") == 3)["raw"][0])
    assert raw["发生日期"] == "未知"


def test_unparseable_optional_value_becomes_null_and_is_counted(tmp_path):
    rows = [CA_ROWS[0][:4] + ["很多", CA_ROWS[0][5]]]
    path = write_csv(tmp_path / "civil_affairs.csv", CA_HEADER, rows, "utf-8")
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.data["amount"].to_list() == [None]
    assert json.loads(result.audit["optional_nulled"]) == {"amount": 1}


def test_find_delivery_any_extension(tmp_path):
    (tmp_path / "Registry.XLSX").write_bytes(b"")
    assert find_delivery(tmp_path, "registry").name == "Registry.XLSX"
    assert find_delivery(tmp_path, "civil_affairs") is None


def test_file_of_an_unsupported_type_is_rejected_not_ignored(tmp_path):
    (tmp_path / "civil_affairs.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    path = find_delivery(tmp_path, "civil_affairs")
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.status == "rejected" and ".xls" in result.audit["error"]


def test_corrupt_xlsx_is_rejected_with_a_reason(tmp_path):
    path = tmp_path / "civil_affairs.xlsx"
    path.write_bytes(b"not a zip file")
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.status == "rejected" and result.audit["error"].startswith("unreadable")


def test_ingest_source_writes_the_month_atomically_and_reruns_identically(tmp_path):
    inbox = tmp_path / "inbox"
    folder = inbox / "2026-08"
    folder.mkdir(parents=True)
    path = write_csv(folder / "civil_affairs.csv", CA_HEADER, CA_ROWS + [["x"]], "utf-8")
    import hashlib

    (folder / "_MANIFEST.json").write_text(
        json.dumps(
            {"files": {"civil_affairs.csv": {"rows": 4, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}}
        )
    )
    wh = Warehouse(tmp_path / "w.duckdb")

    def snapshot():
        with wh.reader() as con:
            return [
                con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("std.civil_affairs", "ops.quarantine", "ops.load_audit")
            ]

    monthly.ingest_source(wh, inbox, "civil_affairs", MONTH)
    first = snapshot()
    monthly.ingest_source(wh, inbox, "civil_affairs", MONTH)
    assert snapshot() == first
    std, quarantine, audit = first
    assert len(std) == 3 and len(quarantine) == 1 and len(audit) == 1
    with wh.reader() as con:
        row = con.execute(
            "SELECT rows_read, rows_loaded, rows_quarantined, manifest_rows, manifest_sha256 = sha256 FROM ops.load_audit"
        ).fetchone()
    assert row == (4, 3, 1, 4, True)


def test_missing_file_is_recorded_not_raised(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    result = monthly.ingest_source(wh, tmp_path / "inbox", "human_resources", MONTH)
    assert result.status == "missing"
    with wh.reader() as con:
        assert con.execute("SELECT status, rows_read FROM ops.load_audit").fetchall() == [("missing", 0)]


def test_load_result_carries_read_and_standardise_timings(tmp_path):
    path = write_csv(tmp_path / "civil_affairs.csv", CA_HEADER, CA_ROWS, "utf-8")
    result = load_delivery(path, "civil_affairs", MONTH)
    assert result.seconds_read > 0 and result.seconds_standardise > 0
    assert "seconds_read" not in result.audit  # the audit row stays identical on a rerun
