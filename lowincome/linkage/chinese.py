"""The registry configuration of the generic engine: agency records -> registry persons.

Stages (link_source):
1. exact_id: equal valid normalised 身份证号. Accepted when the names agree
   (same name, same pinyin, or a close character / pinyin match); a name that
   disagrees outright goes to review. An ID held by two registry rows -> review.
2. probabilistic (engine): every other record. Blocking keys cover each
   corruption of extracts.md: name pinyin (homophones, traditional characters,
   middle dots, spaces; the only key a human_resources record without an ID
   has), township + surname pinyin (a mistyped given name), county + birth date,
   surname pinyin + birth year (no region), and three ID slices such that an ID
   one substitution or one adjacent transposition away shares at least one.
   Comparisons: name (exact / same pinyin / close characters / close pinyin),
   ID edit distance, birth date (field, else from the ID, else from a typo'd
   ID's digits), sex, village/township/county. Classifier: logistic regression
   trained on the month's exact-ID matches (other candidates of those records
   are the negatives; copies with the ID, or ID + birth + sex, masked teach it
   the other fields; copies with an ID one edit away teach it typos). Chosen by
   measurement: on the samples ECM reached P 0.95-1.0 / R 0.94-0.99, the
   supervised model P = R = 1.0 (to 3 decimals); on FEBRL4 both F1 > 0.999.
   ECM stays available (LINKAGE_CLASSIFIER=ecm).
3. household context (rural_revitalization): the odds of a member's candidate
   are multiplied (divided) by `household_factor` when the other members of its
   监测户 link to the same (another) registry household.
4. identity evidence: a probabilistic `accept` needs (a) the record's ID (valid,
   or the raw digits of a bad 18/15-char ID) within one substitution or adjacent
   transposition of the registry ID, (b) equal birth dates (record field, else from
   its ID), or (c) for rural_revitalization, another member of its 监测户 linked
   by (a)/(b) or exact ID to the same registry household; otherwise `review`.
   Name + region alone never links (same-name people of one village). The
   evidence used is listed in `detail.evidence`.
5. clerical decisions from returned review lists override the above.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from lowincome.linkage.engine import BlockRule, Comparison, GroupContext, LinkConfig, Step, decide, score_pairs

LINK_SCHEMA = {
    "month": pl.Date,
    "source": pl.String,
    "source_row": pl.Int32,
    "registry_row": pl.Int32,
    "registry_household_id": pl.String,
    "registry_person_key": pl.String,
    "match_score": pl.Float64,
    "method": pl.String,
    "decision": pl.String,
    "detail": pl.String,
}
LINK_COLUMNS = tuple(LINK_SCHEMA)


def _env_float(name: str, default: float) -> float:
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


@dataclass
class LinkageSettings:
    """Thresholds and knobs; `LinkageSettings.from_env()` reads LINKAGE_* variables."""

    accept: float = 0.90  # score >= accept (and not ambiguous) -> accept
    review: float = 0.40  # review <= score < accept -> review list
    ambiguity_margin: float = 3.0  # runner-up within this many log-odds (x20) of the best -> review
    classifier: str = "logistic"  # logistic (trained on exact-ID matches) or ecm
    household_factor: float = 20.0  # odds multiplier for household (dis)agreement
    name_close: float = 0.5  # Levenshtein similarity of names counted as "close"
    pinyin_close: float = 0.85  # Jaro-Winkler similarity of pinyin counted as "close"
    max_training_records: int = 4000

    @classmethod
    def from_env(cls) -> "LinkageSettings":
        d = cls()
        return cls(
            accept=_env_float("LINKAGE_ACCEPT", d.accept),
            review=_env_float("LINKAGE_REVIEW", d.review),
            ambiguity_margin=_env_float("LINKAGE_AMBIGUITY_MARGIN", d.ambiguity_margin),
            classifier=os.environ.get("LINKAGE_CLASSIFIER", d.classifier) or d.classifier,
            household_factor=_env_float("LINKAGE_HOUSEHOLD_FACTOR", d.household_factor),
        )


@dataclass
class LinkResult:
    links: pl.DataFrame
    metrics: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# preparation


@functools.cache
def _first_pinyin(char: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(char)).lower()


def _surname_pinyin(names: pl.Series) -> pl.Series:
    first = names.str.slice(0, 1)
    uniq = first.unique().drop_nulls().to_list()
    mapping = {c: _first_pinyin(c) for c in uniq if c}
    return first.replace_strict(mapping, default=None, return_dtype=pl.String)


def _col(df: pl.DataFrame, name: str, dtype=pl.String) -> pl.Expr:
    return pl.col(name) if name in df.columns else pl.lit(None, dtype=dtype).alias(name)


def _ymd(e: pl.Expr) -> pl.Expr:
    return e.dt.strftime("%Y%m%d")


def prepare(df: pl.DataFrame) -> pl.DataFrame:
    """Std registry or agency table -> the engine's comparison fields."""
    raw = _col(df, "id_number_raw").cast(pl.String).str.normalize("NFKC").str.to_uppercase()
    raw = raw.str.replace_all(r"[^0-9X]", "")
    id18 = pl.coalesce(_col(df, "id_number"), pl.when(raw.str.contains(r"^\d{17}[\dX]$")).then(raw))
    raw_birth = id18.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    raw_birth = pl.when(raw_birth.dt.year().is_between(1900, 2030)).then(raw_birth)
    birth = pl.coalesce(
        _col(df, "birth_date", pl.Date).cast(pl.Date), _col(df, "id_birth_date", pl.Date).cast(pl.Date), raw_birth
    )
    raw_sex = pl.when(id18.str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1).then(pl.lit("男")).otherwise(
        pl.when(id18.str.slice(16, 1).is_not_null()).then(pl.lit("女"))
    )
    sex = pl.coalesce(_col(df, "sex"), _col(df, "id_sex"), raw_sex)
    county = _col(df, "county_code")  # residence county only when delivered (an ID region is the birthplace)
    out = df.select(
        pl.col("name").cast(pl.String),
        pl.col("name_pinyin").cast(pl.String).alias("pinyin"),
        _col(df, "id_number").alias("id_valid"),
        id18.alias("id18"),
        # a legacy 15-digit ID that did not normalise (bad birth date): its digits as delivered
        pl.when(_col(df, "id_number").is_null() & raw.str.contains(r"^\d{15}$")).then(raw).alias("id15_raw"),
        _ymd(birth).alias("birth"),
        birth.dt.year().cast(pl.String).alias("birth_year"),
        sex.alias("sex"),
        county.alias("county"),
        _col(df, "township_code").alias("township"),
        _col(df, "village_code").alias("village"),
        pl.coalesce(_col(df, "household_id"), _col(df, "rr_household_id")).alias("group"),
    )
    return out.with_columns(
        surname_py=_surname_pinyin(out["name"]),
        # one substitution or adjacent transposition anywhere leaves one slice intact:
        # positions 0-4 -> id_b; 5-13 -> id_c; 13-17 -> id_a
        id_a=pl.col("id18").str.slice(0, 13),
        id_b=pl.col("id18").str.slice(6, 12),
        id_c=pl.concat_str([pl.col("id18").str.slice(0, 5), pl.col("id18").str.slice(14, 4)]),
        county=pl.when(pl.col("county").str.len_chars() == 6).then(pl.col("county")),
    ).with_columns(year_if_no_region=pl.when(pl.col("county").is_null()).then(pl.col("birth_year")))


def _as_is(df: pl.DataFrame) -> pl.DataFrame:
    return df


def registry_config(settings: LinkageSettings, source: str) -> LinkConfig:
    s = settings
    comparisons = (
        Comparison(
            "name",
            (
                Step("exact", "exact", "name"),
                Step("pinyin", "exact", "pinyin"),
                Step("close", "levenshtein", "name", threshold=s.name_close),
                Step("pinyin_close", "jarowinkler", "pinyin", threshold=s.pinyin_close),
            ),
        ),
        Comparison(
            "id",
            (
                Step("exact", "osa", "id18", threshold=0),
                Step("d1", "osa", "id18", threshold=1),
                Step("d2", "osa", "id18", threshold=2),
            ),
        ),
        Comparison(
            "birth",
            (
                Step("exact", "exact", "birth"),
                Step("d1", "osa", "birth", threshold=1),
                Step("year", "exact", "birth_year"),
            ),
        ),
        Comparison("sex", (Step("same", "exact", "sex"),)),
        Comparison(
            "region",
            (
                Step("village", "exact", "village"),
                Step("township", "exact", "township"),
                Step("county", "exact", "county"),
            ),
        ),
    )
    blocking = (
        BlockRule("pinyin", ("pinyin",)),
        BlockRule("township_surname", ("township", "surname_py")),
        BlockRule("county_birth", ("county", "birth")),
        # only for records that carry no region (human_resources; county+birth covers the rest)
        BlockRule("surname_birth_year", ("surname_py", "year_if_no_region"), ("surname_py", "birth_year")),
        BlockRule("id_a", ("id_a",)),
        BlockRule("id_b", ("id_b",)),
        BlockRule("id_c", ("id_c",)),
    )
    return LinkConfig(
        comparisons=comparisons,
        blocking=blocking,
        prepare_left=prepare,
        prepare_right=prepare,
        classifier=s.classifier,
        seed_left="id_valid",
        seed_right="id_valid",
        seed_masks=(("id",), ("id", "birth", "sex")),
        seed_simulate={"id": ("d1",)},
        group=GroupContext("group", "group", s.household_factor) if source == "rural_revitalization" else None,
        accept=s.accept,
        review=s.review,
        ambiguity_margin=s.ambiguity_margin,
        max_training_records=s.max_training_records,
    )


# --------------------------------------------------------------------------
# stages


def _names_agree(a: pl.Series, b: pl.Series, pa: pl.Series, pb: pl.Series, s: LinkageSettings) -> np.ndarray:
    """Same name, same pinyin, close characters or close pinyin (vectorised)."""
    an, bn = a.fill_null("").to_list(), b.fill_null("").to_list()
    ap, bp = pa.fill_null("").to_list(), pb.fill_null("").to_list()
    if not an:
        return np.zeros(0, dtype=bool)
    lev = process.cpdist(an, bn, scorer=Levenshtein.normalized_similarity, workers=1)
    jw = process.cpdist(ap, bp, scorer=JaroWinkler.normalized_similarity, workers=1)
    same = (a == b).fill_null(False).to_numpy() | (pa == pb).fill_null(False).to_numpy()
    return same | (lev >= s.name_close) | (jw >= s.pinyin_close)


def _token(prefix: str, key: str) -> str:
    return prefix + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def person_token(person_key: str) -> str:
    """Masked stand-in for a registry person_key (which may hold an ID number)."""
    return _token("h:", person_key)


def _record_tokens(records: pl.DataFrame, source: str) -> pl.Series:
    """Stable key of each agency record across months: source + name + ID as delivered, hashed."""
    raw = records["id_number_raw"] if "id_number_raw" in records.columns else pl.Series([None] * records.height)
    keys = (
        pl.DataFrame({"n": records["name"], "i": raw.cast(pl.String)})
        .select(pl.concat_str([pl.lit(source), pl.col("n").fill_null(""), pl.col("i").fill_null("")], separator="|"))
        .to_series()
    )
    uniq = keys.unique()
    mapping = {k: _token("r:", k) for k in uniq.to_list()}
    return keys.replace_strict(mapping, return_dtype=pl.String)


def _person_tokens(keys: pl.Series) -> pl.Series:
    uniq = keys.drop_nulls().unique().to_list()
    mapping = {k: person_token(k) for k in uniq}
    return keys.replace_strict(mapping, default=None, return_dtype=pl.String)


def link_source(
    registry: pl.DataFrame,
    records: pl.DataFrame,
    source: str,
    settings: LinkageSettings | None = None,
    clerical: pl.DataFrame | None = None,
) -> LinkResult:
    """Link one month's agency records to the registry: one links row per record."""
    t0 = time.perf_counter()
    s = settings or LinkageSettings.from_env()
    config = registry_config(s, source)
    n = records.height
    month = records["month"][0] if n and "month" in records.columns else None
    lp = prepare(records)
    rp = prepare(registry)

    # ---- stage 1: exact ID ----------------------------------------------
    rid = rp.select(pl.col("id_valid"), pl.int_range(pl.len()).alias("right_idx")).drop_nulls("id_valid")
    dup = rid.group_by("id_valid").agg(pl.len().alias("k"))
    ex = (
        lp.select(pl.col("id_valid"), pl.int_range(pl.len()).alias("left_idx"))
        .drop_nulls("id_valid")
        .join(rid, on="id_valid")
        .join(dup, on="id_valid")
    )
    agree = _names_agree(
        lp["name"].gather(ex["left_idx"]),
        rp["name"].gather(ex["right_idx"]),
        lp["pinyin"].gather(ex["left_idx"]),
        rp["pinyin"].gather(ex["right_idx"]),
        s,
    )
    ex = ex.with_columns(name_agrees=pl.Series(agree, dtype=pl.Boolean))
    ex_accept = ex.filter(pl.col("name_agrees") & (pl.col("k") == 1))
    ex_review = (
        ex.filter(~pl.col("left_idx").is_in(ex_accept["left_idx"].implode()))
        .sort("left_idx", "name_agrees", descending=[False, True])
        .unique("left_idx", keep="first", maintain_order=True)
    )
    anchors = dict(zip(ex_accept["left_idx"].to_list(), ex_accept["right_idx"].to_list()))

    # ---- stage 2: probabilistic ------------------------------------------
    decided = set(anchors) | set(ex_review["left_idx"].to_list())
    residual = np.setdiff1d(np.arange(n), np.fromiter(decided, dtype=np.int64, count=len(decided)))
    # the frames are prepared once, here: the engine gets them as they are
    prepared = dataclasses.replace(config, prepare_left=_as_is, prepare_right=_as_is)
    result = score_pairs(prepared, lp, rp, left_subset=residual, anchors=anchors)
    scored = result.pairs

    # ---- clerical decisions -----------------------------------------------
    rec_tok = _record_tokens(records, source)
    reg_tok = _person_tokens(registry["person_key"].cast(pl.String))
    clerical_match = pl.DataFrame(schema={"left_idx": pl.Int64, "right_idx": pl.Int64})
    if clerical is not None and clerical.height and n:
        clerical_match, forbidden = _clerical_pairs(clerical, records, source, month, rec_tok, reg_tok)
        if forbidden.height:
            scored = scored.join(forbidden, on=["left_idx", "right_idx"], how="anti")
    d = decide(scored, s.accept, s.review, s.ambiguity_margin)
    d = _require_identity_evidence(d, ex_accept.select("left_idx", "right_idx"), lp, rp, source == "rural_revitalization")

    # ---- assemble -----------------------------------------------------------
    base = pl.DataFrame({"left_idx": np.arange(n, dtype=np.int64)})
    lvl_cols = [c for c in scored.columns if c.startswith("lvl_")]
    prob = d.join(scored.select("left_idx", "right_idx", *lvl_cols, *(["group_support"] if "group_support" in scored.columns else [])), on=["left_idx", "right_idx"], how="left")
    detail_prob = prob.select(
        "left_idx",
        pl.struct(
            [pl.col(c).alias(c[4:]) for c in lvl_cols]
            + ([pl.col("group_support").alias("household")] if "group_support" in prob.columns else [])
            + [pl.col("ambiguous"), pl.col("second_score").round(4).alias("runner_up_score"), pl.col("evidence")]
        )
        .struct.json_encode()
        .alias("detail"),
    )
    prob = prob.select(
        "left_idx", "right_idx", pl.col("score"), pl.lit("probabilistic").alias("method"), "decision"
    ).join(detail_prob, on="left_idx")
    exact = pl.concat(
        [
            ex_accept.select(
                "left_idx", "right_idx", pl.lit(1.0).alias("score"), pl.lit("exact_id").alias("method"),
                pl.lit("accept").alias("decision"), pl.lit('{"reason":"id_equal"}').alias("detail"),
            ),
            ex_review.select(
                "left_idx", "right_idx", pl.lit(0.5).alias("score"), pl.lit("exact_id").alias("method"),
                pl.lit("review").alias("decision"),
                pl.when(pl.col("k") > 1)
                .then(pl.lit('{"reason":"id_duplicated_in_registry"}'))
                .otherwise(pl.lit('{"reason":"id_equal_name_conflict"}'))
                .alias("detail"),
            ),
        ]
    )
    parts = [exact, prob]
    if clerical_match.height:
        cm = clerical_match.select(
            "left_idx", "right_idx", pl.lit(1.0).alias("score"), pl.lit("clerical").alias("method"),
            pl.lit("accept").alias("decision"), pl.lit('{"reason":"clerical_match"}').alias("detail"),
        )
        parts = [p.join(cm.select("left_idx"), on="left_idx", how="anti") for p in parts] + [cm]
    chosen = pl.concat([p.cast({"left_idx": pl.Int64, "right_idx": pl.Int64}) for p in parts])
    if clerical is not None and clerical.height and n and forbidden.height:
        # a record whose candidate was rejected by a clerk and nothing else qualifies
        rejected = forbidden.select("left_idx").unique()
        chosen = chosen.with_columns(
            method=pl.when(pl.col("left_idx").is_in(rejected["left_idx"].implode()) & (pl.col("decision") == "none"))
            .then(pl.lit("clerical"))
            .otherwise(pl.col("method"))
        )
    out = base.join(chosen, on="left_idx", how="left")
    none_detail = pl.lit('{"reason":"no_candidate"}')
    out = out.with_columns(
        right_idx=pl.when(pl.col("decision") != "none").then(pl.col("right_idx")),
        score=pl.col("score").fill_null(0.0).clip(0.0, 1.0),
        method=pl.col("method").fill_null("probabilistic"),
        decision=pl.col("decision").fill_null("none"),
        detail=pl.col("detail").fill_null(none_detail),
    )
    ri = out["right_idx"]
    links = pl.DataFrame(
        {
            "month": pl.Series([month] * n, dtype=pl.Date),
            "source": pl.Series([source] * n, dtype=pl.String),
            "source_row": records["source_row"].cast(pl.Int32),
            "registry_row": registry["source_row"].cast(pl.Int32).gather(ri) if n else pl.Series([], dtype=pl.Int32),
            "registry_household_id": registry["household_id"].cast(pl.String).gather(ri) if n else pl.Series([], dtype=pl.String),
            "registry_person_key": registry["person_key"].cast(pl.String).gather(ri) if n else pl.Series([], dtype=pl.String),
            "match_score": out["score"].round(6),
            "method": out["method"],
            "decision": out["decision"],
            "detail": out["detail"],
        },
        schema=LINK_SCHEMA,
    )
    is_prob = (links["method"] == "probabilistic") & (links["decision"] == "accept")
    metrics = {
        "exact": int(((links["method"] == "exact_id") & (links["decision"] == "accept")).sum()),
        "probabilistic": int(is_prob.sum()),
        "clerical": int(((links["method"] == "clerical") & (links["decision"] == "accept")).sum()),
        "review": int((links["decision"] == "review").sum()),
        "unmatched": int((links["decision"] == "none").sum()),
        "candidate_pairs": int(result.candidate_pairs),
        "records": n,
        "seconds": round(time.perf_counter() - t0, 3),
        "classifier": result.classifier,
    }
    return LinkResult(links, metrics)


def _osa_le1(a: pl.Series, b: pl.Series) -> np.ndarray:
    """a and b (aligned, nullable strings) within one substitution / adjacent transposition."""
    known = (a.is_not_null() & b.is_not_null()).to_numpy()
    out = np.zeros(len(a), dtype=bool)
    if known.any():
        ka = a.filter(pl.Series(known)).to_list()
        kb = b.filter(pl.Series(known)).to_list()
        out[known] = process.cpdist(ka, kb, scorer=OSA.distance, workers=1) <= 1
    return out


def identity_evidence(pairs: pl.DataFrame, lp: pl.DataFrame, rp: pl.DataFrame) -> pl.DataFrame:
    """ID / birth-date evidence of (left_idx, right_idx) pairs of prepared frames.

    ev_id: the record's ID (valid, or the raw digits of a bad-check-digit 18-char /
    bad 15-char ID) is within one substitution or adjacent transposition of the
    registry ID. ev_birth: the record's birth date (field, else from its ID) equals
    the registry person's.
    """
    li, ri = pairs["left_idx"], pairs["right_idx"]
    ev_id = _osa_le1(lp["id18"].gather(li), rp["id18"].gather(ri))
    reg15 = rp["id18"].gather(ri)
    reg15 = pl.DataFrame({"x": reg15}).select(pl.concat_str([pl.col("x").str.slice(0, 6), pl.col("x").str.slice(8, 9)])).to_series()
    ev_id |= _osa_le1(lp["id15_raw"].gather(li), reg15)
    ev_birth = (lp["birth"].gather(li) == rp["birth"].gather(ri)).fill_null(False).to_numpy()
    return pairs.with_columns(ev_id=pl.Series(ev_id, dtype=pl.Boolean), ev_birth=pl.Series(ev_birth, dtype=pl.Boolean))


def _require_identity_evidence(
    d: pl.DataFrame, exact: pl.DataFrame, lp: pl.DataFrame, rp: pl.DataFrame, households: bool
) -> pl.DataFrame:
    """A probabilistic `accept` needs identity evidence, else it becomes `review`.

    Evidence: ID (ev_id), birth date (ev_birth) or, with `households`
    (rural_revitalization), another member of the record's 监测户 linked by ID or
    birth-date evidence (exact-ID accepts included) to the candidate's registry
    household. Adds `evidence` (list of "id" / "birth" / "household").
    """
    d = identity_evidence(d, lp, rp)
    ev_household = pl.lit(False)
    if households:
        lg, rg = lp["group"], rp["group"]
        strong = pl.concat(
            [
                exact.select(pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64)),
                d.filter((pl.col("decision") == "accept") & (pl.col("ev_id") | pl.col("ev_birth"))).select(
                    pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64)
                ),
            ]
        )
        strong = strong.with_columns(lgroup=lg.gather(strong["left_idx"]), rgroup=rg.gather(strong["right_idx"]))
        votes = (
            strong.drop_nulls(["lgroup", "rgroup"])
            .group_by("lgroup", "rgroup")
            .agg(pl.col("left_idx").alias("voters"), pl.len().alias("n_votes"))
        )
        d = d.with_columns(lgroup=lg.gather(d["left_idx"]), rgroup=rg.gather(d["right_idx"])).join(
            votes, on=["lgroup", "rgroup"], how="left"
        )
        # other members only (leave the record's own link out)
        d = d.with_columns(
            ev_household=(
                pl.col("n_votes") - pl.col("voters").list.contains(pl.col("left_idx")).cast(pl.UInt32)
            ).fill_null(0)
            >= 1
        ).drop("lgroup", "rgroup", "voters", "n_votes")
        ev_household = pl.col("ev_household")
    has = pl.col("ev_id") | pl.col("ev_birth") | ev_household
    evidence = pl.concat_list(
        [
            pl.when(pl.col("ev_id")).then(pl.lit("id")),
            pl.when(pl.col("ev_birth")).then(pl.lit("birth")),
            pl.when(ev_household).then(pl.lit("household")),
        ]
    ).list.drop_nulls()
    return d.with_columns(
        decision=pl.when((pl.col("decision") == "accept") & ~has).then(pl.lit("review")).otherwise(pl.col("decision")),
        evidence=evidence,
    ).drop([c for c in ("ev_id", "ev_birth", "ev_household") if c in d.columns])


def _clerical_pairs(
    clerical: pl.DataFrame,
    records: pl.DataFrame,
    source: str,
    month,
    rec_tok: pl.Series,
    reg_tok: pl.Series,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clerical decisions -> (forced matches, forbidden pairs) as (left_idx, right_idx).

    A decision names a record either by (month, source, source_row) in its own
    month or, in any later month, by record_key (source + name + ID as delivered);
    and a registry person by person_key or its masked token. The latest decision
    for a (record, person) wins.
    """
    c = clerical.filter(pl.col("source") == source)
    if "record_key" not in c.columns:
        c = c.with_columns(record_key=pl.lit(None, dtype=pl.String))
    if month is not None:
        c = c.filter(pl.col("month").cast(pl.Date) <= month)
    c = c.with_columns(
        person=pl.when(pl.col("registry_person_key").str.starts_with("h:"))
        .then(pl.col("registry_person_key"))
        .otherwise(_person_tokens(c["registry_person_key"].cast(pl.String)))
    )
    recs = pl.DataFrame(
        {"left_idx": np.arange(records.height, dtype=np.int64), "source_row": records["source_row"].cast(pl.Int64), "record_key": rec_tok}
    )
    by_row = c.filter(pl.col("month").cast(pl.Date) == month).join(
        recs.select("left_idx", "source_row"), on=pl.col("source_row").cast(pl.Int64)
    ) if month is not None else c.head(0).with_columns(left_idx=pl.lit(0, dtype=pl.Int64))
    by_key = c.drop_nulls("record_key").join(recs.select("left_idx", "record_key"), on="record_key")
    cols = ["left_idx", "person", "decision", "month"]
    both = pl.concat([by_row.select(cols), by_key.select(cols)]).sort("month")
    both = both.unique(["left_idx", "person"], keep="last")
    regs = pl.DataFrame({"right_idx": np.arange(len(reg_tok), dtype=np.int64), "person": reg_tok}).drop_nulls()
    both = both.join(regs, on="person")
    matches = both.filter(pl.col("decision") == "match").unique("left_idx", keep="last").select("left_idx", "right_idx")
    forbidden = both.filter(pl.col("decision") == "non_match").select("left_idx", "right_idx")
    return matches, forbidden
