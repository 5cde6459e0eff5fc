"""The grading helpers of data_samples.truth that read the held (待核实) rows and the
name-only records, on truth files written here."""

from __future__ import annotations

import datetime as dt

import polars as pl

from data_samples.truth import grade_fired_or_held, name_only_split

JULY, AUGUST = dt.date(2026, 7, 1), dt.date(2026, 8, 1)


def _truth_flags(tmp_path, rows):
    pl.DataFrame(
        rows, schema=["month", "household_key", "rule_code", "fired", "suppressed", "state"], orient="row"
    ).write_csv(tmp_path / "flags.csv")


def test_a_held_flag_counts_as_listed_and_a_held_false_one_against_precision(tmp_path):
    _truth_flags(
        tmp_path,
        [
            ("2026-08-01", "H1", "R10", True, False, "新增"),
            ("2026-08-01", "H2", "R10", True, False, "新增"),
            ("2026-08-01", "H3", "R05", False, False, None),
        ],
    )
    got = pl.DataFrame(
        {
            "month": [AUGUST, AUGUST],
            "household_key": ["H1", "H9"],
            "rule_code": ["R10", "R10"],
            "fired": [True, False],  # H9: a row that did not fire is not listed
            "suppressed": [False, False],
            "state": ["新增", None],
        }
    )
    held = pl.DataFrame({"month": [AUGUST, AUGUST], "household_key": ["H2", "H3"], "rule_code": ["R10", "R05"]})
    scores = grade_fired_or_held(tmp_path, got, held)
    assert (scores["R10"].tp, scores["R10"].raised, scores["R10"].truth) == (2, 2, 2)
    assert (scores["R05"].tp, scores["R05"].raised, scores["R05"].truth) == (0, 1, 0)
    assert scores["*"].precision == 2 / 3 and scores["*"].recall == 1.0
    fired_only = grade_fired_or_held(tmp_path, got, held.clear())
    assert fired_only["R10"].recall == 0.5


def test_name_only_records_are_split_into_registry_persons_and_outsiders(tmp_path):
    pl.DataFrame(
        {
            "month": ["2026-07-01", "2026-07-01", "2026-08-01", "2026-08-01"],
            "source": ["human_resources"] * 3 + ["registry"],
            "source_row": [1, 2, 5, 1],
            "registry_row": [10, None, 11, 1],
        }
    ).write_csv(tmp_path / "links.csv")
    records = pl.DataFrame(
        {
            "month": [JULY, JULY, JULY, AUGUST],
            "source": ["human_resources"] * 4,
            "source_row": [1, 2, 3, 5],
            "decision": ["review", "review", "none", "accept"],
            "name_rarity": ["unique_all", "unique_all", "unique_all", "shared"],
        }
    )
    split = name_only_split(tmp_path, records)
    first = split.filter(pl.col("month") == "first").row(0, named=True)
    assert (first["members"], first["outsiders"], first["accepted"], first["review"]) == (1, 2, 0, 2)
    assert abs(first["outsider_share"] - 2 / 3) < 1e-9
    later = split.filter(pl.col("month") == "later").row(0, named=True)
    assert (later["name_rarity"], later["members"], later["outsiders"], later["accepted"]) == ("shared", 1, 0, 1)
