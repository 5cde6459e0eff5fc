"""The Dagster layer end to end: the monthly job on generated deliveries, reruns,
a month with a missing file, the sensor and the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from assets.ingestion import FAMILIES
from assets.resources import MonitorConfig
from data_samples.generate import generate
from lowincome.warehouse import Warehouse
from pipelines.cli import main as cli_main
from pipelines.cli import run_month
from pipelines.definitions import build_definitions, defs
from pipelines.sensors import complete_delivery_sensor

PARAMS = Path(__file__).resolve().parent.parent / "data_samples" / "params.yaml"
JULY, AUGUST = dt.date(2026, 7, 1), dt.date(2026, 8, 1)
TABLES = (
    "std.registry",
    "std.civil_affairs",
    "std.health_insurance",
    "std.human_resources",
    "std.rural_revitalization",
    "ops.load_audit",
    "ops.quarantine",
    "linkage.links",
    "flags.risk_flags",
    "dq.results",
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    generate(root, households=300, months=2, start_month="2026-07", seed=7, omit={("2026-08", "human_resources")})
    return root


def paths(root: Path, name: str) -> dict[str, str]:
    return {
        "inbox": str(root / "inbox"),
        "warehouse": str(root / f"{name}.duckdb"),
        "exports": str(root / f"{name}_exports"),
        "params": str(PARAMS),
    }


def snapshot(warehouse: str) -> dict[str, list]:
    with Warehouse(warehouse).reader() as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def test_definitions_hold_every_asset_job_schedule_and_sensor():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"std/registry", "linkage/health_insurance", "flags/risk_flags", "exports/quality_report"} <= keys
    assert defs.resolve_job_def("monthly_monitoring") is not None
    schedule = defs.resolve_schedule_def("monthly_monitoring_schedule")
    assert schedule.cron_schedule == "0 2 10 * *" and schedule.execution_timezone == "Asia/Shanghai"
    sensor = defs.resolve_sensor_def("complete_delivery_sensor")
    assert schedule.description and sensor.description
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:data"] and node.code_version and node.description, key
        assert node.tags.get("domain") == "lowincome_monitoring", key
    # one check per expectation family on each source, each partitioned like its asset
    checks = {
        (c.asset_key.to_user_string(), c.name): c for c in graph.asset_check_keys for c in [graph.get_check_spec(c)]
    }
    assert {("std/registry", f) for f in FAMILIES} <= set(checks)
    assert all(c.partitions_def is not None for k, c in checks.items() if k[0].startswith("std/"))
    # One partitions definition for every asset: `dagster asset materialize --partition` can select them all.
    assert len({repr(graph.get(k).partitions_def) for k in graph.get_all_asset_keys()}) == 1


@pytest.mark.slow
def test_month_runs_and_rerun_leaves_identical_tables(sample):
    p = paths(sample, "rerun")
    assert run_month(JULY, **p).success
    first = snapshot(p["warehouse"])
    assert len(first["std.registry"]) > 500 and len(first["linkage.links"]) > 500
    assert run_month(JULY, **p).success
    assert snapshot(p["warehouse"]) == first


@pytest.mark.slow
def test_materializations_carry_standard_metadata(sample):
    result = run_month(JULY, **paths(sample, "meta"))
    assert result.success
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    registry = meta["std/registry"]
    assert registry["dagster/row_count"].value == registry["rows_loaded"].value > 0
    columns = [c.name for c in registry["dagster/column_schema"].schema.columns]
    assert {"source_row", "household_id", "id_number"} <= set(columns)
    assert meta["linkage/civil_affairs"]["dagster/row_count"].value > 0
    flags = meta["flags/risk_flags"]
    per_rule = {k: v.value for k, v in flags.items() if k.startswith("active_flags_R")}
    assert len(per_rule) == 11 and all(isinstance(v, int) for v in per_rule.values())  # plottable, one per rule
    with Warehouse(paths(sample, "meta")["warehouse"]).reader() as con:
        active = dict(
            con.execute(
                "SELECT rule_code, count(*) FROM flags.risk_flags WHERE month = ? "
                "AND state IN ('新增', '持续') GROUP BY ALL",
                [JULY],
            ).fetchall()
        )
    assert {k[-3:]: v for k, v in per_rule.items() if v} == active
    checks = [
        e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert checks and all(c.partition == "2026-07-01" for c in checks if c.asset_key.path[0] == "std")


@pytest.mark.slow
def test_month_with_a_missing_file_still_runs_and_says_so(sample):
    p = paths(sample, "missing")
    assert run_month(JULY, **p).success
    assert run_month(AUGUST, **p).success
    with Warehouse(p["warehouse"]).reader() as con:
        status = dict(con.execute("SELECT source, status FROM ops.load_audit WHERE month = ?", [AUGUST]).fetchall())
        r05 = con.execute(
            "SELECT count(*) FROM flags.risk_flags WHERE month = ? AND rule_code = 'R05'", [AUGUST]
        ).fetchone()[0]
        others = con.execute("SELECT count(*) FROM flags.risk_flags WHERE month = ?", [AUGUST]).fetchone()[0]
    assert status["human_resources"] == "missing"
    assert status["registry"] == status["civil_affairs"] == "loaded"
    assert r05 == 0 and others > 0  # no R05 storm, the other rules still ran


@pytest.mark.slow
def test_every_delivered_row_is_loaded_or_quarantined(sample):
    p = paths(sample, "rerun")
    with Warehouse(p["warehouse"]).reader() as con:
        rows = con.execute(
            "SELECT source, rows_read, rows_loaded, rows_quarantined, manifest_rows FROM ops.load_audit "
            "WHERE status = 'loaded'"
        ).fetchall()
        stored = dict(
            con.execute(
                "SELECT source, count(*) FROM ops.quarantine WHERE month = ? GROUP BY source", [JULY]
            ).fetchall()
        )
    assert rows
    for source, read, loaded, quarantined, manifest_rows in rows:
        assert read == loaded + quarantined == manifest_rows, source
        assert stored.get(source, 0) == quarantined


def test_sensor_requests_only_complete_months(sample, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for month in ("2026-07", "2026-08"):
        (inbox / month).symlink_to(sample / "inbox" / month)
    # September without a manifest and with only the registry: not complete.
    (inbox / "2026-09").mkdir()
    (inbox / "2026-09" / "registry.csv").write_text("户编号,姓名\n", encoding="utf-8")
    config = MonitorConfig(**{**paths(sample, "sensor"), "inbox": str(inbox)})
    context = dg.build_sensor_context(resources={"monitor": config})
    first = complete_delivery_sensor(context)
    # August lacks human_resources, but its manifest does not list it: complete as delivered.
    assert sorted(r.partition_key for r in first) == ["2026-07-01", "2026-08-01"]
    again = complete_delivery_sensor(context)
    assert [r.run_key for r in again] == [r.run_key for r in first]  # unchanged delivery, same run keys


def test_cli_exits_nonzero_when_the_month_has_no_delivery(sample, capsys):
    p = paths(sample, "cli")
    args = ["run", "--month", "2030-01"] + [x for k, v in p.items() for x in (f"--{k}", v)]
    assert cli_main(args) != 0
    assert "2030-01" in capsys.readouterr().err


def test_options_override_environment(sample, monkeypatch):
    monkeypatch.setenv("MONITOR_WAREHOUSE", str(sample / "env.duckdb"))
    config = build_definitions(MonitorConfig(**paths(sample, "opt"))).resources["monitor"]
    assert config.warehouse.endswith("opt.duckdb")


@pytest.mark.slow
def test_registry_critical_failure_withholds_the_months_flags(sample, tmp_path):
    """A registry file that does not match its manifest is a critical finding:
    the month's flags are not published, Dagster shows the failed checks, and the
    auditor's report says why."""
    import shutil

    inbox = tmp_path / "inbox"
    shutil.copytree(sample / "inbox" / "2026-07", inbox / "2026-07")
    registry = next((inbox / "2026-07").glob("registry.*"))
    with registry.open("ab") as f:  # bytes no longer match the manifest's sha256
        f.write(b"\n")
    p = {**paths(sample, "withheld"), "inbox": str(inbox), "exports": str(tmp_path / "exports")}
    result = run_month(JULY, **p)
    assert result.success  # reported, not crashed on

    checks = {
        (
            e.asset_check_evaluation_data.asset_key.to_user_string(),
            e.asset_check_evaluation_data.check_name,
        ): e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    delivery = checks[("std/registry", "delivery")]  # the manifest checks' family
    assert delivery.passed is False and delivery.severity == dg.AssetCheckSeverity.ERROR
    assert delivery.partition == "2026-07-01"
    checks = {k: v.passed for k, v in checks.items()}
    assert checks[("flags/risk_flags", "flags_published")] is False
    with Warehouse(p["warehouse"]).reader() as con:
        assert con.execute("SELECT count(*) FROM flags.risk_flags WHERE month = ?", [JULY]).fetchone()[0] == 0
        failed = [
            r[0]
            for r in con.execute(
                "SELECT expectation FROM dq.results WHERE month = ? AND source = 'registry' AND NOT success "
                "AND severity = 'critical'",
                [JULY],
            ).fetchall()
        ]
    assert "manifest_sha256_match" in failed
    assert not list((tmp_path / "exports" / "2026-07").glob("*.xlsx"))  # no caseworker list goes out
    report = next((tmp_path / "exports" / "2026-07" / "dq").glob("*.html")).read_text(encoding="utf-8")
    assert "暂缓发布" in report and "manifest_sha256_match" in report
