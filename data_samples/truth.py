"""Grade a pipeline run against the generator's ground truth (`truth/links.csv`,
`truth/flags.csv`), and run a generated sample through the real monthly job.

Shared by the benchmarks (`benchmarks/grade_against_truth.py`, `bench_scale.py`)
and the tests; nothing here reads pipeline code except `run_sample`, which runs it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

PARAMS = Path(__file__).resolve().with_name("params.yaml")
LINK_KEY = ["month", "source", "source_row", "registry_row"]
FLAG_KEY = ["month", "household_key", "rule_code"]


@dataclass(frozen=True)
class Score:
    tp: int
    raised: int
    truth: int

    @property
    def precision(self) -> float:
        return self.tp / self.raised if self.raised else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.truth if self.truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        return (f"P={self.precision:.4f} R={self.recall:.4f} F1={self.f1:.4f} "
                f"(tp={self.tp}, raised={self.raised}, truth={self.truth})")


def score(truth: pl.DataFrame, got: pl.DataFrame, key: list[str]) -> Score:
    """Precision / recall of the distinct keys in `got` against those in `truth`."""
    t, g = truth.select(key).unique(), got.select(key).unique()
    return Score(t.join(g, on=key).height, g.height, t.height)


def true_links(truth_dir: Path, loaded: pl.DataFrame) -> pl.DataFrame:
    """True agency→registry links of the records that were loaded (`loaded`: month, source,
    source_row), as month (Date), source, source_row, registry_row (Int32). Records of people
    outside that month's registry and records quarantined at ingestion are left out."""
    cast = {"source_row": pl.Int32, "registry_row": pl.Int32}
    loaded = loaded.select(pl.col("month").cast(pl.Date), "source", pl.col("source_row").cast(pl.Int32)).unique()
    return (pl.scan_csv(Path(truth_dir) / "links.csv", schema_overrides=cast)
            .filter(pl.col("source") != "registry", pl.col("registry_row").is_not_null())
            .with_columns(pl.col("month").str.to_date())
            .join(loaded.lazy(), on=["month", "source", "source_row"])
            .select(LINK_KEY).collect())


def grade_links(truth: pl.DataFrame, accepted: pl.DataFrame) -> dict[str, Score]:
    """Per source, accepted links (month, source, source_row, registry_row; a review is not a
    link) against `true_links(...)`."""
    accepted = accepted.select(pl.col("month").cast(pl.Date), "source",
                               pl.col("source_row").cast(pl.Int32), pl.col("registry_row").cast(pl.Int32))
    sources = sorted(set(truth["source"].unique().to_list()) | set(accepted["source"].unique().to_list()))
    return {s: score(truth.filter(pl.col("source") == s), accepted.filter(pl.col("source") == s), LINK_KEY)
            for s in sources}


def grade_flags(truth_dir: Path, fired: pl.DataFrame) -> dict[str, Score]:
    """Per rule (and "*" for all), fired flags (month, household_key, rule_code) against
    truth/flags.csv."""
    tflags = pl.read_csv(Path(truth_dir) / "flags.csv").with_columns(pl.col("month").str.to_date())
    fired = fired.with_columns(pl.col("month").cast(pl.Date))
    out = {}
    for rule in sorted(tflags["rule_code"].unique()) + ["*"]:
        def sel(f: pl.DataFrame) -> pl.DataFrame:
            return f if rule == "*" else f.filter(pl.col("rule_code") == rule)
        out[rule] = score(sel(tflags), sel(fired), FLAG_KEY)
    return out


def warehouse_links(warehouse: Path, month: dt.date | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted links, every linkage row = the loaded agency records) from linkage.links,
    for one month or all."""
    from lowincome.warehouse import Warehouse, query_pl

    where = "" if month is None else f" AND month = DATE '{month:%Y-%m-%d}'"
    with Warehouse(warehouse).reader() as con:
        accepted = query_pl(con, f"SELECT month, source, source_row, registry_row FROM linkage.links "
                                 f"WHERE decision = 'accept'{where}")
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


def run_sample(root: Path, households: int, months: int = 3, omit=None) -> SampleRun:
    """Generate deliveries and process them month by month with the Dagster job
    (the code path of `lowincome run`)."""
    from data_samples.generate import generate
    from pipelines.cli import run_month

    summary = generate(root, households=households, months=months, start_month="2026-07", omit=omit)
    dates = summary.month_dates
    run = SampleRun(root, dates, root / "inbox", root / "truth", root / "warehouse.duckdb", root / "exports", [])
    for month in dates:
        result = run_month(month, inbox=str(run.inbox), warehouse=str(run.warehouse),
                           exports=str(run.exports), params=str(PARAMS))
        if not result.success:
            raise RuntimeError(f"monthly job failed for {month:%Y-%m}")
        run.results.append(result)
    return run
