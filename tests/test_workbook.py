"""The township workbook as a caseworker receives it, opened with openpyxl:
region names, names as registered, phone in full only in the own township's
workbook, disease categories instead of ICD-10 codes, household blocks,
比对依据, title, print setup, protection, and 汇总表 with names and 合计."""

from __future__ import annotations

import re

import openpyxl
import pytest
from rules_fixtures import M1, PARAMS, Fixture

from lowincome.exports import disease_category, write_caseworker_workbooks
from lowincome.regions import read_region_names, region_names
from lowincome.rules import run_rules
from lowincome.warehouse import Warehouse, query_pl

S = 560
TOWN, OTHER_TOWN = "620102001", "620102002"
REGIONS = {
    "620102": "东岗区",
    TOWN: "南山镇",
    OTHER_TOWN: "金川街道",
    "620102001001": "白水村",
    "620102001002": "安宁村",
    "620102002003": "和平社区",
}
PHONE_A, PHONE_C = "13912345678", "13700001111"
ICD_PATTERN = re.compile(r"(?<![A-Za-z0-9])[A-Z]\d{2}\.\d")


@pytest.fixture()
def built(tmp_path):
    """Township 001: HA (R02 高) in village 002, HD (R11 高 + R04 中 with a probabilistic
    claim link, diagnosis C34.9) in village 001. Township 002: HC (R03)."""
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b, c = fx.person("艾合买提库尔班"), fx.person("乙"), fx.person("丙")
        d1, d2 = fx.person("丁"), fx.person("戊")
        fx.household(M1, "HA", [a, b], income=(S - 100) * 2 * 12, region="620102001002")  # R02 高
        fx.household(M1, "HC", [c], income=1.2 * S * 12, region="620102002003")  # other township
        fx.household(M1, "HD", [d1, d2], income=1.25 * S * 2 * 12, category="低保边缘", region="620102001001")
        claim = fx.claim(M1, d2, 900, icd="C34.9")
        fx.civil(M1, d1, "受灾救助", amount=3200)  # R11 高
        con.execute(
            "UPDATE linkage.links SET method = 'probabilistic', match_score = 0.97 "
            "WHERE source = 'health_insurance' AND source_row = ?",
            [claim],
        )
        con.execute("UPDATE std.registry SET name_raw = ' 艾合买提·库尔班 ' WHERE name = '艾合买提库尔班'")
        con.execute("UPDATE std.registry SET phone = ? WHERE household_id = 'HA' AND relation = '户主'", [PHONE_A])
        con.execute("UPDATE std.registry SET phone = ? WHERE household_id = 'HC'", [PHONE_C])
        run_rules(con, M1, PARAMS)
        rules = query_pl(con, "SELECT household_key, rule_code FROM flags.risk_flags WHERE month = ?", [M1]).rows()
    assert {("HA", "R02"), ("HC", "R03"), ("HD", "R11"), ("HD", "R04")} <= set(rules)
    return wh, tmp_path


def _write(wh, tmp, regions=REGIONS):
    with wh.reader() as con:
        return write_caseworker_workbooks(con, M1, tmp / "exports", regions=regions)


def _cells(wb) -> str:
    return " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None)


def _table(ws) -> list[dict]:
    """Rows under the header row (row 2), merged household cells carried down."""
    headers = [c.value for c in ws[2]]
    out, last = [], {}
    for row in ws.iter_rows(min_row=3, values_only=True):
        rec = dict(zip(headers, row))
        for k in ("村（社区）", "户编号", "户主", "联系电话", "家庭成员"):
            if k in rec and rec[k] is None and rec.get("标记编号"):
                rec[k] = last.get(k)
        out.append(rec)
        last = rec
    return out


def test_file_title_and_columns_name_the_township_and_village(built):
    wh, tmp = built
    names = sorted(p.name for p in _write(wh, tmp))
    assert names == [f"{TOWN}_南山镇.xlsx", f"{OTHER_TOWN}_金川街道.xlsx", "汇总表.xlsx"]
    ws = openpyxl.load_workbook(tmp / "exports" / "2026-07" / f"{TOWN}_南山镇.xlsx")["预警清单"]
    title = ws["A1"].value
    assert "南山镇" in title and "2026年7月" in title and "2 户" in title and "3 条预警" in title
    villages = {r["户编号"]: r["村（社区）"] for r in _table(ws)}
    assert villages == {"HA": "安宁村", "HD": "白水村"}


def test_without_region_table_codes_are_shown(built):
    wh, tmp = built
    names = sorted(p.name for p in _write(wh, tmp, regions={}))
    assert names == [f"{TOWN}.xlsx", f"{OTHER_TOWN}.xlsx", "汇总表.xlsx"]
    ws = openpyxl.load_workbook(tmp / "exports" / "2026-07" / f"{TOWN}.xlsx")["预警清单"]
    assert {r["村（社区）"] for r in _table(ws)} == {"620102001001", "620102001002"}


def test_names_as_registered_phone_only_in_own_township_ids_masked(built):
    wh, tmp = built
    _write(wh, tmp)
    own = openpyxl.load_workbook(tmp / "exports" / "2026-07" / f"{TOWN}_南山镇.xlsx")
    other = openpyxl.load_workbook(tmp / "exports" / "2026-07" / f"{OTHER_TOWN}_金川街道.xlsx")
    rows = {r["户编号"]: r for r in _table(own["预警清单"])}
    assert rows["HA"]["户主"] == "艾合买提·库尔班"  # as registered, trimmed
    assert "艾合买提·库尔班（户主" in rows["HA"]["家庭成员"]
    assert rows["HA"]["联系电话"] == PHONE_A  # in full, its own township
    members = _table(own["家庭成员"])
    assert PHONE_A in [m["联系电话"] for m in members]
    assert PHONE_A not in _cells(other) and PHONE_C in _cells(other)  # each township sees its own only
    with wh.reader() as con:
        raw_ids = query_pl(con, "SELECT id_number FROM std.registry")["id_number"].to_list()
    for wb in (own, other):
        text = _cells(wb)
        assert not any(i in text for i in raw_ids)
    ids = [m["身份证号"] for m in members]
    assert ids and all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", v) for v in ids)
    summary = openpyxl.load_workbook(tmp / "exports" / "2026-07" / "汇总表.xlsx")
    assert PHONE_A not in _cells(summary)


def test_disease_as_category_never_icd_code(built):
    wh, tmp = built
    _write(wh, tmp)
    wb = openpyxl.load_workbook(tmp / "exports" / "2026-07" / f"{TOWN}_南山镇.xlsx")
    text = _cells(wb)
    assert "C34.9" not in text and not ICD_PATTERN.search(text)
    r04 = next(r for r in _table(wb["预警清单"]) if (r["预警规则"] or "").startswith("R04"))
    assert "恶性肿瘤" in r04["预警依据"]
    assert disease_category("N18.5") == "尿毒症（终末期肾病）"
    assert disease_category("J18.9") == "呼吸系统疾病"
    assert disease_category("C92.0") == "白血病"  # the longer prefix wins over C
    assert disease_category("12345") == "疾病类别不详"


def test_one_block_per_household_severity_first_with_match_basis(built):
    wh, tmp = built
    _write(wh, tmp)
    ws = openpyxl.load_workbook(tmp / "exports" / "2026-07" / f"{TOWN}_南山镇.xlsx")["预警清单"]
    rows = _table(ws)
    # both households have a 高 flag: village order (HD in 001); HD's two flags together, 高 first
    assert [r["户编号"] for r in rows] == ["HD", "HD", "HA"]
    assert [r["严重程度"] for r in rows] == ["高", "中", "高"]
    hd = [r for r in rows if r["户编号"] == "HD"]
    rank = {"高": 1, "中": 2, "低": 3}
    assert [rank[r["严重程度"]] for r in hd] == sorted(rank[r["严重程度"]] for r in hd)  # most severe first
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert "B3:B4" in merged  # 户编号 merged over HD's two rows
    basis = {r["预警规则"][:3]: r["比对依据"] for r in rows}
    assert basis["R04"] == "医保：概率匹配 0.97"
    assert basis["R02"] == "在册信息（低收入人口数据库）"


def test_print_setup_and_protection(built):
    wh, tmp = built
    _write(wh, tmp)
    ws = openpyxl.load_workbook(tmp / "exports" / "2026-07" / f"{TOWN}_南山镇.xlsx")["预警清单"]
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$1:$2"
    assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text
    assert ws.protection.sheet
    headers = [c.value for c in ws[2]]
    inputs = {"处置结果", "处置日期", "经办人", "备注"}
    for j, h in enumerate(headers, start=1):
        cell = ws.cell(3, j)
        assert cell.protection.locked is (h not in inputs), h  # only the input columns can be edited
    assert ws.cell(3, headers.index("标记编号") + 1).protection.locked


def test_summary_has_names_and_totals(built):
    wh, tmp = built
    _write(wh, tmp)
    ws = openpyxl.load_workbook(tmp / "exports" / "2026-07" / "汇总表.xlsx")["乡镇表"]
    headers = [c.value for c in ws[2]]
    rows = [dict(zip(headers, r)) for r in ws.iter_rows(min_row=3, values_only=True)]
    assert [r["乡镇（街道）名称"] for r in rows[:-1]] == ["南山镇", "金川街道"]
    total = rows[-1]
    assert total["县（区）代码"] == "合计"
    assert total["在册户数"] == sum(r["在册户数"] for r in rows[:-1]) == 3
    assert total["合计 全部规则 预警户数"] == 3
    assert total["合计 占在册户比例"] == pytest.approx(1.0)


def test_region_table_from_delivery_folder_wins_and_reads_gbk(tmp_path):
    folder = tmp_path / "2026-07"
    folder.mkdir()
    (folder / "regions.csv").write_bytes("代码,名称\n620102001, 南山镇 \n".encode("gb18030"))
    configured = tmp_path / "conf.csv"
    configured.write_text("code,name\n620102001,别的名字\n620102002,金川街道\n", encoding="utf-8")
    assert region_names(folder, configured) == {"620102001": "南山镇"}
    assert region_names(tmp_path / "none" / "2026-07", configured) == {"620102001": "别的名字", "620102002": "金川街道"}
    (tmp_path / "regions.csv").write_text("代码,名称\n620102001,根目录名\n", encoding="utf-8")
    assert region_names(tmp_path / "2026-08", configured) == {"620102001": "根目录名"}  # inbox root before config
    assert region_names(tmp_path / "none" / "2026-07", None) == {}
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_region_names(bad)


def test_held_households_are_listed_as_to_verify_with_the_reason(tmp_path):
    """A household a rule holds back (its evidence waits in the linkage review band) is listed
    in its township's 待核实 sheet with head, phone, 救助类别, members and the reason, diseases as
    categories; a township whose households are only held still gets its workbook."""
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b, c = fx.person("甲"), fx.person("乙"), fx.person("丙")
        fx.household(M1, "HA", [a], income=(S - 100) * 12, region="620102001002")  # R02, flagged
        fx.household(M1, "HB", [b], income=1.25 * S * 12, category="低保边缘", region="620102001001")
        fx.household(M1, "HC", [c], income=1.25 * S * 12, category="低保", region="620102002003")
        fx.claim(M1, b, 900, icd="C34.9", decision="review")  # R04 held
        fx.civil(M1, c, "死亡火化", decision="review")  # R06 held, the township's only household
        con.execute("UPDATE std.registry SET phone = ? WHERE household_id = 'HB'", [PHONE_A])
        run_rules(con, M1, PARAMS)
    _write(wh, tmp_path)
    own = openpyxl.load_workbook(tmp_path / "exports" / "2026-07" / f"{TOWN}_南山镇.xlsx")
    assert own.sheetnames == ["预警清单", "待核实", "家庭成员", "本月清零"]
    assert [r["户编号"] for r in _table(own["预警清单"])] == ["HA"]
    assert "待核实" in own["待核实"]["A1"].value and "1 户" in own["待核实"]["A1"].value
    rows = _table(own["待核实"])
    assert [(r["户编号"], r["预警规则"]) for r in rows] == [("HB", "R04 单人保候选")]
    held = rows[0]
    assert (held["村（社区）"], held["户主"], held["联系电话"], held["救助类别"]) == (
        "白水村",
        "乙",
        PHONE_A,
        "低保边缘",
    )
    assert held["家庭成员"].startswith("乙（")
    assert held["待核实原因"].startswith("单人保待核实：成员乙的近12个月重病就诊记录 恶性肿瘤")
    assert not ICD_PATTERN.search(_cells(own))
    other = openpyxl.load_workbook(tmp_path / "exports" / "2026-07" / f"{OTHER_TOWN}_金川街道.xlsx")
    assert _table(other["预警清单"]) == []
    assert [(r["户编号"], r["预警规则"][:3]) for r in _table(other["待核实"])] == [("HC", "R06")]
