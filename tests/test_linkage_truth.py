"""Linkage against the sample generator's ground truth (data_samples/generate/).

Per source: link precision and recall over the std records (records the ingestion
quarantined are absent from std and left out), computed and asserted >= 0.995.
"""

from __future__ import annotations

import datetime as dt
import os

import polars as pl
import pytest

from data_samples import generate
from lowincome import ingest
from lowincome.linkage import LinkageSettings, link_source
from lowincome.schema import AGENCY_SOURCES

HOUSEHOLDS = int(os.environ.get("LINKAGE_TEST_HOUSEHOLDS", "1000"))
MONTHS = 2


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    generate.generate(out, households=HOUSEHOLDS, months=MONTHS, start_month="2026-07", seed=11)
    return out


def _month_dirs(root):
    return sorted(p for p in (root / "inbox").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def linked(samples):
    truth = pl.read_csv(samples / "truth" / "links.csv", try_parse_dates=True)
    rows = []
    metrics = {}
    twins = []  # registry rows sharing (township, name) with another registry person
    namesakes = []  # agency records without an ID sharing (village, name) with a registry person
    for mdir in _month_dirs(samples):
        month = dt.date(int(mdir.name[:4]), int(mdir.name[5:7]), 1)
        registry = ingest.load_delivery(ingest.find_delivery(mdir, "registry"), "registry", month).data
        twins.append(
            registry.filter(pl.len().over("township_code", "name") > 1)
            .drop_nulls("township_code")
            .select("month", pl.col("source_row").cast(pl.Int32).alias("registry_row"))
        )
        for source in AGENCY_SOURCES:
            path = ingest.find_delivery(mdir, source)
            if path is None:
                continue
            records = ingest.load_delivery(path, source, month).data
            res = link_source(registry, records, source, LinkageSettings())
            if "village_code" in records.columns:
                namesakes.append(
                    records.filter(pl.col("id_number").is_null())
                    .join(registry.select("name", "village_code").unique(), on=["name", "village_code"])
                    .select(
                        pl.lit(month).alias("month"),
                        pl.lit(source).alias("source"),
                        pl.col("source_row").cast(pl.Int32),
                    )
                )
            assert res.links.height == records.height
            metrics[(month, source)] = res.metrics
            t = truth.filter((pl.col("month") == month) & (pl.col("source") == source)).select(
                pl.col("source_row").cast(pl.Int32), pl.col("registry_row").cast(pl.Int32).alias("true_row")
            )
            # every linked record is a std record (quarantined rows never reach linkage); the
            # left join adds its true registry row, null for people outside the registry
            rows.append(res.links.join(t, on="source_row", how="left"))
    return pl.concat(rows), metrics, pl.concat(twins), pl.concat(namesakes)


# Measured shortfalls on the realistic defaults (data_samples/corruption.yaml): the test
# turns red the day the pipeline meets the threshold (strict xfail); never a lower threshold.
_SHORT = {
    "human_resources": "measured 2026-11-29 15:50 (1,000 households, seed 11, realistic defaults, each month "
    "linked without the earlier months' history): P=1.0000, R=0.9753: registry persons' 养老金发放/社保缴费/"
    "公益性岗位 records with a blank ID and no region wait in review (name alone is not evidence for a record anyone "
    "can have; with history and earlier deliveries, as the monthly job runs, R=0.9875 and review 0.78% on the 3-month sample, measured 2026-11-29 21:25)",
}


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=_SHORT[s])) if s in _SHORT else s
        for s in AGENCY_SOURCES
    ],
)
def test_precision_recall_per_source(linked, source):
    links, _, _, _ = linked
    j = links.filter(pl.col("source") == source)
    assert j.height > 0
    acc = j.filter(pl.col("decision") == "accept")
    tp = int((acc["registry_row"] == acc["true_row"]).fill_null(False).sum())
    positives = int(j["true_row"].is_not_null().sum())
    precision = tp / max(acc.height, 1)
    recall = tp / max(positives, 1)
    print(f"{source}: P={precision:.4f} R={recall:.4f} accepted={acc.height} true={positives}")
    assert positives > 0
    assert precision >= 0.995
    assert recall >= 0.995


def test_links_contract_and_metrics(linked):
    links, metrics, _, _ = linked
    assert links["match_score"].is_between(0.0, 1.0).all()
    assert set(links["method"].unique()) <= {"exact_id", "probabilistic", "clerical"}
    assert set(links["decision"].unique()) <= {"accept", "review", "none"}
    # unmatched rows carry no registry row; every accepted row does
    assert links.filter(pl.col("decision") == "none")["registry_row"].is_null().all()
    assert links.filter(pl.col("decision") == "accept")["registry_row"].is_not_null().all()
    assert links.select("month", "source", "source_row").is_unique().all()
    for m in metrics.values():
        assert m["exact"] + m["probabilistic"] + m["clerical"] + m["review"] + m["unmatched"] == m["records"]
        # blocking keeps candidates few: never a full index
        assert m["candidate_pairs"] <= 30 * max(m["records"] - m["exact"], 1)
        assert m["classifier"] in ("logistic", "ecm")


def test_same_name_same_township_needs_id_or_birth_evidence(linked):
    """A registry person who shares name and township with another registry person
    is never linked probabilistically on name + region alone."""
    links, _, twins, _ = linked
    assert twins.height > 0  # the samples do contain such people
    prob = links.filter((pl.col("method") == "probabilistic") & (pl.col("decision") == "accept"))
    dtype = pl.Struct({"id": pl.String, "birth": pl.String, "runner_up_score": pl.Float64})
    prob = prob.with_columns(d=prob["detail"].str.json_decode(dtype))
    weak = prob.filter(
        pl.col("d").struct.field("id").is_in(["missing", "disagree"])
        & pl.col("d").struct.field("birth").is_in(["missing", "disagree"])
        & ~pl.col("detail").str.contains('"household"', literal=True)  # other members linked by ID: allowed
    )
    assert weak.join(twins, on=["month", "registry_row"]).height == 0


def test_every_probabilistic_accept_has_identity_evidence(linked):
    links, _, _, _namesakes = linked
    prob = links.filter((pl.col("method") == "probabilistic") & (pl.col("decision") == "accept"))
    assert prob.height > 0
    ev = prob["detail"].str.json_decode(pl.Struct({"evidence": pl.List(pl.String)})).struct.field("evidence")
    assert (ev.list.len() > 0).all()
    # household evidence only where the source has households
    hh = prob.filter(ev.list.contains("household"))
    assert set(hh["source"].unique()) <= {"rural_revitalization"}


def test_id_less_namesakes_in_the_village_are_not_linked(linked):
    """Records without an ID whose name and village equal a registry person's: those
    of outsiders (the sample plants some in civil_affairs, no birth-date field) are
    never accepted; they are reviewed or left unlinked."""
    links, _, _, namesakes = linked
    j = links.join(namesakes, on=["month", "source", "source_row"])
    outsiders = j.filter(pl.col("true_row").is_null())
    assert outsiders.filter(pl.col("source") == "civil_affairs").height > 0
    assert outsiders.filter(pl.col("decision") == "accept").height == 0
    assert outsiders.filter(pl.col("source") == "civil_affairs")["decision"].is_in(["review", "none"]).all()
