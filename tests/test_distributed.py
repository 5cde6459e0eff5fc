"""The province job: region plan, store, exact pass, one-region reruns, and the same
answers on the distributed deployment (PostgreSQL instance, Celery with 2 workers,
4 regions) as in process, also after a worker is killed mid-step.

The distributed tests start PostgreSQL and Redis with pipelines/dist/servers.sh (as CI's
.ci/run does) and skip, saying why, when they cannot be started."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest

import quality
from lowincome import province as prov

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "data_samples" / "region_plan.yaml"
PARAMS = ROOT / "data_samples" / "params.yaml"
SERVERS = ROOT / "pipelines" / "dist" / "servers.sh"
WORKERS = ROOT / "pipelines" / "dist" / "workers.sh"
MONTHS = ["2026-07-01", "2026-08-01"]
JUL = dt.date(2026, 7, 1)


# --- plan, store and exact pass on their own ------------------------------------------------


def test_region_plan_longest_prefix_and_default(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("regions:\n  north: ['6201']\n  city: ['620102']\n  rest: []\ndefault: rest\n", encoding="utf-8")
    plan = prov.RegionPlan.load(path)
    counties = pl.Series(["620102", "620103", "630101", None])
    got = pl.select(plan.region_of(pl.lit(counties))).to_series().to_list()
    assert got == [
        "city",
        "north",
        "rest",
        prov.UNPLACED,
    ]  # no county: placed by the exact pass or linked province-wide
    path.write_text("regions:\n  a: ['62']\ndefault: b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="default region"):
        prov.RegionPlan.load(path)
    assert prov.RegionPlan.load(None).names == ["all"]


def test_store_reads_only_committed_attempts_and_replaces_one_region(tmp_path):
    store = prov.PartitionStore(tmp_path / "store")
    store.write("region", JUL, "a", {"links": pl.DataFrame({"x": [1, 2]})})
    store.write("region", JUL, "b", {"links": pl.DataFrame({"x": [3]})})
    # a half-written attempt (a killed step) is never read
    orphan = Path(store.partition("region", JUL, "a")) / "attempt=killed"
    orphan.mkdir()
    pl.DataFrame({"x": [99]}).write_parquet(orphan / "links.parquet")
    assert sorted(store.read("region", JUL, "links")["x"].to_list()) == [1, 2, 3]
    attempt_b = store.committed("region", JUL, "b")["attempt"]
    store.write("region", JUL, "a", {"links": pl.DataFrame({"x": [4]})})
    assert sorted(store.read("region", JUL, "links")["x"].to_list()) == [3, 4]
    assert store.committed("region", JUL, "b")["attempt"] == attempt_b  # the other region untouched
    assert [p.name for p in Path(store.partition("region", JUL, "a")).glob("attempt=*")] == [
        f"attempt={store.committed('region', JUL, 'a')['attempt']}"
    ]


def test_exact_pass_hands_a_moved_person_to_the_registry_region(tmp_path):
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text("regions:\n  east: ['620102']\n  west: ['620103']\ndefault: west\n", encoding="utf-8")
    plan = prov.RegionPlan.load(plan_path)
    store = prov.PartitionStore(tmp_path / "store")
    registry = pl.DataFrame(
        {"source_row": [1, 2, 3], "id_number": ["A", "B", "C"], "county_code": ["620102", "620103", "620103"]}
    )
    records = pl.DataFrame(
        {
            "source_row": [10, 11, 12, 13],
            "id_number": ["A", "B", None, "Z"],
            "county_code": ["620103", "620103", "620102", "620102"],
        }
    )
    for region in plan.names:
        store.write(
            "ingest/registry",
            JUL,
            region,
            {"std": registry.filter(pl.select(plan.region_of(pl.lit(registry["county_code"]))).to_series() == region)},
        )
    for source in ("civil_affairs", "health_insurance", "human_resources", "rural_revitalization"):
        rows = records if source == "civil_affairs" else records.head(0)
        for region in plan.names:
            own = rows.filter(
                pl.select(plan.region_of(pl.lit(rows["county_code"], dtype=pl.String))).to_series() == region
            )
            store.write(f"ingest/{source}", JUL, region, {"std": own})
    moved = prov.exact_pass(store, plan, JUL)
    assert moved["civil_affairs"] == 1  # record 10 (county west, ID of east's person 1)
    east = prov.region_records(store, "civil_affairs", JUL, "east")["source_row"].to_list()
    west = prov.region_records(store, "civil_affairs", JUL, "west")["source_row"].to_list()
    assert sorted(east) == [10, 12, 13] and west == [11]
    assert sorted(east + west) == [10, 11, 12, 13]  # nothing lost, nothing twice


# --- the sample month: in process, one-region rerun -----------------------------------------


def _config(sample: Path, out: Path) -> dict:
    from pipelines.province import province_run_config

    return province_run_config(sample / "inbox", out / "warehouse.duckdb", out / "exports", PARAMS, out / "store", PLAN)


def _fingerprints(out: Path) -> tuple[dict, dict]:
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        tables = prov.table_fingerprints(con)
    finally:
        con.close()
    return tables, prov.workbook_fingerprints(out / "exports")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from data_samples.generate import generate

    root = tmp_path_factory.mktemp("province_sample")
    generate(root, households=int(os.environ.get("DIST_SAMPLE_HOUSEHOLDS", "400")), months=2, start_month="2026-07")
    return root


@pytest.fixture(scope="module")
def in_process(sample, tmp_path_factory) -> Path:
    from pipelines.definitions import defs

    out = tmp_path_factory.mktemp("in_process")
    job = defs.resolve_job_def("province_monthly")
    for key in MONTHS:
        assert job.execute_in_process(run_config=_config(sample, out), partition_key=key).success
    return out


@pytest.mark.slow
def test_in_process_month_accounts_for_every_row(in_process):
    con = duckdb.connect(str(in_process / "warehouse.duckdb"), read_only=True)
    try:
        bad = con.execute(
            "SELECT count(*) FROM ops.load_audit WHERE rows_read <> rows_loaded + rows_quarantined"
        ).fetchone()[0]
        assert bad == 0
        for source in ("civil_affairs", "health_insurance", "human_resources", "rural_revitalization"):
            std, linked, distinct = con.execute(
                f"SELECT (SELECT count(*) FROM std.{source}), count(*), count(DISTINCT (month, source_row)) "
                "FROM linkage.links WHERE source = ?",
                [source],
            ).fetchone()
            assert std == linked == distinct > 0, source  # one link row per record: none lost, none twice
        regions = con.execute("SELECT count(DISTINCT county_code) FROM flags.risk_flags").fetchone()[0]
        assert regions == 4
        assert con.execute("SELECT count(*) FROM flags.month_status WHERE published").fetchone()[0] == 2
    finally:
        con.close()
    assert list((in_process / "exports" / "2026-08").glob("*.xlsx"))


@pytest.mark.slow
def test_rerun_of_one_region_replaces_only_that_region(in_process, sample, tmp_path):
    from lowincome.warehouse import Warehouse

    out = tmp_path / "rerun"
    shutil.copytree(in_process, out)
    before = _fingerprints(out)[0]
    store = prov.PartitionStore(out / "store")
    plan = prov.RegionPlan.load(PLAN)
    aug = dt.date(2026, 8, 1)
    attempts = {r: store.committed("rules", aug, r)["attempt"] for r in plan.names}
    # What a re-execution of steps link_region[xigu], rules_region[xigu] and publish does.
    prov.run_region(store, plan, sample / "inbox", PARAMS, aug, "xigu")
    prov.publish(store, plan, Warehouse(out / "warehouse.duckdb"), aug, linkage_checks=quality.linkage_results)
    after = {r: store.committed("rules", aug, r)["attempt"] for r in plan.names}
    assert after["xigu"] != attempts["xigu"]
    assert {r: a for r, a in after.items() if r != "xigu"} == {r: a for r, a in attempts.items() if r != "xigu"}
    assert _fingerprints(out)[0] == before  # same rows, none twice


# --- the distributed deployment -----------------------------------------------------------


def _sh(*args, timeout=180, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """PostgreSQL + Redis (started here unless already up) and 2 Celery workers."""
    try:
        import dagster_celery  # noqa: F401
        import dagster_postgres  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"distributed extras not installed (pip install -e '.[dist]'): {exc}")
    was_up = _sh(SERVERS, "status", timeout=30).returncode == 0
    if not was_up:
        try:
            started = _sh(SERVERS, "start", timeout=120)
        except subprocess.TimeoutExpired:
            pytest.skip("PostgreSQL/Redis did not start within 120 s (pipelines/dist/servers.sh start)")
        if started.returncode != 0:
            lines = (started.stderr or started.stdout or "no output").strip().splitlines()
            pytest.skip(f"PostgreSQL/Redis could not be started (pipelines/dist/servers.sh start): {lines[-1]}")
    env_lines = _sh(SERVERS, "env").stdout.split()
    dist_env = dict(line.split("=", 1) for line in env_lines if "=" in line)
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / "pipelines" / "dist" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, **dist_env, "DAGSTER_HOME": str(home)}
    workers = _sh(WORKERS, "start", "2", env=env, timeout=240)
    assert workers.returncode == 0, workers.stderr + workers.stdout
    saved = {k: os.environ.get(k) for k in (*dist_env, "DAGSTER_HOME")}
    os.environ.update({**dist_env, "DAGSTER_HOME": str(home)})
    try:
        yield home
    finally:
        _sh(WORKERS, "stop", env=env, timeout=120)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if not was_up:
            _sh(SERVERS, "stop", timeout=120)


def _celery_workers_of(instance, run_id: str) -> set[str]:
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    names = set()
    for rec in records:
        data = rec.event_log_entry.dagster_event.engine_event_data
        for entry in (data.metadata or {}).values() if data else []:
            text = getattr(entry, "text", None) or getattr(entry, "value", None)
            if isinstance(text, str) and "@" in text:
                names.add(text)
    return names


@pytest.mark.slow
def test_distributed_equals_in_process(deployment, sample, in_process, tmp_path):
    import dagster as dg

    from pipelines.dist_definitions import run_month_distributed

    out = tmp_path / "distributed"
    workers = set()
    for key in MONTHS:
        result = run_month_distributed(key, _config(sample, out))
        assert result.success, key
        workers |= _celery_workers_of(dg.DagsterInstance.get(), result.run_id)
    assert len(workers) == 2, workers  # both workers took steps
    tables, books = _fingerprints(out)
    ref_tables, ref_books = _fingerprints(in_process)
    assert set(tables) == set(ref_tables)
    differing = {t: (tables[t], ref_tables[t]) for t in tables if tables[t] != ref_tables[t]}
    assert not differing
    assert books and books == ref_books


@pytest.mark.slow
def test_killed_worker_is_retried_without_duplicates_or_gaps(deployment, sample, in_process, tmp_path):
    import dagster as dg

    from pipelines.dist_definitions import reexecute_from_failure, run_month_distributed
    from pipelines.province import KILL_TAG

    out = tmp_path / "killed"
    assert run_month_distributed(MONTHS[0], _config(sample, out)).success
    first = run_month_distributed(MONTHS[1], _config(sample, out), tags={KILL_TAG: "xigu"})
    assert not first.success  # the worker process running run_region[xigu] died
    part = Path(prov.PartitionStore(out / "store").partition("link", dt.date(2026, 8, 1), "xigu"))
    assert list(part.glob("attempt=killed-*"))  # its half-written output, never committed
    instance = dg.DagsterInstance.get()
    retried = reexecute_from_failure(first.run_id, instance)
    assert retried.success
    step_keys = {e.step_key for e in retried.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}
    assert "link_region[xigu]" in step_keys and "link_region[qilihe]" not in step_keys  # only what had not finished
    tables, books = _fingerprints(out)
    ref_tables, ref_books = _fingerprints(in_process)
    assert tables == ref_tables  # 0 duplicate and 0 missing rows in every table
    assert books == ref_books
