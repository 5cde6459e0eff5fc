"""The harness shared by the tests (tests/conftest.py) and the benchmark scripts: generate a
sample with data_samples.generate, run it month by month through the real Dagster job (the
code path of `lowincome run`), and read what the pipeline wrote (flags, links, review share)
for grading with data_samples.truth.

An entry point: it imports the pipeline and the generator, nothing of ours imports it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from data_samples.generate import generate
from lowincome.warehouse import Warehouse, query_pl
from pipelines.cli import run_month

PARAMS = Path(__file__).resolve().parent.parent / "data_samples" / "params.yaml"


def warehouse_flags(warehouse: Path) -> pl.DataFrame:
    """Every row of flags.risk_flags (month, household_key, rule_code, fired, suppressed, state)."""
    with Warehouse(warehouse).reader() as con:
        return query_pl(con, "SELECT month, household_key, rule_code, fired, suppressed, state FROM flags.risk_flags")


def warehouse_held(warehouse: Path) -> pl.DataFrame:
    """The held rows (flags.held_back: month, household_key, rule_code): the workbook lists them
    all, as 待核实 or, where carried, as the active flag in 预警清单."""
    with Warehouse(warehouse).reader() as con:
        return query_pl(con, "SELECT DISTINCT month, household_key, rule_code FROM flags.held_back")


def warehouse_name_only(warehouse: Path) -> pl.DataFrame:
    """The linkage rows whose only identity evidence was a name: no valid or partial ID, no
    birth date, no link history (the comparison levels in linkage.links.detail); month,
    source, source_row, decision, name_rarity."""
    with Warehouse(warehouse).reader() as con:
        return query_pl(
            con,
            """SELECT month, source, source_row, decision, detail ->> '$.name_rarity' AS name_rarity
            FROM linkage.links
            WHERE detail ->> '$.id' = 'missing' AND detail ->> '$.birth' = 'missing'
              AND coalesce(detail ->> '$.history', 'missing') = 'missing' AND detail ->> '$.name' = 'exact'""",
        )


def review_share(warehouse: Path, month: dt.date | None = None) -> dict[str, tuple[int, int]]:
    """Per source, (records in the review band, records) over all months of linkage.links, or one."""
    where = "" if month is None else f" WHERE month = DATE '{month:%Y-%m-%d}'"
    with Warehouse(warehouse).reader() as con:
        df = query_pl(
            con,
            "SELECT source, count(*) FILTER (WHERE decision = 'review') AS review, count(*) AS n "
            f"FROM linkage.links{where} GROUP BY source ORDER BY source",
        )
    return {s: (int(r), int(n)) for s, r, n in df.iter_rows()}


def warehouse_links(warehouse: Path, month: dt.date | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted links, every linkage row = the loaded agency records) from linkage.links,
    for one month or all."""
    where = "" if month is None else f" AND month = DATE '{month:%Y-%m-%d}'"
    with Warehouse(warehouse).reader() as con:
        accepted = query_pl(
            con, f"SELECT month, source, source_row, registry_row FROM linkage.links WHERE decision = 'accept'{where}"
        )
        loaded = query_pl(con, f"SELECT month, source, source_row FROM linkage.links WHERE true{where}")
    return accepted, loaded


@dataclass
class SampleRun:
    root: Path
    months: list[dt.date]
    inbox: Path
    truth: Path
    warehouse: Path
    exports: Path
    results: list  # Dagster execution results, one per month


def run_sample(
    root: Path, households: int, months: int = 3, omit=None, hard: bool = False, rates=None, seed: int = 20261129
) -> SampleRun:
    """Generate deliveries (`hard` / `rates`: see data_samples.generate) and process them month
    by month with the Dagster job (the code path of `lowincome run`)."""
    summary = generate(
        root, households=households, months=months, start_month="2026-07", omit=omit, hard=hard, rates=rates, seed=seed
    )
    dates = summary.month_dates
    run = SampleRun(root, dates, root / "inbox", root / "truth", root / "warehouse.duckdb", root / "exports", [])
    for month in dates:
        result = run_month(
            month, inbox=str(run.inbox), warehouse=str(run.warehouse), exports=str(run.exports), params=str(PARAMS)
        )
        if not result.success:
            raise RuntimeError(f"monthly job failed for {month:%Y-%m}")
        run.results.append(result)
    return run
