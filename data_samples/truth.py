"""Grade a pipeline run against the generator's ground truth (`truth/links.csv`,
`truth/flags.csv`: fired, suppressed and state of every flag row).

Pure functions over frames and truth files, shared by the benchmarks and the tests; the
pipeline's rows to grade are read by the caller (`benchmarks.sample_run` reads them from the
warehouse and runs a generated sample through the monthly job). Nothing here imports code of
the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

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
        return (
            f"P={self.precision:.4f} R={self.recall:.4f} F1={self.f1:.4f} "
            f"(tp={self.tp}, raised={self.raised}, truth={self.truth})"
        )


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
    return (
        pl.scan_csv(Path(truth_dir) / "links.csv", schema_overrides=cast)
        .filter(pl.col("source") != "registry", pl.col("registry_row").is_not_null())
        .with_columns(pl.col("month").str.to_date())
        .join(loaded.lazy(), on=["month", "source", "source_row"])
        .select(LINK_KEY)
        .collect()
    )


def grade_links(truth: pl.DataFrame, accepted: pl.DataFrame) -> dict[str, Score]:
    """Per source, accepted links (month, source, source_row, registry_row; a review is not a
    link) against `true_links(...)`."""
    accepted = accepted.select(
        pl.col("month").cast(pl.Date),
        "source",
        pl.col("source_row").cast(pl.Int32),
        pl.col("registry_row").cast(pl.Int32),
    )
    sources = sorted(set(truth["source"].unique().to_list()) | set(accepted["source"].unique().to_list()))
    return {
        s: score(truth.filter(pl.col("source") == s), accepted.filter(pl.col("source") == s), LINK_KEY) for s in sources
    }


FLAG_VIEWS = ("fired", "suppressed", "新增", "持续", "已清零")


def read_truth_flags(truth_dir: Path) -> pl.DataFrame:
    """truth/flags.csv: every row the caseworker's flag table should hold (month as Date,
    household_key, rule_code, fired, suppressed as booleans, state)."""
    return pl.read_csv(Path(truth_dir) / "flags.csv").with_columns(
        pl.col("month").str.to_date(), pl.col("fired").cast(pl.Boolean), pl.col("suppressed").cast(pl.Boolean)
    )


def _view(f: pl.DataFrame, view: str) -> pl.DataFrame:
    if view == "fired":
        return f.filter(pl.col("fired"))
    if view == "suppressed":
        return f.filter(pl.col("fired") & pl.col("suppressed"))
    return f.filter(pl.col("state") == view)


def grade_flag_views(truth_dir: Path, got: pl.DataFrame) -> dict[str, dict[str, Score]]:
    """Per view (fired; fired and suppressed; state 新增 / 持续 / 已清零) and per rule (and "*"
    for all), the pipeline's flag rows (month, household_key, rule_code, fired, suppressed,
    state: flags.risk_flags) against truth/flags.csv, each with precision and recall."""
    truth = read_truth_flags(truth_dir)
    got = got.with_columns(
        pl.col("month").cast(pl.Date), pl.col("fired").cast(pl.Boolean), pl.col("suppressed").cast(pl.Boolean)
    )
    rules = sorted(set(truth["rule_code"].unique()) | set(got["rule_code"].unique()))
    return {view: _per_rule(_view(truth, view), _view(got, view), rules) for view in FLAG_VIEWS}


def _per_rule(truth: pl.DataFrame, got: pl.DataFrame, rules: list[str]) -> dict[str, Score]:
    """Flag rows of `got` against `truth` for each rule, and for all of them ("*")."""
    return {
        rule: score(
            truth if rule == "*" else truth.filter(pl.col("rule_code") == rule),
            got if rule == "*" else got.filter(pl.col("rule_code") == rule),
            FLAG_KEY,
        )
        for rule in [*rules, "*"]
    }


def grade_fired_or_held(truth_dir: Path, got: pl.DataFrame, held: pl.DataFrame) -> dict[str, Score]:
    """Per rule (and "*"), the truth's fired flags against what the workbook lists for a
    caseworker to act on: the fired flags of `got` (as in `grade_flag_views`) and the 待核实
    rows of `held` (month, household_key, rule_code: flags.held_back), a flag whose evidence
    waits on a record in the review band."""
    truth = read_truth_flags(truth_dir).filter(pl.col("fired"))
    listed = pl.concat(
        [
            got.filter(pl.col("fired").cast(pl.Boolean)).select(
                pl.col("month").cast(pl.Date), "household_key", "rule_code"
            ),
            held.select(pl.col("month").cast(pl.Date), "household_key", "rule_code"),
        ]
    )
    return _per_rule(truth, listed, sorted(set(truth["rule_code"].unique()) | set(listed["rule_code"].unique())))


def name_only_split(truth_dir: Path, records: pl.DataFrame) -> pl.DataFrame:
    """How far a name alone identifies: `records` (month, source, source_row, decision,
    name_rarity) are the records whose only identity evidence was a name; per source, the
    first month or a later one, and name rarity, how many are registry persons in the truth
    (whoever the pipeline chose) and how many are outsiders, beside the pipeline's decisions."""
    members = true_links(truth_dir, records).select("month", "source", "source_row", member=pl.lit(True)).unique()
    first = records["month"].cast(pl.Date).min()
    return (
        records.with_columns(pl.col("month").cast(pl.Date), pl.col("source_row").cast(pl.Int32))
        .join(members, on=["month", "source", "source_row"], how="left")
        .with_columns(
            pl.col("member").fill_null(False),
            month=pl.when(pl.col("month") == first).then(pl.lit("first")).otherwise(pl.lit("later")),
        )
        .group_by("source", "month", "name_rarity")
        .agg(
            members=pl.col("member").sum(),
            outsiders=(~pl.col("member")).sum(),
            accepted=(pl.col("decision") == "accept").sum(),
            review=(pl.col("decision") == "review").sum(),
        )
        .with_columns(outsider_share=pl.col("outsiders") / (pl.col("members") + pl.col("outsiders")))
        .sort("source", "month", "name_rarity")
    )


def grade_flags(truth_dir: Path, got: pl.DataFrame) -> dict[str, Score]:
    """Per rule (and "*"), fired flags against the truth's fired flags (`grade_flag_views`,
    view "fired"); `got` needs month, household_key, rule_code, fired, suppressed, state."""
    return grade_flag_views(truth_dir, got)["fired"]
