"""Shared fixtures: one generated sample run through the real Dagster job,
reused by every test that grades the pipeline against the ground truth."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

PARAMS = Path(__file__).resolve().parent.parent / "data_samples" / "params.yaml"


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
        assert result.success, f"monthly job failed for {month:%Y-%m}"
        run.results.append(result)
    return run


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> SampleRun:
    """1,000 households × 3 months (SAMPLE_HOUSEHOLDS overrides), shared by the
    tests that grade linkage and flags against the ground truth."""
    households = int(os.environ.get("SAMPLE_HOUSEHOLDS", "1000"))
    return run_sample(tmp_path_factory.mktemp("sample_run"), households)
