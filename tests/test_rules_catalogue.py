"""The rule catalogue read from the rule files' headers (README "Adding a rule"): a rule
file added to a rules directory appears in the catalogue, in flags.*, the workbook and
the report; malformed headers and outputs, and parameters a header does not declare,
fail loudly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from rules_fixtures import M1, PARAMS, Fixture

from lowincome.exports import write_caseworker_workbooks
from lowincome.rules import (
    HEADER_KEYS,
    OUTPUT_COLUMNS,
    PARAM_NAMES,
    RULES,
    RULES_DIR,
    RuleFileError,
    load_catalogue,
    param_values,
    read_header,
    run_rules,
)
from lowincome.warehouse import Warehouse, query_pl
from quality.report import report_context

S = 560  # rural standard of 620102 in PARAMS

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_example() -> str:
    """The worked example of the README's "Adding a rule": the test runs what the README shows."""
    section = README.read_text(encoding="utf-8").split("## Adding a rule", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


R12 = _readme_example()


@pytest.fixture()
def rules_dir(tmp_path):
    """A copy of sql/rules/ a test may add to or alter."""
    d = tmp_path / "rules"
    shutil.copytree(RULES_DIR, d)
    return d


def _write_r12(rules_dir: Path, body: str = R12) -> Path:
    """The example rule (or a variant of it) as rules_dir's R12 file."""
    path = rules_dir / "R12_large_out_of_pocket.sql"
    path.write_text(body, encoding="utf-8")
    return path


def _month_with_a_big_claim(tmp_path: Path) -> Warehouse:
    """A warehouse where H1 pays 5,000 yuan out of pocket in M1 (> its monthly standard 560); H2 pays 100."""
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b = fx.person("甲一"), fx.person("乙二")
        fx.household(M1, "H1", [a], income=60000)  # well above every income line: no R01-R03
        fx.household(M1, "H2", [b], income=60000)
        fx.claim(M1, a, 5000)
        fx.claim(M1, b, 100)
    return wh


# ---------------------------------------------------------------- the shipped catalogue
def test_every_rule_file_has_a_complete_header_and_reads_linked_views():
    assert list(RULES) == sorted(RULES) and len(RULES) == len(list(RULES_DIR.glob("R*.sql")))
    for rule in RULES.values():
        header = read_header(rule.path)
        assert set(HEADER_KEYS) <= set(header), rule.path.name
        assert rule.name == header["name"] and rule.severity in "高中低" and rule.action
        assert set(rule.params) <= set(PARAM_NAMES)
        # linked rows come from linked_<source>; nobody joins the links table by hand
        assert "linkage.links" not in rule.sql and "rule_links" not in rule.sql, rule.path.name
        for source in rule.sources:
            if source != "rural_revitalization" or rule.code != "R08":
                assert f"linked_{source}" in rule.sql, (rule.code, source)


def test_actions_with_parameters_are_filled_for_the_month():
    values = param_values(PARAMS)
    r09 = RULES["R09"]
    assert "{gradual_exit_months}" in r09.action
    assert r09.action_for(values) == f"启动救助渐退期（{PARAMS.gradual_exit_months}个月）"
    assert RULES["R01"].action_extra == {"not_assisted": "评估支出型困难或单人保"}


# ---------------------------------------------------------------- adding a rule
def test_a_new_rule_file_is_in_the_catalogue_flags_workbook_and_report(tmp_path, rules_dir):
    _write_r12(rules_dir)
    catalogue = load_catalogue(rules_dir)
    assert list(catalogue)[-1] == "R12" and "R12" not in RULES
    r12 = catalogue["R12"]
    assert (r12.name, r12.severity, r12.sources, r12.params) == (
        "本月大额自付",
        "中",
        ("health_insurance",),
        ("dibao_standard",),
    )

    wh = _month_with_a_big_claim(tmp_path)
    with wh.writer() as con:
        result = run_rules(con, M1, PARAMS, rules_dir=rules_dir)
        assert result.counts_by_rule["R12"] == 1 and "R12" in result.ran
        got = query_pl(
            con,
            "SELECT household_key, rule_name, severity, severity_rank, state, recommended_action, evidence_text "
            "FROM flags.risk_flags WHERE month = ? AND rule_code = 'R12'",
            [M1],
        ).rows()
        assert got == [
            (
                "H1",
                "本月大额自付",
                "中",
                2,
                "新增",
                "医疗救助（本月）",
                f"2026年7月个人自付医疗费用 5,000 元，超过全家月低保标准 {S} 元",
            )
        ]
        runs = dict(query_pl(con, "SELECT rule_code, status FROM flags.rule_runs WHERE month = ?", [M1]).rows())
        assert runs["R12"] == "ran" and len(runs) == len(RULES) + 1
        summary = query_pl(
            con,
            "SELECT rule_name, flagged_households FROM flags.summary_county WHERE month = ? AND rule_code = 'R12'",
            [M1],
        ).rows()
        assert summary == [("本月大额自付", 1)]
        report = report_context(con, M1)
        assert [r["rule_name"] for r in report["rules"]["rows"] if r["rule_code"] == "R12"] == ["本月大额自付"]
        paths = write_caseworker_workbooks(con, M1, tmp_path / "exports")
    town = next(p for p in paths if p.name != "汇总表.xlsx")
    ws = openpyxl.load_workbook(town)["预警清单"]
    cells = [c.value for row in ws.iter_rows() for c in row]
    assert "R12 本月大额自付" in cells and "医疗救助（本月）" in cells


def test_the_new_rule_is_skipped_like_any_other_when_its_source_is_missing(tmp_path, rules_dir):
    _write_r12(rules_dir)
    wh = _month_with_a_big_claim(tmp_path)
    with wh.writer() as con:
        con.execute("DELETE FROM ops.load_audit WHERE source = 'health_insurance'")
        result = run_rules(con, M1, PARAMS, rules_dir=rules_dir)
    assert "health_insurance" in result.skipped["R12"] and "R12" not in result.ran


# ---------------------------------------------------------------- malformed rule files
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("severity: 中", "severity: medium"), "severity"),
        (lambda t: t.replace("sources: [health_insurance]", "sources: [health]"), "sources"),
        (lambda t: t.replace("params: [dibao_standard]", "params: [dibao]"), "params"),
        (lambda t: re.sub(r"\naction:[^\n]*", "", t), "action"),
        (lambda t: t.replace("code: R12", "code: R13"), "code R13"),
        (lambda t: t.replace("action: 医疗救助（本月）", "action: 医疗救助（{edge_multiplier}）"), "edge_multiplier"),
        (lambda t: t.split("*/", 1)[1], "header"),
    ],
)
def test_a_malformed_header_is_refused(rules_dir, change, message):
    _write_r12(rules_dir, change(R12))
    with pytest.raises(RuleFileError, match=message):
        load_catalogue(rules_dir)


def test_a_duplicate_code_is_refused(rules_dir):
    _write_r12(rules_dir, R12.replace("code: R12", "code: R02")).rename(rules_dir / "R02_copy.sql")
    with pytest.raises(RuleFileError, match="R02"):
        load_catalogue(rules_dir)


def test_a_rule_reading_a_parameter_its_header_does_not_list_fails(tmp_path, rules_dir):
    # R12 reads edge_multiplier without declaring it: rule_ctx does not have it
    body = R12.replace("WHERE p.oop > hh.s * hh.size", "WHERE p.oop > c.edge_multiplier * hh.s * hh.size")
    _write_r12(rules_dir, body)
    wh = _month_with_a_big_claim(tmp_path)
    with wh.writer() as con, pytest.raises(Exception, match="edge_multiplier"):
        run_rules(con, M1, PARAMS, rules_dir=rules_dir)
    # declared, it runs
    _write_r12(rules_dir, body.replace("params: [dibao_standard]", "params: [dibao_standard, edge_multiplier]"))
    with wh.writer() as con:
        assert run_rules(con, M1, PARAMS, rules_dir=rules_dir).counts_by_rule["R12"] == 1


def test_a_rule_output_other_than_the_fixed_columns_fails(tmp_path, rules_dir):
    body = R12.replace("    NULL AS held_reason,\n", "")
    _write_r12(rules_dir, body)
    wh = _month_with_a_big_claim(tmp_path)
    with wh.writer() as con, pytest.raises(RuleFileError, match="held_reason"):
        run_rules(con, M1, PARAMS, rules_dir=rules_dir)
    assert OUTPUT_COLUMNS[5] == "held_reason"


def test_an_action_extra_key_the_header_does_not_define_fails(tmp_path, rules_dir):
    body = R12.replace("    NULL AS action_extra,", "    'urgent' AS action_extra,")
    _write_r12(rules_dir, body)
    wh = _month_with_a_big_claim(tmp_path)
    with wh.writer() as con, pytest.raises(RuleFileError, match="urgent"):
        run_rules(con, M1, PARAMS, rules_dir=rules_dir)
    # defined in the header, its words follow the action
    _write_r12(
        rules_dir,
        body.replace("params: [dibao_standard]", "action_extra:\n  urgent: 三日内入户\nparams: [dibao_standard]"),
    )
    with wh.writer() as con:
        run_rules(con, M1, PARAMS, rules_dir=rules_dir)
        action = con.execute("SELECT recommended_action FROM flags.risk_flags WHERE rule_code = 'R12'").fetchall()
    assert action == [("医疗救助（本月）；三日内入户",)]
