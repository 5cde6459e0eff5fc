"""Order, parameters, exports path, half-written exports (issue #11 items 9-10 and
the weak items): each case ends with the month refused before anything is
written, with a Chinese + English reason, or with a complete set of exports."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from faults.conftest import PARAMS, copy_inbox, run_paths
from lowincome.publish import MARKER, is_complete, publish_workbooks
from pipelines.cli import EXIT_NO_DELIVERY, main, run_month

JULY, AUGUST = dt.date(2026, 7, 1), dt.date(2026, 8, 1)


def _cli(p: dict, month: str) -> list[str]:
    return ["run", "--month", month] + [x for k, v in p.items() for x in (f"--{k}", v)]


def _refused_in_dagster(p: dict, month: dt.date) -> str:
    """Run the job: the first step fails, every other step is skipped, nothing is written."""
    result = run_month(month, log_level="ERROR", **p)
    assert not result.success
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert failed == ["ops__preflight"]
    done = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    assert done == []  # no ingestion, linkage, flags or export step ran
    assert not Path(p["warehouse"]).exists()  # not even an empty warehouse
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return " ".join(messages)


@pytest.mark.fault_kind("month_before_its_predecessor")
def test_month_whose_delivered_predecessor_has_not_run_is_refused(fault_base, tmp_path, capfd):
    inbox = copy_inbox(fault_base, tmp_path / "inbox")
    p = run_paths(tmp_path, inbox, "order")
    assert main(_cli(p, "2026-08")) == EXIT_NO_DELIVERY
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "上月 2026-07 已交付但尚未处理" in err[0] and "run 2026-07 first" in err[0]
    assert "2026-07" in _refused_in_dagster(p, AUGUST)


BAD_PARAMS = {
    "params_nan_standard": ("dibao_standard:\n  default: {urban: .nan, rural: 520}\n", "NaN"),
    "params_inf_ratio": (
        "dibao_standard:\n  default: {urban: 700, rural: 520}\nmedical_burden_ratio: .inf\n",
        "finite",
    ),
    "params_absurd_value": ("dibao_standard:\n  default: {urban: 1e12, rural: 520}\n", "plausible range"),
    "params_negative_months": (
        "dibao_standard:\n  default: {urban: 700, rural: 520}\ngradual_exit_months: -3\n",
        "plausible range",
    ),
}


@pytest.mark.fault_kind("bad_parameters")  # NaN, inf, absurd and negative values: one kind
@pytest.mark.parametrize("kind", sorted(BAD_PARAMS))
def test_bad_parameters_refuse_the_month_before_anything_is_written(fault_base, tmp_path, capfd, kind):
    inbox = copy_inbox(fault_base, tmp_path / "inbox")
    text, english = BAD_PARAMS[kind]
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS.read_text(encoding="utf-8").split("dibao_standard:")[0] + text, encoding="utf-8")
    p = {**run_paths(tmp_path, inbox, kind), "params": str(params)}
    assert main(_cli(p, "2026-07")) == EXIT_NO_DELIVERY
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "参数错误" in err[0] and english in err[0]
    assert not Path(p["warehouse"]).exists()
    message = _refused_in_dagster(p, JULY)
    assert "参数错误" in message and english in message


@pytest.mark.fault_kind("exports_path_unusable")
def test_unusable_exports_path_fails_before_the_month_is_published(fault_base, tmp_path, capfd):
    inbox = copy_inbox(fault_base, tmp_path / "inbox")
    blocker = tmp_path / "exports_is_a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    p = {**run_paths(tmp_path, inbox, "exports"), "exports": str(blocker / "sub")}
    assert main(_cli(p, "2026-07")) == EXIT_NO_DELIVERY
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "导出目录不可用" in err[0] and "exports path unusable" in err[0]
    assert "exports path unusable" in _refused_in_dagster(p, JULY)


@pytest.mark.fault_kind("killed_during_export")
def test_a_run_killed_while_moving_workbooks_leaves_no_set_that_looks_complete(tmp_path, monkeypatch):
    exports = tmp_path / "exports"

    def writer(names, fail_after=None):
        def write(root: Path) -> list[Path]:
            out = root / "2026-07"
            out.mkdir(parents=True, exist_ok=True)
            paths = []
            for i, n in enumerate(names):
                if fail_after is not None and i == fail_after:
                    raise RuntimeError("killed while writing")
                (out / n).write_bytes(n.encode() * 100)
                paths.append(out / n)
            return paths

        return write

    first = publish_workbooks(exports, JULY, writer(["甲镇.xlsx", "乙镇.xlsx", "汇总表.xlsx"]))
    assert len(first) == 3 and is_complete(exports, JULY)
    marker = json.loads((exports / "2026-07" / MARKER).read_text(encoding="utf-8"))
    assert sorted(f["name"] for f in marker["files"]) == sorted(p.name for p in first)

    # killed while writing (staging): the previous complete set stays in place, still complete
    with pytest.raises(RuntimeError):
        publish_workbooks(exports, JULY, writer(["甲镇.xlsx", "丙镇.xlsx", "汇总表.xlsx"], fail_after=2))
    assert is_complete(exports, JULY) and not (exports / "2026-07" / "丙镇.xlsx").exists()
    assert not (exports / ".staging").exists()  # the staging folder is cleaned up

    # killed while moving the new set into place: no marker, so the half set does not look complete
    real = os.replace
    moved = []

    def dying_replace(src, dst):
        if str(dst).endswith(".xlsx") and len(moved) == 1:
            raise KeyboardInterrupt("kill -9")
        moved.append(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        publish_workbooks(exports, JULY, writer(["甲镇.xlsx", "丙镇.xlsx", "汇总表.xlsx"]))
    monkeypatch.setattr(os, "replace", real)
    folder = exports / "2026-07"
    assert not (folder / MARKER).exists() and not is_complete(exports, JULY)
    assert len(list(folder.glob("*.xlsx"))) == 1  # the half set is there, but unmarked

    # the rerun completes it
    publish_workbooks(exports, JULY, writer(["甲镇.xlsx", "丙镇.xlsx", "汇总表.xlsx"]))
    assert is_complete(exports, JULY) and sorted(p.name for p in folder.glob("*.xlsx")) == [
        "丙镇.xlsx",
        "汇总表.xlsx",
        "甲镇.xlsx",
    ]


@pytest.mark.fault_kind("backfill_order")
def test_dagster_runs_the_flags_of_months_in_partition_order():
    import dagster as dg

    from assets.flags import RISK_FLAGS
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    assert RISK_FLAGS in graph.get(RISK_FLAGS).parent_keys  # depends on its own previous partition
    from assets.flags import risk_flags

    mapping = risk_flags.get_partition_mapping(RISK_FLAGS)
    assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert (mapping.start_offset, mapping.end_offset) == (-1, -1)


@pytest.mark.fault_kind("dispositions_conflict_resolution")
def test_conflicting_dispositions_follow_the_latest_date_never_row_order(tmp_path):
    """Hand-built warehouse (tests/rules_fixtures.py): three R02 flags of M1, each with two
    dispositions in M2 whose row order contradicts the rule."""
    from rules_fixtures import M1, M2, PARAMS, Fixture

    from lowincome.monthly import audit_dispositions
    from lowincome.rules import run_rules
    from lowincome.schema import flag_id
    from lowincome.warehouse import Warehouse, query_pl

    S = 560  # rural standard of 620102 in PARAMS
    with Warehouse(tmp_path / "w.duckdb").writer() as con:
        fx = Fixture(con)
        people = {}
        for m in (M1, M2):
            fx.loaded(m)
            for hid in ("LATE", "TIE", "UNDATED"):
                person = people.setdefault(hid, fx.person(f"户{hid}"))
                fx.household(m, hid, [person], income=(S - 100) * 12, category="其他")  # R02 keeps firing
        run_rules(con, M1, PARAMS)
        day = lambda d: dt.date(2026, 8, d)  # noqa: E731  (M2 is 2026-08)
        assert M2 == dt.date(2026, 8, 1)
        fx.disposition(M2, flag_id(M1, "R02", "LATE"), "核实不符", on=day(20))  # the latest date: applies
        fx.disposition(M2, flag_id(M1, "R02", "LATE"), "已纳入救助", on=day(5))  # last row, earlier date
        fx.disposition(M2, flag_id(M1, "R02", "TIE"), "已纳入救助", on=day(9))
        fx.disposition(M2, flag_id(M1, "R02", "TIE"), "核实不符", on=day(9))  # same date, disagrees: neither
        fx.disposition(M2, flag_id(M1, "R02", "UNDATED"), "已纳入救助", on=day(3))
        row = fx.disposition(M2, flag_id(M1, "R02", "UNDATED"), "核实不符")
        con.execute("UPDATE std.dispositions SET disposed_on = NULL WHERE month = ? AND source_row = ?", [M2, row])
        run_rules(con, M2, PARAMS)
        audit_dispositions(con, M2)
        got = {
            r["household_key"]: r
            for r in query_pl(
                con, "SELECT * FROM flags.risk_flags WHERE month = ? AND rule_code = 'R02'", [M2]
            ).iter_rows(named=True)
        }
        issues = query_pl(
            con,
            "SELECT row_number, reason_code FROM ops.returned_issues WHERE month = ? "
            "AND kind = 'dispositions' ORDER BY ALL",
            [M2],
        ).rows()
    assert (got["LATE"]["state"], got["LATE"]["closed_by"]) == ("已清零", "核实不符")
    assert (got["TIE"]["state"], got["TIE"]["closed_by"]) == ("持续", None)
    assert (got["UNDATED"]["state"], got["UNDATED"]["closed_by"]) == ("已清零", "已纳入救助")
    assert (6, "disposition_date_missing") in issues
    assert {(r, "disposition_conflict") for r in range(1, 7)} <= set(issues)
