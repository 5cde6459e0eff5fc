"""Returned files, privacy and month order end to end (issue #11 items 9, 11-13 and
the dispositions items), on one generated sample run through the Dagster job:

  07 with IDs, phones and a bank card seeded in free text (备注, an unknown column,
     malformed lines) -> review lists issued
  07 again with a returned review list (one genuine decision, one with a changed
     候选人员键, one made-up row) and a corrupt returned file
  08 with dispositions carrying an unknown flag ID, conflicting duplicates and an
     unparseable 处置日期 (the corrupt review file is still in 07's folder)
  07 once more after 08: refused

Each test asserts one outcome and that nothing went missing or changed unreported.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from faults.conftest import copy_inbox, refresh_manifest, run_paths
from lowincome.normalize import make_id_number
from lowincome.publish import is_complete
from lowincome.warehouse import Warehouse, query_pl
from pipelines.cli import EXIT_NO_DELIVERY, main, run_month

JULY, AUGUST = dt.date(2026, 7, 1), dt.date(2026, 8, 1)
# three full months through the Dagster job (~2 min on a shared machine): marked slow
pytestmark = pytest.mark.slow
SEEDED_IDS = [make_id_number("620102", dt.date(1970 + i, 3, 9), 100 + i) for i in range(6)]
SEEDED_PHONES = [f"1390931{i:04d}" for i in range(1, 7)]
SEEDED_CARD = "6222021234567890123"
PRIVACY_SOURCE = "rural_revitalization"


def _seed_free_text(folder: Path) -> int:
    """IDs, phones and a bank card in 备注, in an unknown column and in malformed lines of a CSV."""
    path = next(folder.glob(f"{PRIVACY_SOURCE}.csv"))
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, data = rows[0], [r for r in rows[1:] if r]
    if "备注" not in header:  # optional column: add it
        header, data = header + ["备注"], [r + [""] for r in data]
    note = header.index("备注")
    header = header + ["备用联系电话"]
    for i, row in enumerate(data):
        extra = ""
        if i < 6:
            row[note] = f"户主身份证{SEEDED_IDS[i]}，电话{SEEDED_PHONES[i]}，卡号{SEEDED_CARD}"
            extra = f"{SEEDED_PHONES[(i + 1) % 6]} / {SEEDED_IDS[(i + 2) % 6]}"
        row.append(extra)
    malformed = [
        [f"联系人身份证 {SEEDED_IDS[0]}", f"电话 {SEEDED_PHONES[0]}", "多", "出", "的", "字段"] + [""] * len(header),
        [f"{SEEDED_IDS[1]},{SEEDED_PHONES[1]}"],
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(data[:10] + malformed + data[10:])
    path.write_bytes(out.getvalue().encode("utf-8"))
    refresh_manifest(folder, path.name, rows=len(data) + len(malformed))
    return len(data) + len(malformed)


def _run(p: dict, month: dt.date) -> tuple[object, str]:
    """Run the month with the Dagster job, collecting everything it logs."""
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
        result = run_month(month, log_level="DEBUG", **p)
    texts = [buffer.getvalue()]
    for event in result.all_events:
        texts.append(str(event.message or ""))
        data = event.event_specific_data
        for attr in ("materialization", "asset_check_evaluation_data"):
            if hasattr(data, attr):
                texts.append(repr(getattr(data, attr).metadata))
        if event.event_type_value in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"):
            texts.append(repr(data))
    return result, "\n".join(texts)


def _tamper_review_list(issued: Path, dest: Path) -> dict:
    """One genuine decision, one with another candidate's 候选人员键, one made-up row."""
    wb = openpyxl.load_workbook(issued)
    ws = wb["待复核匹配"]
    head = [c.value for c in ws[1]]
    col = {h: head.index(h) + 1 for h in head}
    rows = list(range(2, ws.max_row + 1))
    assert len(rows) >= 3, "the sample must issue at least three review rows"
    tokens = [ws.cell(r, col["候选人员键"]).value for r in rows]
    genuine, changed = rows[0], rows[1]
    forged_token = next(t for t in tokens if t != ws.cell(changed, col["候选人员键"]).value)
    ws.cell(genuine, col["人工判定"]).value = "同一人"
    ws.cell(changed, col["人工判定"]).value = "同一人"
    ws.cell(changed, col["候选人员键"]).value = forged_token
    made_up = ws.max_row + 1
    for c in range(1, len(head) + 1):
        ws.cell(made_up, c).value = ws.cell(rows[2], c).value
    ws.cell(made_up, col["候选人员键"]).value = tokens[0]
    ws.cell(made_up, col["人工判定"]).value = "同一人"
    wb.save(dest)
    cell = lambda r, h: ws.cell(r, col[h]).value  # noqa: E731
    return {
        "source": cell(genuine, "来源代码"),
        "genuine": (int(float(cell(genuine, "来源行号"))), cell(genuine, "候选人员键")),
        "changed": (int(float(cell(changed, "来源行号"))), forged_token, changed - 1),  # data row
        "made_up": (int(float(cell(made_up, "来源行号"))), tokens[0], made_up - 1),
    }


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    from data_samples.generate import generate

    root = tmp_path_factory.mktemp("returns")
    # the hard profile (blank IDs, namesakes): a small month whose review lists have rows to return
    generate(root / "base", households=150, months=2, start_month="2026-07", seed=23, hard=True)
    inbox = copy_inbox(root / "base", root / "inbox")
    seeded_rows = _seed_free_text(inbox / "2026-07")
    p = run_paths(root, inbox, "returns")
    logs = []

    first, text = _run(p, JULY)
    assert first.success
    logs.append(text)
    review_dir = Path(p["exports"]) / "2026-07" / "review"
    issued = max(review_dir.glob("*.xlsx"), key=lambda f: len(openpyxl.load_workbook(f)["待复核匹配"]["A"]))
    returned = inbox / "2026-07" / issued.name
    tampered = _tamper_review_list(issued, returned)
    (inbox / "2026-07" / "review_decisions_corrupt.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")

    again, text = _run(p, JULY)
    logs.append(text)
    with Warehouse(p["warehouse"]).reader() as con:
        flags = query_pl(
            con,
            "SELECT flag_id, household_key, rule_code FROM flags.risk_flags WHERE month = ? AND fired ORDER BY flag_id",
            [JULY],
        )
    disp = _write_dispositions(inbox / "2026-08", flags)

    august, text = _run(p, AUGUST)
    logs.append(text)
    with Warehouse(p["warehouse"]).reader() as con:
        before = {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("flags.risk_flags", "linkage.links", "ops.load_audit")
        }
    return {
        "root": root,
        "inbox": inbox,
        "paths": p,
        "results": [first, again, august],
        "logs": logs,
        "tampered": tampered,
        "returned": returned,
        "dispositions": disp,
        "before": before,
        "seeded_rows": seeded_rows,
    }


def _write_dispositions(folder: Path, flags: pl.DataFrame) -> dict:
    """Append to 08's dispositions: an unknown flag ID, a conflict with different dates (the
    earlier one last, so row order would pick it), a conflict with the same date, a bad date."""
    path = folder / "dispositions.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    assert flags.height >= 3
    f1, f2, f3 = flags["flag_id"][0], flags["flag_id"][1], flags["flag_id"][2]
    start = ws.max_row + 1
    rows = [
        ["202607-R99-DEADBEEF", "已纳入救助", dt.datetime(2026, 8, 5), "张三", ""],
        [f1, "已纳入救助", dt.datetime(2026, 8, 20), "李四", "后处理"],
        [f1, "核实不符", dt.datetime(2026, 8, 2), "王五", "先处理"],
        [f2, "已纳入救助", dt.datetime(2026, 8, 9), "赵六", ""],
        [f2, "核实不符", dt.datetime(2026, 8, 9), "钱七", ""],
        [f3, "核实不符", "下周一", "孙八", ""],
    ]
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            ws.cell(start + i, j + 1).value = v
    wb.save(path)
    manifest = json.loads((folder / "_MANIFEST.json").read_text(encoding="utf-8-sig"))
    old = manifest["files"]["dispositions.xlsx"]["rows"]
    refresh_manifest(folder, "dispositions.xlsx", rows=old + len(rows))
    return {"unknown": "202607-R99-DEADBEEF", "latest_wins": f1, "tie": f2, "bad_date": f3, "first_row": start - 1}


# ---------------------------------------------------------------------------- privacy
def _sensitive_values(warehouse: str) -> set[str]:
    values = set(SEEDED_IDS) | set(SEEDED_PHONES) | {SEEDED_CARD}
    with Warehouse(warehouse).reader() as con:
        for table, column in con.execute(
            "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'std' AND column_name IN ('id_number', 'id_number_raw', 'phone')"
        ).fetchall():
            values |= {str(v).strip() for (v,) in con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall() if v}
    return {re.sub(r"\s", "", v).upper() for v in values if len(re.sub(r"\D", "", v)) >= 11}


def _hits(text: str, values: set[str], where: str) -> list[str]:
    runs = re.findall(r"[0-9Xx０-９]{11,}", text.translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    return [f"{where}: {run}" for run in runs for v in values if v in run.upper()]


def _workbook_text(path: Path, township: bool) -> str:
    wb = openpyxl.load_workbook(path, read_only=True)
    parts = []
    for ws in wb.worksheets:
        phone_cols: set[int] = set()
        for r, row in enumerate(ws.iter_rows(values_only=True)):
            if township and r < 6:
                phone_cols |= {j for j, v in enumerate(row) if v == "联系电话"}
            parts += [str(v) for j, v in enumerate(row) if v is not None and j not in phone_cols]
    return "\n".join(parts)


@pytest.mark.fault_kind("personal_data_in_any_artefact")
def test_no_id_phone_or_card_in_any_artefact_of_the_run(story):
    values = _sensitive_values(story["paths"]["warehouse"])
    assert set(SEEDED_IDS) <= values and len(values) > 100
    hits = []
    for i, text in enumerate(story["logs"]):
        hits += _hits(text, values, f"log of run {i + 1}")
    exports = Path(story["paths"]["exports"])
    files = [f for f in exports.rglob("*") if f.is_file()]
    assert any(f.suffix == ".html" for f in files) and any("review" in f.parts for f in files)
    for f in files:
        if f.suffix == ".xlsx":
            township = "review" not in f.parts and f.name != "汇总表.xlsx"
            hits += _hits(_workbook_text(f, township), values, str(f.relative_to(exports)))
        elif f.suffix in (".html", ".json", ".txt", ".csv", ".js"):
            hits += _hits(f.read_text(encoding="utf-8", errors="replace"), values, str(f.relative_to(exports)))
    assert hits == []
    # the seeded rows are in the warehouse (nothing lost to get privacy): loaded or quarantined
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        read, loaded, quarantined = con.execute(
            "SELECT rows_read, rows_loaded, rows_quarantined FROM ops.load_audit WHERE month = ? AND source = ?",
            [JULY, PRIVACY_SOURCE],
        ).fetchone()
    assert read == loaded + quarantined == story["seeded_rows"] and quarantined >= 2
    report = next((exports / "2026-07" / "dq").glob("*.html")).read_text(encoding="utf-8")
    assert "备用联系电话" in report  # the unknown column is reported, its values masked


# ----------------------------------------------------------------------- review lists
def _links(story, month: dt.date, source: str) -> pl.DataFrame:
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        return query_pl(con, "SELECT * FROM linkage.links WHERE month = ? AND source = ?", [month, source])


@pytest.mark.fault_kind("returned_review_row_altered_or_made_up")
def test_returned_review_rows_apply_only_when_signed_as_issued(story):
    from lowincome.linkage.clerical import person_token

    t = story["tampered"]
    links = _links(story, JULY, t["source"]).with_columns(
        token=pl.col("registry_person_key").map_elements(person_token, return_dtype=pl.String)
    )
    row = lambda n: links.filter(pl.col("source_row") == n).row(0, named=True)  # noqa: E731
    genuine = row(t["genuine"][0])
    assert (genuine["method"], genuine["decision"], genuine["token"]) == ("clerical", "accept", t["genuine"][1])
    changed = row(t["changed"][0])
    assert changed["token"] != t["changed"][1] and changed["method"] != "clerical"
    made_up = row(t["made_up"][0])
    assert not (made_up["method"] == "clerical" and made_up["token"] == t["made_up"][1])
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        issues = con.execute(
            "SELECT file, row_number FROM ops.returned_issues WHERE month = ? AND "
            "reason_code = 'review_signature_mismatch' ORDER BY row_number",
            [JULY],
        ).fetchall()
        files = dict(
            con.execute(
                "SELECT file, rows_applied FROM ops.returned_files WHERE month = ? AND kind = 'review_decisions'",
                [JULY],
            ).fetchall()
        )
    assert issues == [(story["returned"].name, t["changed"][2]), (story["returned"].name, t["made_up"][2])]
    assert files[story["returned"].name] == 1
    report = next((Path(story["paths"]["exports"]) / "2026-07" / "dq").glob("*.html")).read_text(encoding="utf-8")
    assert report.count('data-returned-issue="review_signature_mismatch"') == 2
    # every record still has exactly one link row (nothing lost)
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        n = con.execute(f"SELECT count(*) FROM std.{t['source']} WHERE month = ?", [JULY]).fetchone()[0]
    assert links.height == n == links["source_row"].n_unique()


@pytest.mark.fault_kind("corrupt_returned_review_file")
def test_corrupt_returned_file_is_quarantined_and_no_month_fails(story):
    assert all(r.success for r in story["results"])  # 07 rerun and the later 08 both complete
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        rows = con.execute(
            "SELECT month, status, error FROM ops.returned_files WHERE file = 'review_decisions_corrupt.xlsx'"
        ).fetchall()
    assert [(m, s) for m, s, _ in rows] == [(JULY, "corrupt")] and "无法读取" in rows[0][2]
    assert "returned_file_corrupt" in story["logs"][1]  # a warning in the run's log
    report = next((Path(story["paths"]["exports"]) / "2026-07" / "dq").glob("*.html")).read_text(encoding="utf-8")
    assert 'data-returned-status="corrupt"' in report


@pytest.mark.fault_kind("clerical_decision_against_exact_id")
def test_exact_id_link_is_overridden_only_by_an_explicit_decision(story):
    from lowincome.linkage import LinkageSettings, link_source
    from lowincome.linkage.clerical import person_token, record_tokens

    source = story["tampered"]["source"]
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        registry = query_pl(con, "SELECT * FROM std.registry WHERE month = ? ORDER BY source_row", [JULY])
        records = query_pl(con, f"SELECT * FROM std.{source} WHERE month = ? ORDER BY source_row", [JULY])
    base = link_source(registry, records, source, LinkageSettings())
    exact = base.links.filter((pl.col("method") == "exact_id") & (pl.col("decision") == "accept")).row(0, named=True)
    other = registry.filter(pl.col("person_key") != exact["registry_person_key"])["person_key"][0]
    idx = records["source_row"].to_list().index(exact["source_row"])
    key = record_tokens(records, source)[idx]

    def decide(decision: str):
        clerical = pl.DataFrame(
            {
                "month": [JULY],
                "source": [source],
                "source_row": [None],
                "registry_person_key": [person_token(other)],
                "decision": [decision],
                "record_key": [key],
            },
            schema_overrides={"source_row": pl.Int32},
        )
        res = link_source(registry, records, source, LinkageSettings(), clerical=clerical)
        return res, res.links.filter(pl.col("source_row") == exact["source_row"]).row(0, named=True)

    res, row = decide("match")  # a carried-over 同一人 must not silently replace an exact-ID link
    assert (row["method"], row["registry_person_key"]) == ("exact_id", exact["registry_person_key"])
    assert res.metrics["clerical_refused_exact_id"] == 1
    res, row = decide("match_override")  # 推翻身份证号匹配: explicit, applied and reported
    assert (row["method"], row["registry_person_key"]) == ("clerical", other)
    assert "clerical_override_exact_id" in row["detail"] and res.metrics["clerical_overrode_exact_id"] == 1


# ----------------------------------------------------------------------- dispositions
@pytest.mark.fault_kind("dispositions_unknown_conflicting_undated")
def test_dispositions_problems_are_reported_and_conflicts_follow_the_latest_date(story):
    d = story["dispositions"]
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        issues = query_pl(
            con,
            "SELECT row_number, reason_code, reason FROM ops.returned_issues WHERE month = ? "
            "AND kind = 'dispositions' ORDER BY row_number, reason_code",
            [AUGUST],
        )
        std = query_pl(
            con, "SELECT source_row, flag_id, disposition, disposed_on FROM std.dispositions WHERE month = ?", [AUGUST]
        )
        read, loaded, quarantined = con.execute(
            "SELECT rows_read, rows_loaded, rows_quarantined FROM ops.load_audit WHERE month = ? AND source = 'dispositions'",
            [AUGUST],
        ).fetchone()
    assert read == loaded + quarantined
    first = d["first_row"]
    by_row = {(r, c) for r, c, _ in issues.iter_rows()}
    assert (first, "unknown_flag_id") in by_row
    assert {(first + 1, "disposition_conflict"), (first + 2, "disposition_conflict")} <= by_row
    assert {(first + 3, "disposition_conflict"), (first + 4, "disposition_conflict")} <= by_row
    bad_date = std.filter(pl.col("flag_id") == d["bad_date"])
    if bad_date.height:  # loaded with the date nulled -> reported per row
        assert (first + 5, "disposition_date_missing") in by_row
    else:  # or quarantined with its own reason
        assert quarantined >= 1
    reasons = {(r, c): t for r, c, t in issues.iter_rows()}
    assert "2026-08-20" in reasons[(first + 2, "disposition_conflict")]  # the latest date wins, not the last row
    assert "均未采用" in reasons[(first + 3, "disposition_conflict")]
    report = next((Path(story["paths"]["exports"]) / "2026-08" / "dq").glob("*.html")).read_text(encoding="utf-8")
    assert 'data-returned-issue="unknown_flag_id"' in report and 'data-returned-issue="disposition_conflict"' in report
    with Warehouse(story["paths"]["warehouse"]).reader() as con:
        tie = con.execute(
            "SELECT f.closed_by FROM flags.risk_flags f JOIN flags.risk_flags p ON p.household_key = f.household_key "
            "AND p.rule_code = f.rule_code WHERE p.flag_id = ? AND f.month = ?",
            [d["tie"], AUGUST],
        ).fetchall()
        latest = con.execute(
            "SELECT f.closed_by FROM flags.risk_flags f JOIN flags.risk_flags p ON p.household_key = f.household_key "
            "AND p.rule_code = f.rule_code WHERE p.flag_id = ? AND f.month = ?",
            [d["latest_wins"], AUGUST],
        ).fetchall()
    assert all(c not in ("已纳入救助", "核实不符") for (c,) in tie)  # a disagreeing tie applies neither
    assert all(c != "核实不符" for (c,) in latest)  # row order (the last row) does not decide


# ----------------------------------------------------------------------- order, completeness
@pytest.mark.fault_kind("month_after_a_later_month")
def test_running_an_earlier_month_after_a_later_one_is_refused_and_changes_nothing(story, capfd):
    p = story["paths"]
    args = ["run", "--month", "2026-07"] + [x for k, v in p.items() for x in (f"--{k}", v)]
    assert main(args) == EXIT_NO_DELIVERY
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2026-08" in err[0] and "refused" in err[0]
    result = run_month(JULY, log_level="ERROR", **p)
    assert not result.success and [e.step_key for e in result.all_events if e.is_step_failure] == ["ops__preflight"]
    with Warehouse(p["warehouse"]).reader() as con:
        after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in story["before"]}
    assert after == story["before"]


@pytest.mark.fault_kind("exports_marked_complete")
def test_each_months_workbooks_are_a_complete_marked_set(story):
    exports = Path(story["paths"]["exports"])
    for month in (JULY, AUGUST):
        assert is_complete(exports, month), month
        assert list((exports / f"{month:%Y-%m}").glob("*.xlsx"))
    assert not (exports / ".staging").exists()
