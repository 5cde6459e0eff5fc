"""The Splink baseline of the benchmarks (benchmarks/splink_link.py) links a generated
month well enough to be a fair comparison: F1 >= 0.9 against the ground truth on
every agency source.

Splink is the optional `bench` extra (`pip install -e '.[dev,bench]'`); without it
these tests are skipped."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("splink", reason="Splink is the optional 'bench' extra: pip install -e '.[dev,bench]'")

from conftest import run_sample

from lowincome import schema
from lowincome.warehouse import Warehouse, query_pl

pytestmark = pytest.mark.slow  # a generated month through the Dagster job, then Splink on it
MODULE = Path(__file__).resolve().parent.parent / "benchmarks" / "splink_link.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("splink_link", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def splink_month(tmp_path_factory):
    """300 households, one month, through the Dagster job; std frames read back from the warehouse."""
    run = run_sample(tmp_path_factory.mktemp("splink_sample"), households=300, months=1)
    month = run.months[-1]
    with Warehouse(run.warehouse).reader() as con:
        registry = query_pl(con, "SELECT * FROM std.registry WHERE month = ?", [month])
        records = {s: query_pl(con, f"SELECT * FROM std.{s} WHERE month = ?", [month]) for s in schema.AGENCY_SOURCES}
    truth = pl.read_csv(
        run.truth / "links.csv", schema_overrides={"registry_row": pl.Int32, "source_row": pl.Int32}
    ).filter(pl.col("month") == f"{month:%Y-%m-%d}", pl.col("registry_row").is_not_null())
    return _load_module(), registry, records, truth


@pytest.mark.parametrize("source", schema.AGENCY_SOURCES)
def test_splink_f1_on_generated_month(splink_month, source):
    module, registry, records, truth_all = splink_month
    frame = records[source]
    assert frame.height > 0
    links = module.link_with_splink(registry, frame, source)
    assert links.schema == pl.Schema(
        {"source_row": pl.Int32, "registry_row": pl.Int32, "match_probability": pl.Float64}
    )
    assert links["source_row"].is_unique().all(), "one link per record at most"
    assert (links["match_probability"] >= 0.9).all()
    assert set(links["source_row"].to_list()) <= set(frame["source_row"].to_list())
    assert set(links["registry_row"].to_list()) <= set(registry["source_row"].to_list())

    key = ["source_row", "registry_row"]
    # records quarantined at ingestion are not in std and are left out of the truth
    truth = (
        truth_all.filter(pl.col("source") == source)
        .select(key)
        .join(frame.select(pl.col("source_row").cast(pl.Int32)), on="source_row")
    )
    assert truth.height > 0
    tp = links.select(key).join(truth, on=key).height
    precision, recall = tp / max(links.height, 1), tp / truth.height
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    assert f1 >= 0.9, (
        f"{source}: P={precision:.3f} R={recall:.3f} F1={f1:.3f} (links={links.height}, true={truth.height})"
    )


def test_splink_empty_records_give_no_links(splink_month):
    module, registry, records, _ = splink_month
    empty = records["human_resources"].head(0)
    out = module.link_with_splink(registry, empty, "human_resources")
    assert out.height == 0 and list(out.columns) == ["source_row", "registry_row", "match_probability"]
