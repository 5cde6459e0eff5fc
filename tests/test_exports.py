"""Caseworker workbooks: content, order, masking, drop-down, read-back as
dispositions, and the summary workbook."""

from __future__ import annotations

import datetime as dt

import openpyxl
import polars as pl
import pytest
from rules_fixtures import M1, M2, PARAMS, Fixture

from lowincome.exports import DISPOSITION_HEADERS, read_dispositions_workbook, write_caseworker_workbooks
from lowincome.ingest import load_delivery
from lowincome.rules import run_rules
from lowincome.schema import DISPOSITION_VALUES, flag_id
from lowincome.warehouse import Warehouse, query_pl
from pipelines.cli import main as cli_main

S = 560


@pytest.fixture()
def built(tmp_path):
    """Two townships; township 001 has a 高 flag in village 002 and 中 flags in village 001."""
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        fx = Fixture(con)
        for m in (M1, M2):
            fx.loaded(m)
        people = {k: fx.person(k) for k in ("甲", "乙", "丙", "丁")}
        for m in (M1, M2):
            fx.household(
                m, "HA", [people["甲"], people["乙"]], income=(S - 100) * 2 * 12, region="620102001002"
            )  # R02 高
            fx.household(m, "HB", [people["丙"]], income=1.2 * S * 12, region="620102001001")  # R03 中
            fx.household(m, "HC", [people["丁"]], income=1.2 * S * 12, region="620102002003")  # other township
        run_rules(con, M1, PARAMS)
    return wh, tmp_path


def test_township_workbooks_content_order_masking(built):
    wh, tmp = built
    with wh.reader() as con:
        paths = write_caseworker_workbooks(con, M1, tmp / "exports")
    names = sorted(p.name for p in paths)
    assert names == ["620102001.xlsx", "620102002.xlsx", "汇总表.xlsx"]  # no region-name table: codes
    assert all(p.parent.name == "2026-07" for p in paths)
    book = tmp / "exports" / "2026-07" / "620102001.xlsx"
    sheet = pl.read_excel(book, sheet_name="预警清单", engine="calamine", read_options={"header_row": 1})
    assert list(DISPOSITION_HEADERS) == [c for c in sheet.columns if c in DISPOSITION_HEADERS]
    assert sheet["标记编号"].to_list() == [flag_id(M1, "R02", "HA"), flag_id(M1, "R03", "HB")]  # 高 before 中
    assert sheet["严重程度"].to_list() == ["高", "中"]
    first = sheet.row(0, named=True)
    assert first["预警规则"] == "R02 低收入未纳入低保" and first["建议措施"] == "审核纳入低保"
    assert first["预警依据"].startswith("家庭人均月收入 460 元") and "低于低保标准 560 元" in first["预警依据"]
    members = first["家庭成员"].split("\n")
    assert len(members) == 2 and members[0].startswith("甲（户主，")
    wb = openpyxl.load_workbook(book)
    ws = wb["预警清单"]
    ids = [c.value for c in wb["家庭成员"]["E"][2:]]
    assert ids and all(len(v) == 18 and v[6:14] == "********" for v in ids)
    # no unmasked ID anywhere in the workbook
    with wh.reader() as con:
        raw = query_pl(con, "SELECT id_number FROM std.registry")["id_number"].to_list()
    text = " ".join(str(c.value) for s in wb for row in s.iter_rows() for c in row if c.value is not None)
    assert not any(i in text for i in raw)
    dv = [d for d in ws.data_validations.dataValidation if d.type == "list"]
    assert len(dv) == 1 and all(v in dv[0].formula1 for v in DISPOSITION_VALUES)
    letter = openpyxl.utils.get_column_letter([c.value for c in ws[2]].index("处置结果") + 1)
    assert letter in str(dv[0].sqref)


def test_filled_workbook_reads_back_as_dispositions_and_closes(built):
    wh, tmp = built
    with wh.reader() as con:
        paths = write_caseworker_workbooks(con, M1, tmp / "exports")
    book = paths[0]
    wb = openpyxl.load_workbook(book)
    ws = wb["预警清单"]
    headers = [c.value for c in ws[2]]  # row 1 is the title
    ws.cell(3, headers.index("处置结果") + 1, "已纳入救助")
    ws.cell(3, headers.index("处置日期") + 1, dt.datetime(2026, 8, 20))
    ws.cell(3, headers.index("经办人") + 1, "李干事")
    ws.cell(3, headers.index("备注") + 1, "已审批纳入低保")
    wb.save(book)
    back = read_dispositions_workbook(book)
    assert back.columns == list(DISPOSITION_HEADERS)
    assert back.rows() == [(flag_id(M1, "R02", "HA"), "已纳入救助", dt.date(2026, 8, 20), "李干事", "已审批纳入低保")]
    # merged by the CLI into next month's inbox file, it passes ingestion unchanged
    assert cli_main(["dispositions", "--out", str(tmp / "dispositions.xlsx"), str(book)]) == 0
    inbox_file = tmp / "dispositions.xlsx"
    assert read_dispositions_workbook(inbox_file).rows() == back.rows()
    loaded = load_delivery(inbox_file, "dispositions", M2, None)
    assert loaded.audit["status"] == "loaded" and loaded.quarantine.height == 0
    std = loaded.data.select("flag_id", "disposition", "disposed_on", "handled_by", "note")
    assert std.rows() == back.rows()
    with wh.writer() as con:
        con.register("d_in", loaded.data.to_arrow())
        cols = ", ".join(f'"{c}"' for c in loaded.data.columns)
        con.execute(f"INSERT INTO std.dispositions ({cols}) SELECT {cols} FROM d_in")
        run_rules(con, M2, PARAMS)
        row = query_pl(
            con, "SELECT state, closed_by FROM flags.risk_flags WHERE month = ? AND household_key = 'HA'", [M2]
        )
        assert row.rows() == [("已清零", "已纳入救助")]


def test_summary_workbook_and_tables(built):
    wh, tmp = built
    with wh.reader() as con:
        paths = write_caseworker_workbooks(con, M1, tmp / "exports")
        county = query_pl(
            con,
            "SELECT rule_code, flagged_households, registry_households, share FROM flags.summary_county "
            "WHERE month = ? AND rule_code IN ('R02', 'R03', '合计') ORDER BY rule_code",
            [M1],
        )
        village = query_pl(
            con,
            "SELECT village_code, flagged_households FROM flags.summary_village "
            "WHERE month = ? AND rule_code = '合计' ORDER BY village_code",
            [M1],
        )
    assert county.rows() == [("R02", 1, 3, 1 / 3), ("R03", 2, 3, 2 / 3), ("合计", 3, 3, 1.0)]
    assert village.rows() == [("620102001001", 1), ("620102001002", 1), ("620102002003", 1)]
    summary = paths[-1]
    sheets = pl.read_excel(summary, sheet_id=0, engine="calamine", read_options={"header_row": 1})
    assert {"村表", "乡镇表", "县表", "规则运行情况"} <= set(sheets)
    town = sheets["乡镇表"].head(-1)  # the last row is 合计
    assert town["乡镇（街道）代码"].to_list() == ["620102001", "620102002"]
    assert town["在册户数"].to_list() == [2, 1]
    assert town["合计 全部规则 预警户数"].to_list() == [2, 1]
    assert "R02 低收入未纳入低保 预警户数" in town.columns


def _cell_values(path) -> dict:
    wb = openpyxl.load_workbook(path)
    return {
        ws.title: ([list(r) for r in ws.iter_rows(values_only=True)], sorted(str(m) for m in ws.merged_cells.ranges))
        for ws in wb.worksheets
    }


def test_township_workbooks_written_by_worker_processes_are_the_same(built):
    """A prefecture month writes township workbooks in worker processes: same files, same cells."""
    wh, tmp = built
    with wh.reader() as con:
        serial = write_caseworker_workbooks(con, M1, tmp / "serial", workers=1)
        parallel = write_caseworker_workbooks(con, M1, tmp / "parallel", workers=2)
    assert [p.name for p in serial] == [p.name for p in parallel] and len(serial) == 3
    for a, b in zip(serial, parallel):
        assert _cell_values(a) == _cell_values(b)
