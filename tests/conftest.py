"""Shared fixtures: one generated sample run through the real Dagster job,
reused by every test that grades the pipeline against the ground truth."""

from __future__ import annotations

import os

import pytest

# run_sample / SampleRun live in benchmarks.sample_run (shared with the benchmark scripts);
# re-exported here for the tests that import them from conftest.
from benchmarks.sample_run import PARAMS, SampleRun, run_sample  # noqa: F401


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> SampleRun:
    """1,000 households × 3 months (SAMPLE_HOUSEHOLDS overrides), shared by the
    tests that grade linkage and flags against the ground truth."""
    households = int(os.environ.get("SAMPLE_HOUSEHOLDS", "1000"))
    return run_sample(tmp_path_factory.mktemp("sample_run"), households)
