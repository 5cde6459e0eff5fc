"""Agency records -> registry persons: the stages put together (link_source).

1. features  (features.py)  comparison fields of both sides, vectorised polars
2. exact     (exact.py)     equal valid ID, one SQL join
3. scoring   (engine.py)    the settings file `settings/registry.yaml`: local blocks,
                            SQL comparison levels, a classifier fitted on the
                            month's exact-ID matches, household context for 乡村振兴
4. evidence  (evidence.py)  a probabilistic accept needs ID, birth-date or household evidence
5. clerical  (clerical.py)  returned review decisions override the above
6. assembly  (here)         one linkage.links row per record, with the waterfall of
                            each probabilistic link in `detail`; the month's model
                            (settings hash, weights, counts) for linkage.model_runs
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from lowincome.linkage.clerical import clerical_pairs, person_tokens, record_tokens
from lowincome.linkage.engine import (
    MISSING,
    apply_group,
    apply_sole_namesake,
    decide,
    open_compute,
    register,
    score_pairs,
)
from lowincome.linkage.evidence import NamesakesSeen, at_levels, claimed_by_id, require_identity_evidence
from lowincome.linkage.exact import exact_id_matches
from lowincome.linkage.features import INPUT_COLUMNS, prepare
from lowincome.linkage.settings import LinkSettings, load_settings
from lowincome.schema import polars_schema
from lowincome.warehouse import query_pl

# linkage.links as sql/schema/20_linkage.sql declares it.
LINK_SCHEMA = polars_schema("linkage.links")
LINK_COLUMNS = tuple(LINK_SCHEMA)
SETTINGS_FILE = "registry"
_BASE = load_settings(SETTINGS_FILE)


def _env_float(name: str, default: float) -> float:
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


@dataclass
class LinkageSettings:
    """Knobs over the settings file; `from_env()` reads LINKAGE_* variables."""

    accept: float = _BASE.accept
    review: float = _BASE.review
    ambiguity_margin: float = _BASE.ambiguity_margin
    classifier: str = _BASE.classifier
    household_factor: float = _BASE.group.factor if _BASE.group else 1.0
    max_training_records: int = _BASE.max_training_records

    @classmethod
    def from_env(cls) -> LinkageSettings:
        d = cls()
        return cls(
            accept=_env_float("LINKAGE_ACCEPT", d.accept),
            review=_env_float("LINKAGE_REVIEW", d.review),
            ambiguity_margin=_env_float("LINKAGE_AMBIGUITY_MARGIN", d.ambiguity_margin),
            classifier=os.environ.get("LINKAGE_CLASSIFIER", d.classifier) or d.classifier,
            household_factor=_env_float("LINKAGE_HOUSEHOLD_FACTOR", d.household_factor),
        )

    def for_source(self, source: str) -> LinkSettings:
        group = _BASE.group
        if group is not None:
            group = dataclasses.replace(group, factor=self.household_factor) if source in group.sources else None
        return _BASE.replace(
            accept=self.accept,
            review=self.review,
            ambiguity_margin=self.ambiguity_margin,
            classifier=self.classifier,
            max_training_records=self.max_training_records,
            group=group,
        )


@dataclass
class _MonthRegistry:
    """What the four sources of a month share: the registry frame, prepared once, and its
    name counts (computed by the first source that needs them)."""

    frame: pl.DataFrame
    prepared: pl.DataFrame
    name_counts: pl.DataFrame | None = None


_REGISTRY: dict[str, _MonthRegistry] = {}  # one slot


def prepared_registry(registry: pl.DataFrame) -> pl.DataFrame:
    """prepare(registry), reused while the same registry frame comes again: the monthly
    job reads the month's registry once (monthly.read_std keeps it while its rows are
    unchanged) and hands the same frame to the four sources. The slot holds the frame
    itself, so its identity cannot be reused by another one."""
    slot = _REGISTRY.get("registry")
    if slot is None or slot.frame is not registry:
        _REGISTRY["registry"] = slot = _MonthRegistry(registry, prepare(registry))
    return slot.prepared


@dataclass
class LinkResult:
    links: pl.DataFrame
    metrics: dict = field(default_factory=dict)
    model_run: dict = field(default_factory=dict)  # one linkage.model_runs row
    # linkage.record_history: (record_key, person_key) of accepted links and of records whose
    # valid ID links to nobody (`other:<md5 of the ID>`); see _key_owners
    record_keys: pl.DataFrame | None = None


def identity_profiles(records: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """Records with equal comparison fields are linked once: (the distinct prepared
    profiles with a new idx, the profile idx of each record). A health-insurance month
    is half repeat claims of the same person; the links are the same for all of them.

    The records are grouped on the std columns prepare() reads before it runs, so that
    it prepares each distinct input once and no prepared copy of every record is made
    (memory: a prefecture's 3.4M claims are 2.0M distinct inputs); inputs that prepare
    alike (an ID delivered with and without a space) are grouped again. Profiles keep
    the order of their first record, as one grouping of the prepared records would."""
    inputs = [c for c in INPUT_COLUMNS if c in records.columns]
    firsts = records.select(inputs).with_row_index("_row").group_by(inputs, maintain_order=True).agg(pl.col("_row"))
    prepared = prepare(firsts.drop("_row"))
    fields = [c for c in prepared.columns if c != "idx"]
    grouped = prepared.group_by(fields, maintain_order=True).agg(pl.col("idx"))
    del prepared
    profiles = grouped.drop("idx").with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))
    input_profile = (
        grouped.select(profile=pl.int_range(pl.len(), dtype=pl.Int64), first=pl.col("idx"))
        .explode("first")
        .sort("first")["profile"]
    )
    row_profile = firsts.select(profile=input_profile, row=pl.col("_row")).explode("row").sort("row")["profile"]
    return profiles, row_profile


def _group_candidates(lp: pl.DataFrame, rp: pl.DataFrame, residual: np.ndarray, anchors: pl.DataFrame) -> pl.DataFrame:
    """A record to link x every member of the registry household(s) that its own
    group's exact-ID members link to."""
    ag = anchors.select(lgroup=lp["group"].gather(anchors["left_idx"]), rgroup=rp["group"].gather(anchors["right_idx"]))
    todo = pl.DataFrame({"left_idx": residual}).with_columns(lgroup=lp["group"].gather(residual))
    return (
        todo.join(ag.drop_nulls().unique(), on="lgroup")
        .join(rp.select(right_idx="idx", rgroup="group").drop_nulls(), on="rgroup")
        .select("left_idx", "right_idx")
    )


_SCOPES = ("village", "township", "county")


def _registry_name_counts(con, right: str, rp: pl.DataFrame) -> pl.DataFrame:
    """idx, name_n_<scope>: how many registry persons hold the exact name in the person's
    village / township / county / anywhere. The same for every source of the month:
    computed once per prepared registry."""
    slot = _REGISTRY.get("registry")
    if slot is not None and slot.prepared is rp and slot.name_counts is not None:
        return slot.name_counts
    counts = {
        sc: f"(SELECT name, {sc}, count(DISTINCT pid) AS n FROM p WHERE {sc} IS NOT NULL GROUP BY ALL)"
        for sc in _SCOPES
    }
    frame = query_pl(
        con,
        f"""WITH p AS (SELECT idx, name, {", ".join(_SCOPES)}, coalesce(id_valid, 'reg:' || idx) AS pid FROM {right})
        SELECT p.idx, {", ".join(f"n_{sc}.n AS name_n_{sc}" for sc in _SCOPES)}, n_all.n AS name_n_all
        FROM p
        {" ".join(f"LEFT JOIN {counts[sc]} n_{sc} ON n_{sc}.name = p.name AND n_{sc}.{sc} = p.{sc}" for sc in _SCOPES)}
        LEFT JOIN (SELECT name, count(DISTINCT pid) AS n FROM p GROUP BY ALL) n_all ON n_all.name = p.name
        ORDER BY p.idx""",
    )
    if slot is not None and slot.prepared is rp:
        slot.name_counts = frame
    return frame


def _name_counts(con, left: str, right: str, out: str, rp: pl.DataFrame) -> None:
    """`out` = the registry with name_n_<scope> (and registry_n_county / _all: registry
    persons only): how many persons hold the exact name in
    the village / township / county / anywhere -- registry persons plus the
    delivery's records whose valid ID is not in the registry (other persons). The two
    sets of persons are disjoint (an ID not in the registry), so the counts add up --
    except for a registry person without a valid ID, whose own records may carry one: a
    record whose name and birth date (its ID's) are those of such a person is that
    person, not another holder of the name."""
    con.register("_registry_counts", _registry_name_counts(con, right, rp).to_arrow())
    other = {
        sc: f"(SELECT name, {sc}, count(DISTINCT id_valid) AS n FROM others WHERE {sc} IS NOT NULL GROUP BY ALL)"
        for sc in _SCOPES
    }
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out} AS
        WITH others AS (
            SELECT DISTINCT name, village, township, county, id_valid FROM {left} l
            WHERE id_valid IS NOT NULL AND id_valid NOT IN (SELECT id_valid FROM {right} WHERE id_valid IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM {right} u WHERE u.id_valid IS NULL AND u.name = l.name AND u.birth = l.birth)
        )
        SELECT r.*, {", ".join(f"c.name_n_{sc} + coalesce(o_{sc}.n, 0) AS name_n_{sc}" for sc in _SCOPES)},
               c.name_n_all + coalesce(o_all.n, 0) AS name_n_all,
               -- the registry's own counts, for evidence._seen_check
               c.name_n_county AS registry_n_county, c.name_n_all AS registry_n_all
        FROM {right} r JOIN _registry_counts c USING (idx)
        {" ".join(f"LEFT JOIN {other[sc]} o_{sc} ON o_{sc}.name = r.name AND o_{sc}.{sc} = r.{sc}" for sc in _SCOPES)}
        LEFT JOIN (SELECT name, count(DISTINCT id_valid) AS n FROM others GROUP BY ALL) o_all ON o_all.name = r.name"""
    )
    con.unregister("_registry_counts")


def _record_keys(con, left: str, out: str, source: str, key_columns: list[str], history: pl.DataFrame | None) -> None:
    """`out` = the records with record_key (md5 of the source's key columns, no ID)
    and hist_person (the one person that key was linked to in earlier months)."""
    parts = ", ".join(f"coalesce(CAST(l.{c} AS VARCHAR), '')" for c in key_columns) or "CAST(l.idx AS VARCHAR)"
    hist = (
        history
        if history is not None and history.height
        else pl.DataFrame(schema=polars_schema("linkage.record_history")).select("record_key", "person_key")
    )
    hist = hist.group_by("record_key").agg(pl.col("person_key").unique()).filter(pl.col("person_key").list.len() == 1)
    con.register("_history", hist.with_columns(pl.col("person_key").list.first()).to_arrow())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out} AS
        WITH k AS (SELECT l.*, md5(concat_ws('|', '{source}', {parts})) AS record_key FROM {left} l)
        SELECT k.*, h.person_key AS hist_person FROM k LEFT JOIN _history h ON h.record_key = k.record_key"""
    )
    con.unregister("_history")


def _sole_weight(settings: LinkSettings) -> float:
    """Log-odds a sole plausible namesake gains (evidence.sole_namesake_weight; 0 = off)."""
    return float(settings.evidence.get("sole_namesake_weight") or 0.0)


def _ruled_out(settings: LinkSettings) -> pl.Expr:
    """A candidate the record cannot concern: a negative adjustment fired (what the event
    implies: category, age), a level of evidence.sole_namesake_ruled_out (another county,
    a birth date or ID that points to someone else), or -- evidence.sole_namesake_claimed --
    a person already paid this month by exact ID (`claimed_by_id`, one_per_month)."""
    levels = settings.evidence.get("sole_namesake_ruled_out") or {}
    claimed = [pl.col("claimed_by_id")] if settings.evidence.get("sole_namesake_claimed") else []
    return pl.any_horizontal(
        pl.lit(False),
        *(pl.col(f"adj_{a.name}") for a in settings.adjustments if a.weight < 0),
        *(at_levels(settings, c, labels) for c, labels in levels.items()),
        *claimed,
    )


def _waterfall(prob: pl.DataFrame, settings: LinkSettings, model, group_factor: float | None) -> pl.DataFrame:
    """Per-link detail: the level of each comparison and its weight (log-odds),
    the prior, household support, ambiguity and identity evidence, as JSON."""
    fields = []
    weights = [pl.lit(round(model.prior, 4)).alias("prior")]
    for a in settings.adjustments:
        fields.append(pl.col(f"adj_{a.name}").alias(a.name))
        weights.append(pl.when(pl.col(f"adj_{a.name}")).then(pl.lit(a.weight)).otherwise(0.0).alias(a.name))
    for c in settings.comparisons:
        lvl = pl.col(f"lvl_{c.name}").cast(pl.Int64)
        labels = dict(enumerate(c.labels)) | {MISSING: "missing"}
        ws = {i: round(model.weight(c.name, i), 4) for i in range(len(c.labels))} | {
            MISSING: round(model.weight(c.name, MISSING), 4)
        }
        fields.append(lvl.replace_strict(labels, return_dtype=pl.String).alias(c.name))
        weights.append(lvl.replace_strict(ws, return_dtype=pl.Float64).alias(c.name))
    if "sole_namesake" in prob.columns:
        fields.append(pl.col("sole_namesake").fill_null(False))
        weights.append(
            pl.when(pl.col("sole_namesake")).then(pl.lit(_sole_weight(settings))).otherwise(0.0).alias("sole_namesake")
        )
    if group_factor:
        fields.append(pl.col("group_support").alias("household"))
        weights.append((pl.col("group_support") * math.log(group_factor)).round(4).alias("household"))
    return prob.select(
        "left_idx",
        pl.struct(
            fields
            + [
                pl.col("ambiguous"),
                pl.col("second_score").round(4).alias("runner_up_score"),
                pl.col("evidence"),
                pl.struct(weights).alias("weights"),
            ]
        )
        .struct.json_encode()
        .alias("detail"),
    )


@dataclass
class _Exact:
    """The exact-ID stage after returned review decisions (profile idx on the left)."""

    accept: pl.DataFrame  # left_idx, right_idx, k, name_agrees
    review: pl.DataFrame
    clerical_match: pl.DataFrame  # left_idx, right_idx, override
    forbidden: pl.DataFrame  # left_idx, right_idx
    refused_exact: int = 0


def _exact_stage(con, records, registry, source, month, clerical, row_profile) -> _Exact:
    """Equal valid IDs, then the clerks' decisions: a 非同一人 removes the pair (an equal
    ID included: the record is then linked probabilistically without that person); an
    exact-ID link to another person stands unless the decision explicitly overrides it."""
    ex_accept, ex_review = exact_id_matches(con, "l_in", "r_in")
    clerical_match = pl.DataFrame(schema={"left_idx": pl.Int64, "right_idx": pl.Int64, "override": pl.Boolean})
    forbidden = clerical_match.drop("override")
    if clerical is None or not clerical.filter(pl.col("source") == source).height or not records.height:
        return _Exact(ex_accept, ex_review, clerical_match, forbidden)
    rec_tok = record_tokens(records, source)
    reg_tok = person_tokens(registry["person_key"].cast(pl.String))
    # decisions name records; they apply to the record's identity profile
    clerical_match, forbidden = (
        frame.with_columns(left_idx=row_profile.gather(frame["left_idx"])).unique(maintain_order=True)
        for frame in clerical_pairs(clerical, records, source, month, rec_tok, reg_tok)
    )
    if forbidden.height:
        pair = ["left_idx", "right_idx"]
        ex_accept = ex_accept.join(forbidden, on=pair, how="anti")
        ex_review = ex_review.join(forbidden, on=pair, how="anti")
    exact_to = ex_accept.select(pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64).alias("_exact"))
    clash = clerical_match.join(exact_to, on="left_idx").filter(pl.col("right_idx") != pl.col("_exact"))
    refused = clash.filter(~pl.col("override"))
    clerical_match = clerical_match.join(refused.select("left_idx"), on="left_idx", how="anti")
    return _Exact(ex_accept, ex_review, clerical_match, forbidden, refused.height)


def _probabilistic_stage(
    con, ls: LinkSettings, source: str, lp, rp, ex: _Exact, namesakes: NamesakesSeen | None, report: dict
):
    """Score the profiles the exact stage left open; decide; require identity evidence
    (its checks' figures go to `report`). Returns (decided pairs with their levels, the
    engine's result, the residual idx)."""
    decided = pl.concat([ex.accept["left_idx"], ex.review["left_idx"]]).cast(pl.Int64)
    # polars, not np.setdiff1d: numpy 2.4's unique() takes seconds on a million ints
    every = pl.int_range(lp.height, dtype=pl.Int64, eager=True)
    residual = every.filter(~every.is_in(decided.implode())).to_numpy()
    anchors = ex.accept.select(pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64))
    extra = _group_candidates(lp, rp, residual, anchors) if ls.group else None
    result = score_pairs(con, ls, "l_in", "r_in", link_rows=residual, extra_pairs=extra)
    scored = result.pairs
    if ls.group:
        scored = apply_group(scored, lp["group"], rp["group"], ls.group, ls.accept, anchors)
    if ex.forbidden.height:
        scored = scored.join(ex.forbidden, on=["left_idx", "right_idx"], how="anti")
    sole_weight = _sole_weight(ls)
    if sole_weight and scored.height:
        when = ls.evidence.get("unique_name_when") or "TRUE"
        eligible = query_pl(con, f"SELECT l.idx FROM l_in l WHERE coalesce(({when}), false)")["idx"].to_numpy()
        labels = ls.comparison("name").labels
        levels = [labels.index(lab) for lab in ls.evidence.get("sole_namesake_name_levels") or ["exact"]]
        if ls.evidence.get("sole_namesake_claimed"):  # _ruled_out reads it
            scored = scored.with_columns(claimed_by_id(con, scored, eligible, ls, source, "l_in", ex.accept))
        scored = apply_sole_namesake(scored, eligible, levels, _ruled_out(ls), sole_weight)
    d = decide(scored, ls.accept, ls.review, ls.ambiguity_margin, ls.one_to_one)
    pair_cols = [c for c in scored.columns if c.startswith(("lvl_", "adj_")) or c in ("group_support", "sole_namesake")]
    d = d.join(scored.select("left_idx", "right_idx", *pair_cols), on=["left_idx", "right_idx"], how="left")
    d = require_identity_evidence(
        con, d, ex.accept, ls, source, lp["group"], rp["group"], "l_in", "r_in", namesakes, report
    )
    return d, result, residual


def _chosen(prob: pl.DataFrame, ex: _Exact) -> pl.DataFrame:
    """One decision per profile: clerical, else exact ID, else probabilistic."""
    exact = pl.concat(
        [
            ex.accept.select(
                "left_idx",
                "right_idx",
                pl.lit(1.0).alias("score"),
                pl.lit("exact_id").alias("method"),
                pl.lit("accept").alias("decision"),
                pl.lit('{"reason":"id_equal"}').alias("detail"),
            ),
            ex.review.select(
                "left_idx",
                "right_idx",
                pl.lit(0.5).alias("score"),
                pl.lit("exact_id").alias("method"),
                pl.lit("review").alias("decision"),
                pl.when(pl.col("k") > 1)
                .then(pl.lit('{"reason":"id_duplicated_in_registry"}'))
                .otherwise(pl.lit('{"reason":"id_equal_name_conflict"}'))
                .alias("detail"),
            ),
        ]
    )
    parts = [exact, prob]
    if ex.clerical_match.height:
        exact_left = ex.accept.select(pl.col("left_idx").cast(pl.Int64))["left_idx"].implode()
        cm = ex.clerical_match.select(
            "left_idx",
            "right_idx",
            pl.lit(1.0).alias("score"),
            pl.lit("clerical").alias("method"),
            pl.lit("accept").alias("decision"),
            pl.when(pl.col("override") & pl.col("left_idx").is_in(exact_left))
            .then(pl.lit('{"reason":"clerical_override_exact_id"}'))
            .otherwise(pl.lit('{"reason":"clerical_match"}'))
            .alias("detail"),
        )
        parts = [p.join(cm.select("left_idx"), on="left_idx", how="anti") for p in parts] + [cm]
    chosen = pl.concat([p.cast({"left_idx": pl.Int64, "right_idx": pl.Int64}) for p in parts])
    if ex.forbidden.height:
        # a record whose candidate a clerk rejected, and nothing else qualifies
        rejected = ex.forbidden["left_idx"].unique().implode()
        chosen = chosen.with_columns(
            method=pl.when(pl.col("left_idx").is_in(rejected) & (pl.col("decision") == "none"))
            .then(pl.lit("clerical"))
            .otherwise(pl.col("method"))
        )
    return chosen


def _links_frame(chosen, row_profile, records, registry, source, month) -> pl.DataFrame:
    """linkage.links rows: each record gets its profile's decision."""
    out = pl.DataFrame({"left_idx": row_profile}).join(chosen, on="left_idx", how="left", maintain_order="left")
    out = out.with_columns(
        right_idx=pl.when(pl.col("decision") != "none").then(pl.col("right_idx")),
        score=pl.col("score").fill_null(0.0).clip(0.0, 1.0),
        method=pl.col("method").fill_null("probabilistic"),
        decision=pl.col("decision").fill_null("none"),
        detail=pl.col("detail").fill_null(pl.lit('{"reason":"no_candidate"}')),
    )
    n, ri = records.height, out["right_idx"]

    def registry_column(name: str, dtype) -> pl.Series:
        return registry[name].cast(dtype).gather(ri) if n else pl.Series([], dtype=dtype)

    return pl.DataFrame(
        {
            # broadcast, not a Python list of n values (3.4M claims at 1x)
            "month": pl.repeat(month, n, dtype=pl.Date, eager=True),
            "source": pl.repeat(source, n, dtype=pl.String, eager=True),
            "source_row": records["source_row"].cast(pl.Int32),
            "registry_row": registry_column("source_row", pl.Int32),
            "registry_household_id": registry_column("household_id", pl.String),
            "registry_person_key": registry_column("person_key", pl.String),
            "match_score": out["score"].round(6),
            "method": out["method"],
            "decision": out["decision"],
            "detail": out["detail"],
        },
        schema=LINK_SCHEMA,
    )


def _model_run(ls: LinkSettings, model, month, source: str, metrics: dict) -> dict:
    """The linkage.model_runs row; no timings, so a rerun of the month writes the same row."""
    return {
        "month": month,
        "source": source,
        "settings_sha": ls.sha,
        "settings": json.dumps(ls.to_dict(), ensure_ascii=False, sort_keys=True),
        "classifier": model.classifier,
        "model": json.dumps(model.to_dict(ls), ensure_ascii=False, sort_keys=True),
        "counts": json.dumps(
            {k: v for k, v in metrics.items() if k != "classifier" and not k.startswith("seconds")}, sort_keys=True
        ),
    }


def link_source(
    registry: pl.DataFrame,
    records: pl.DataFrame,
    source: str,
    settings: LinkageSettings | None = None,
    clerical: pl.DataFrame | None = None,
    history: pl.DataFrame | None = None,
    namesakes: NamesakesSeen | None = None,
) -> LinkResult:
    """Link one month's agency records to the registry: one links row per record.

    history: (record_key, person_key) of accepted links of this source in earlier
    months (see linkage.record_history); evidence for records seen before.
    namesakes: looks up the source's earlier deliveries for other holders of a unique
    name (evidence.namesakes_seen); without it, `unique_name_seen` evidence is off."""
    t0 = time.perf_counter()
    ls = (settings or LinkageSettings.from_env()).for_source(source)
    month = records["month"][0] if records.height and "month" in records.columns else None
    lp, row_profile = identity_profiles(records)
    rp = prepared_registry(registry)
    con = open_compute()
    register(con, "l_raw", lp)
    register(con, "r_raw", rp)
    _name_counts(con, "l_raw", "r_raw", "r_in", rp)
    key_columns = (ls.evidence.get("record_key") or {}).get(source, [])
    _record_keys(con, "l_raw", "l_in", source, key_columns, history)
    # l_in / r_in are DuckDB's own copies: let the Arrow copies of the frames go
    con.unregister("l_raw")
    con.unregister("r_raw")

    ex = _exact_stage(con, records, registry, source, month, clerical, row_profile)
    t_exact = time.perf_counter() - t0
    t1 = time.perf_counter()
    checks: dict = {}
    prob, result, residual = _probabilistic_stage(con, ls, source, lp, rp, ex, namesakes, checks)
    keys = query_pl(con, "SELECT record_key, 'other:' || md5(id_valid) AS other_person FROM l_in ORDER BY idx")
    con.close()
    t_prob = time.perf_counter() - t1

    detail = _waterfall(prob, ls, result.model, ls.group.factor if ls.group else None)
    prob = prob.select(
        "left_idx", "right_idx", pl.col("score"), pl.lit("probabilistic").alias("method"), "decision"
    ).join(detail, on="left_idx")
    chosen = _chosen(prob, ex)
    links = _links_frame(chosen, row_profile, records, registry, source, month)

    accepted = links["decision"] == "accept"
    metrics = {
        "exact": int(((links["method"] == "exact_id") & accepted).sum()),
        "probabilistic": int(((links["method"] == "probabilistic") & accepted).sum()),
        "clerical": int(((links["method"] == "clerical") & accepted).sum()),
        "review": int((links["decision"] == "review").sum()),
        "unmatched": int((links["decision"] == "none").sum()),
        # clerical decisions that would have replaced an exact-ID link without saying so: refused
        "clerical_refused_exact_id": int(ex.refused_exact),
        "clerical_overrode_exact_id": int(links["detail"].str.contains("clerical_override_exact_id").sum()),
        "candidate_pairs": int(result.candidate_pairs),
        "records": records.height,
        "profiles": lp.height,  # distinct identity profiles linked (see identity_profiles)
        "records_scored": int(row_profile.is_in(pl.Series(residual).implode()).sum()),
        "seconds": round(time.perf_counter() - t0, 3),
        "seconds_exact": round(t_exact, 3),
        "seconds_probabilistic": round(t_prob, 3),
        "classifier": result.model.classifier,
        **checks,  # e.g. unique_name_seen_check: how the evidence fared on ID-bearing records
    }
    return LinkResult(
        links, metrics, _model_run(ls, result.model, month, source, metrics), _key_owners(keys, chosen, registry)
    )


def _key_owners(keys: pl.DataFrame, chosen: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """linkage.record_history rows: (record_key, person) of accepted links, and of records
    whose valid ID links to nobody (a person outside the registry, `other:<md5 of the ID>`):
    a later record with that key is evidence only while one person held it. Per identity
    profile (`keys` in profile order): its records share the key and the decision."""
    frame = keys.with_row_index("left_idx").with_columns(pl.col("left_idx").cast(pl.Int64))
    frame = frame.join(chosen.select("left_idx", "right_idx", "decision"), on="left_idx", how="left")
    decision = pl.col("decision").fill_null("none")
    person = registry["person_key"].cast(pl.String)
    owners = pl.when(decision == "accept").then(pl.col("person")).when(decision == "none").then(pl.col("other_person"))
    return (
        frame.with_columns(person=person.gather(frame["right_idx"]) if registry.height else pl.lit(None, pl.String))
        .select("record_key", person_key=owners)
        .drop_nulls()
        .unique()
        .sort("record_key", "person_key")
    )
