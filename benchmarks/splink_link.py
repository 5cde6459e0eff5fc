"""Splink (DuckDB backend) as the linkage baseline of the benchmarks (issue #8).

    .venv/bin/pip install -e '.[dev,bench]'
    .venv/bin/python benchmarks/splink_link.py --households 2000

`link_with_splink(registry, records, source)` links one month's standardised
records of one agency source (the rows of `std.<source>`) to the registry
(`std.registry` of the same month) with Splink 4, configured the way a competent
Splink user would set it up for this data. Splink does the whole job: every
record of the month is scored, also the ones with an exact valid ID.

Features (both sides, built in DuckDB before Splink sees them):
- `id_clean`: the valid normalised ID, else the delivered ID with separators and
  full-width digits removed when it still has 18 characters (a mistyped ID keeps its
  evidence; an Excel-mangled one is NULL);
- `dob`: the birth-date field, else the ID's birth date (also from a mistyped ID);
- `sex`: the sex field, else the ID's sex;
- `surname`: the first character of the name; `name`, `name_pinyin` as standardised;
- region codes where the source has them (village / township / county, or county only).

Model: comparisons on ID (exact / Damerau-Levenshtein <= 1 / <= 2 / else), name
(exact with term-frequency adjustment / pinyin exact / Jaro-Winkler on pinyin
>= 0.92 / >= 0.8 / else), birth date (exact / one edit / same year / else), region
(village / township / county / else, or county only; none for human_resources) and
sex. Blocking for prediction: exact ID, two ID slices (region + birth date + first
sequence digits; month, day, sequence and check digit), birth date + surname, and
name pinyin + county (name pinyin + birth date without a region). Training: the prior
from exact-ID pairs (recall 0.9), u by random sampling (Splink's default 1e6 pairs,
fixed seed), m by EM on two blocks: exact ID (nearly all matches, so the m values of
name, birth date, sex and region come from true matches; the ID comparison is off in
that session) and birth date + surname (matches mixed with persons born the same day
with the same surname: trains the ID levels). Each record keeps its best candidate
when its match probability is at least the threshold. No deterministic pre-pass:
exact-ID pairs are scored by the same model.

The script entry generates a sample, runs the monthly job once, links each agency
source of the last month with Splink and prints seconds and precision / recall /
F1 per source, next to the pipeline's own accepted links.
"""

from __future__ import annotations

import logging
import tempfile
import time

import duckdb
import polars as pl

# DuckDB resources for Splink: the machine has 2 cores and shares its memory with
# other jobs, so Splink gets both threads and a bounded memory budget that spills
# to disk beyond it (1M registry persons x ~1M records fit in it).
DUCKDB_THREADS = 2
DUCKDB_MEMORY_LIMIT = "6GB"
U_SAMPLE_PAIRS = 1e6  # Splink's default; the u estimates are stable at this size
PRIOR_RECALL = 0.9  # share of true links the exact-ID rule finds, as a user would guess it
SEED = 20261129

OUTPUT_SCHEMA = {"source_row": pl.Int32, "registry_row": pl.Int32, "match_probability": pl.Float64}

# Feature columns: the same on both sides (Splink concatenates the two inputs).
_ID_RAW_CLEAN = (
    "upper(regexp_replace(translate(coalesce(id_number_raw, ''), '０１２３４５６７８９Ｘｘ', '0123456789XX'),"
    " '[\\s\\-]', '', 'g'))"
)


def _feature_sql(table: str, columns: set[str], region: str) -> str:
    id_clean = f"coalesce(id_number, CASE WHEN length({_ID_RAW_CLEAN}) = 18 THEN {_ID_RAW_CLEAN} END)"
    dob = (
        "coalesce("
        + ("birth_date, " if "birth_date" in columns else "")
        + f"id_birth_date, try_strptime(substr({id_clean}, 7, 8), '%Y%m%d')::DATE)"
    )
    sex = "coalesce(sex, id_sex)" if "sex" in columns else "id_sex"
    cols = [
        "source_row::INTEGER AS unique_id",
        f"{id_clean} AS id_clean",
        "nullif(name, '') AS name",
        "nullif(name_pinyin, '') AS name_pinyin",
        "nullif(left(name, 1), '') AS surname",
        f"{dob} AS dob",
        f"strftime({dob}, '%Y%m%d') AS dob_str",
        f"{sex} AS sex",
    ]
    if region in ("county", "village"):
        cols.append("county_code")
    if region == "village":
        cols += ["township_code", "village_code"]
    return f"SELECT {', '.join(cols)} FROM {table}"


def _region_kind(records: pl.DataFrame) -> str:
    if {"village_code", "township_code", "county_code"} <= set(records.columns):
        return "village"
    if "county_code" in records.columns:
        return "county"
    return "none"


def _settings(region: str):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [
        cl.DamerauLevenshteinAtThresholds("id_clean", [1, 2]),
        cl.CustomComparison(
            output_column_name="name",
            comparison_levels=[
                cll.NullLevel("name"),
                cll.ExactMatchLevel("name", term_frequency_adjustments=True),
                cll.ExactMatchLevel("name_pinyin"),
                cll.JaroWinklerLevel("name_pinyin", 0.92),
                cll.JaroWinklerLevel("name_pinyin", 0.8),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="dob",
            comparison_levels=[
                cll.NullLevel("dob"),
                cll.ExactMatchLevel("dob"),
                cll.DamerauLevenshteinLevel("dob_str", 1),
                cll.CustomLevel("substr(dob_str_l, 1, 4) = substr(dob_str_r, 1, 4)", label_for_charts="same year"),
                cll.ElseLevel(),
            ],
        ),
        cl.ExactMatch("sex"),
    ]
    if region != "none":
        levels = [cll.NullLevel("county_code")]
        if region == "village":
            levels += [cll.ExactMatchLevel("village_code"), cll.ExactMatchLevel("township_code")]
        levels += [cll.ExactMatchLevel("county_code"), cll.ElseLevel()]
        comparisons.append(cl.CustomComparison(output_column_name="region", comparison_levels=levels))

    blocking = [
        block_on("id_clean"),
        block_on("substr(id_clean, 1, 14)"),  # region + birth date + first sequence digits: typos at the end
        block_on("substr(id_clean, 11, 8)"),  # month, day, sequence, check: typos in region or year
        block_on("dob", "surname"),
    ]
    if region != "none":
        blocking.append(block_on("name_pinyin", "county_code"))
    else:
        blocking.append(block_on("name_pinyin", "dob"))
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


class _Clock:
    def __init__(self, out: dict[str, float] | None):
        self.out, self.t = out, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.out is not None:
            self.out[stage] = self.out.get(stage, 0.0) + now - self.t
        self.t = now


def _training_blocks() -> list:
    """EM training blocks. Exact ID: pairs that are (nearly all) matches, so the m values of name,
    birth date, sex and region come from true matches (the ID comparison is off in this session).
    Birth date + surname: matches mixed with persons born the same day with the same surname,
    which trains the ID comparison (and name, sex, region) on a block that is not separated."""
    from splink import block_on

    return [block_on("id_clean"), block_on("dob", "surname")]


def link_with_splink(
    registry: pl.DataFrame,
    records: pl.DataFrame,
    source: str,
    threshold: float = 0.9,
    *,
    threads: int = DUCKDB_THREADS,
    memory_limit: str = DUCKDB_MEMORY_LIMIT,
    timings: dict[str, float] | None = None,
    model_path: str | None = None,
) -> pl.DataFrame:
    """Link one month's records of `source` to the registry with Splink; return the accepted links
    (best candidate per record with match probability >= threshold): source_row, registry_row,
    match_probability. `source` names the agency; the comparisons follow from the columns the frame
    has (region or not, a birth-date or sex field or not). `timings`, when given, receives the seconds of each stage; `model_path`, when
    given, receives the trained Splink model (JSON: settings, m and u of every level)."""
    from splink import DuckDBAPI, Linker, block_on
    from splink.internals.exceptions import EMTrainingException

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if records.height == 0 or registry.height == 0:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)

    region = _region_kind(records)
    clock = _Clock(timings)
    with tempfile.TemporaryDirectory(prefix="splink_duckdb_") as tmp:
        con = duckdb.connect()
        try:
            con.execute(f"SET threads = {int(threads)}")
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = '{tmp}'")
            con.execute("SET preserve_insertion_order = false")
            con.register("registry_in", registry.to_arrow())
            con.register("records_in", records.to_arrow())
            con.execute("CREATE TABLE a_registry AS " + _feature_sql("registry_in", set(registry.columns), region))
            con.execute("CREATE TABLE b_records AS " + _feature_sql("records_in", set(records.columns), region))
            con.unregister("registry_in")
            con.unregister("records_in")
            clock.lap("prepare")

            linker = Linker(
                ["a_registry", "b_records"],
                _settings(region),
                DuckDBAPI(connection=con),
                input_table_aliases=["a_registry", "b_records"],
            )  # registry first: pair orientation
            training = linker.training
            training.estimate_probability_two_random_records_match([block_on("id_clean")], recall=PRIOR_RECALL)
            training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
            clock.lap("train_u")
            # EM needs a training block that produces pairs; a block without pairs (e.g. a delivery
            # without IDs) is skipped, the other block still trains the m values.
            for rule in _training_blocks():
                try:
                    training.estimate_parameters_using_expectation_maximisation(rule)
                except EMTrainingException:
                    pass
            clock.lap("train_m")
            if model_path:
                linker.misc.save_model_to_json(str(model_path), overwrite=True)

            pairs = linker.inference.predict(threshold_match_probability=threshold)
            table = pairs.physical_name
            best = con.sql(f"""
                WITH p AS (
                    SELECT CASE WHEN source_dataset_l = 'a_registry' THEN unique_id_r ELSE unique_id_l END AS source_row,
                           CASE WHEN source_dataset_l = 'a_registry' THEN unique_id_l ELSE unique_id_r END AS registry_row,
                           match_probability
                    FROM {table}
                    WHERE match_probability >= {float(threshold)}
                )
                SELECT source_row::INTEGER AS source_row, registry_row::INTEGER AS registry_row,
                       match_probability::DOUBLE AS match_probability
                FROM p
                QUALIFY row_number() OVER (PARTITION BY source_row
                                           ORDER BY match_probability DESC, registry_row) = 1
                ORDER BY source_row
            """).pl()
            clock.lap("predict")
        finally:
            con.close()
    return best.cast(OUTPUT_SCHEMA)


# ---------------------------------------------------------------- script entry
def _prf(tp: int, got: int, truth: int) -> tuple[float, float, float]:
    p = tp / got if got else 1.0
    r = tp / truth if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> int:
    import argparse
    import resource
    from pathlib import Path

    from data_samples.generate import generate
    from lowincome import schema
    from lowincome.warehouse import Warehouse, query_pl
    from pipelines.cli import run_month

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--months", type=int, default=1, help="months generated; the last one is linked")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args()
    params = Path(__file__).resolve().parent.parent / "data_samples" / "params.yaml"

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        summary = generate(root, households=args.households, months=args.months, seed=args.seed)
        print(f"generated {args.households} households x {args.months} month(s) in {time.perf_counter() - t0:.1f} s")
        paths = {
            "inbox": str(root / "inbox"),
            "warehouse": str(root / "w.duckdb"),
            "exports": str(root / "exports"),
            "params": str(params),
        }
        month = summary.month_dates[-1]
        for m in summary.month_dates:
            t1 = time.perf_counter()
            result = run_month(m, log_level="WARNING", **paths)
            print(f"pipeline {m:%Y-%m}: {'ok' if result.success else 'FAILED'} in {time.perf_counter() - t1:.1f} s")
            if not result.success:
                return 1
        pipeline_seconds = {}
        for event in result.all_events:
            if event.is_step_success and event.step_key.startswith("linkage__"):
                pipeline_seconds[event.step_key.removeprefix("linkage__")] = (
                    event.event_specific_data.duration_ms / 1000
                )

        truth_all = pl.read_csv(
            summary.truth_dir / "links.csv", schema_overrides={"registry_row": pl.Int32, "source_row": pl.Int32}
        ).filter(pl.col("month") == f"{month:%Y-%m-%d}", pl.col("registry_row").is_not_null())
        key = ["source_row", "registry_row"]
        with Warehouse(paths["warehouse"]).reader() as con:
            registry = query_pl(con, "SELECT * FROM std.registry WHERE month = ?", [month])
            frames = {
                s: query_pl(con, f"SELECT * FROM std.{s} WHERE month = ?", [month]) for s in schema.AGENCY_SOURCES
            }
            ours = query_pl(
                con,
                "SELECT source, source_row, registry_row FROM linkage.links WHERE month = ? AND decision = 'accept'",
                [month],
            )
        print(f"\n{month:%Y-%m}: registry {registry.height} rows; threshold {args.threshold}")
        print(
            f"{'source':22s} {'records':>8s} {'true':>7s} | {'splink s':>8s} {'P':>7s} {'R':>7s} {'F1':>7s} | "
            f"{'pipeline s':>10s} {'P':>7s} {'R':>7s} {'F1':>7s}"
        )
        for source, records in frames.items():
            truth = (
                truth_all.filter(pl.col("source") == source)
                .select(key)
                .join(records.select(pl.col("source_row").cast(pl.Int32)), on="source_row")
            )  # quarantined: out
            t1, c1 = time.perf_counter(), time.process_time()
            stages: dict[str, float] = {}
            links = link_with_splink(registry, records, source, threshold=args.threshold, timings=stages)
            seconds, cpu = time.perf_counter() - t1, time.process_time() - c1
            sp = _prf(links.select(key).join(truth, on=key).height, links.height, truth.height)
            mine = ours.filter(pl.col("source") == source).select(pl.col(k).cast(pl.Int32) for k in key)
            pp = _prf(mine.join(truth, on=key).height, mine.height, truth.height)
            print(
                f"{source:22s} {records.height:8d} {truth.height:7d} | {seconds:8.1f} {sp[0]:7.4f} {sp[1]:7.4f} "
                f"{sp[2]:7.4f} | {pipeline_seconds.get(source, float('nan')):10.1f} {pp[0]:7.4f} {pp[1]:7.4f} "
                f"{pp[2]:7.4f}   (splink cpu {cpu:.1f} s; "
                + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
                + ")"
            )
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
