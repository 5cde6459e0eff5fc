"""A generic, settings-driven record-linkage engine: set operations over DuckDB.

The way Splink works: every heavy step is SQL generated from the settings
(`settings.py`) and run over whole tables, with no per-pair Python objects.

    blocking     one equi-join per rule, UNION  -> candidate pairs (li, ri)
    comparisons  one CASE per comparison         -> level per pair (TINYINT)
    training     recordlinkage fits a classifier on the level vectors of a sample
                 (logistic on seed pairs, or ECM) -> an additive model:
                 log-odds = prior + sum of one weight per (comparison, level)
    scoring      the model as SQL CASE sums      -> log-odds and score per pair
    decision     best candidate per record, ambiguity, accept / review / none

Because the model is additive in the levels, every score is explainable as a
waterfall (prior, then +/- per comparison), and the weights are saved per month.

Inputs are DuckDB relations `left` / `right` with an `idx` column (0-based row
position), registered by the caller; the engine never needs another process.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from lowincome.linkage.settings import Comparison, LinkSettings
from lowincome.warehouse import query_pl

MISSING = -1
MAX_WEIGHT = 30.0  # log-odds; a level never seen on one side (m or u = 0) would be infinite


def classifier_modules():
    """(pandas, recordlinkage): imported when a model is fitted, not with the engine.
    scikit-learn under recordlinkage takes ~1 s to import; every process that loads
    the Dagster definitions (code server, CLI, each step of a multiprocess run)
    imported it, and most never fit a model."""
    import pandas as pd
    import recordlinkage

    return pd, recordlinkage


def _finite(w: float) -> float:
    return 0.0 if math.isnan(w) else max(-MAX_WEIGHT, min(MAX_WEIGHT, float(w)))


def open_compute(threads: int = 2, memory_limit: str = "6GB") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for linkage work (spills to disk past `memory_limit`)."""
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    con.execute("SET preserve_insertion_order = false")
    return con


def register(con: duckdb.DuckDBPyConnection, name: str, df: pl.DataFrame) -> None:
    """Expose a polars frame to SQL as `name`, with `idx` = row position."""
    if "idx" not in df.columns:
        df = df.with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))
    con.register(name, df.to_arrow())


# --------------------------------------------------------------------------
# SQL generation


def level_case(c: Comparison) -> str:
    """CASE (over aliases l, r) giving the pair's level index: -1 missing,
    0.. the levels, len(levels) disagree."""
    whens = []
    known_any = []
    for i, lv in enumerate(c.levels):
        known = lv.known_sql
        whens.append(f"WHEN ({known}) AND ({lv.sql}) THEN {i}")
        known_any.append(f"({known})")
    disagree = len(c.levels)
    return f"CASE {' '.join(whens)} WHEN {' OR '.join(known_any)} THEN {disagree} ELSE {MISSING} END"


def blocking_columns(settings: LinkSettings) -> list[str]:
    """The left-side columns blocking reads: `idx`, the blocks' keys, and the l.<column>
    names in their `where` and in `exclude`."""
    sql = " ".join([b.where or "" for b in settings.blocking] + [settings.exclude or ""])
    named = [k for b in settings.blocking for k in b.keys] + re.findall(r"\bl\.(\w+)", sql)
    return list(dict.fromkeys(["idx", *named]))


def candidates_sql(settings: LinkSettings, left: str, right: str) -> str:
    """UNION of the blocking rules' equi-joins (left rows already restricted),
    less the pairs the settings rule out (`exclude`)."""
    parts = []
    for b in settings.blocking:
        on = " AND ".join(f"l.{c} = r.{c}" for c in b.keys)
        conds = [c for c in (b.where, f"NOT coalesce(({settings.exclude}), false)" if settings.exclude else None) if c]
        where = f" WHERE {' AND '.join(f'({c})' for c in conds)}" if conds else ""
        parts.append(f"SELECT l.idx AS li, r.idx AS ri FROM {left} l JOIN {right} r ON {on}{where}")
    return "\nUNION\n".join(parts)


# --------------------------------------------------------------------------
# the model


@dataclass
class Model:
    """log-odds = prior + sum over comparisons of weights[c][level] (missing -> 0)."""

    classifier: str
    prior: float
    weights: dict[str, list[float]]  # comparison -> weight per level index (incl. disagree)
    training: dict = field(default_factory=dict)
    missing: dict[str, float] = field(default_factory=dict)  # weight of a missing comparison (default 0)

    def weight(self, comparison: str, level: int) -> float:
        return self.missing.get(comparison, 0.0) if level == MISSING else self.weights[comparison][level]

    def logit_sql(self, settings: LinkSettings, alias: str = "p") -> str:
        terms = [repr(self.prior)]
        for c in settings.comparisons:
            w = self.weights[c.name]
            cases = " ".join(f"WHEN {i} THEN {x!r}" for i, x in enumerate(w))
            terms.append(f"(CASE {alias}.lvl_{c.name} {cases} ELSE {self.missing.get(c.name, 0.0)!r} END)")
        return " + ".join(terms)

    def to_dict(self, settings: LinkSettings) -> dict:
        return {
            "classifier": self.classifier,
            "prior": round(self.prior, 6),
            "weights": {
                c.name: {lab: round(w, 6) for lab, w in zip(c.labels, self.weights[c.name])}
                for c in settings.comparisons
            },
            "missing": {k: round(v, 6) for k, v in self.missing.items()},
            "training": self.training,
        }


def _one_hot(levels: np.ndarray, settings: LinkSettings):
    """levels: (n, n_comparisons) level indices -> one-hot features '<c>=<label>' (pandas)."""
    pd, _ = classifier_modules()
    cols = {}
    for j, c in enumerate(settings.comparisons):
        for i, lab in enumerate(c.labels):
            cols[f"{c.name}={lab}"] = (levels[:, j] == i).astype(np.int8)
    return pd.DataFrame(cols)


def fit_logistic(levels: np.ndarray, y: np.ndarray, settings: LinkSettings) -> Model:
    """Logistic regression (recordlinkage) on one-hot levels of seed records'
    candidate pairs, with masked and simulated copies (settings.training)."""
    pd, recordlinkage = classifier_modules()
    # The vectors take few distinct values: fit on each distinct (vector, label) once,
    # weighted by its count (the same objective as fitting every row). Copies are made of
    # the distinct vectors with their counts: a copy of a vector is one vector.
    distinct = (
        pl.DataFrame(np.column_stack([levels, y]).astype(np.int64))
        .group_by(pl.all())
        .len("_n")
        .sort(pl.all().exclude("_n"))
        .to_numpy()
    )
    X = _one_hot(distinct[:, :-2], settings)
    y0, n0 = distinct[:, -2], distinct[:, -1]

    def masked(frame, names):
        out = frame.copy()
        for cname in names:
            out[[f"{cname}={lab}" for lab in settings.comparison(cname).labels]] = 0
        return out

    parts_X, parts_y, parts_n = [X], [y0], [n0]
    variants = [((), X)]  # (masked comparisons, frame)
    for mask in settings.masks:
        Xm = masked(X, mask)
        variants.append((mask, Xm))
        parts_X.append(Xm)
        parts_y.append(y0)
        parts_n.append(n0)
    # simulated positives, on the frame as it is and on every mask that leaves the comparison known
    for cname, labels in settings.simulate.items():
        for lab in labels:
            for mask, frame in variants:
                if cname in mask:
                    continue
                Xp = masked(frame[y0 == 1], [cname])
                Xp[f"{cname}={lab}"] = 1
                parts_X.append(Xp)
                parts_y.append(np.ones(len(Xp), dtype=np.int64))
                parts_n.append(n0[y0 == 1])
    Xt = pd.concat(parts_X, ignore_index=True)
    Xt["_y"] = np.concatenate(parts_y)
    Xt["_n"] = np.concatenate(parts_n)
    grouped = Xt.groupby([c for c in Xt.columns if c != "_n"], sort=True)["_n"].sum().reset_index()
    yt = grouped.pop("_y").to_numpy()
    weight = grouped.pop("_n").to_numpy()
    clf = recordlinkage.LogisticRegressionClassifier()
    clf.kernel.set_params(C=100.0, max_iter=2000)
    # recordlinkage's fit() passes no sample weights: fit its scikit-learn kernel directly
    clf.kernel.fit(grouped, yt, sample_weight=weight)
    coef = dict(zip(grouped.columns, clf.kernel.coef_[0]))
    weights = {c.name: [_finite(coef[f"{c.name}={lab}"]) for lab in c.labels] for c in settings.comparisons}
    return Model(
        "logistic",
        _finite(clf.kernel.intercept_[0]),
        weights,
        {
            "pairs": len(y),
            "matches": int(y.sum()),
            "rows_with_copies": int(weight.sum()),
            "distinct_vectors": len(grouped),
        },
    )


def fit_ecm(levels: np.ndarray, settings: LinkSettings) -> Model:
    """recordlinkage ECM on cumulative binary features ('<c> at least level k');
    the naive-Bayes log weights give one additive weight per level."""
    pd, recordlinkage = classifier_modules()
    cum = {}
    for j, c in enumerate(settings.comparisons):
        lv = levels[:, j]
        for k, _lab in enumerate(c.labels[:-1]):
            cum[(c.name, k)] = ((lv >= 0) & (lv <= k)).astype(np.int8)
    X = pd.DataFrame({f"{n}>={k}": v for (n, k), v in cum.items()})
    varying = [col for col in X.columns if X[col].nunique() > 1]
    weights = {c.name: [0.0] * len(c.labels) for c in settings.comparisons}
    if not varying or len(X) < 10:
        return Model("ecm", -20.0, weights, {"pairs": len(X), "note": "nothing to learn"})
    ecm = recordlinkage.ECMClassifier(binarize=None)
    ecm.fit(X[varying])
    lw = ecm.log_weights
    for c in settings.comparisons:
        for level in range(len(c.labels)):
            total = 0.0
            for k in range(len(c.labels) - 1):
                col = f"{c.name}>={k}"
                if col in lw:
                    x = int(level <= k)  # the feature holds when the level is at least as strong as k
                    total += float(lw[col].get(x, 0.0))
            weights[c.name][level] = _finite(total)
    # a missing comparison has every cumulative feature 0, exactly like disagree
    p = math.exp(ecm.log_p)
    if not 0.0 < p < 1.0:
        p = min(max(p, 1e-12), 1 - 1e-12)
    missing = {c.name: weights[c.name][-1] for c in settings.comparisons}
    return Model("ecm", _finite(math.log(p / (1 - p))), weights, {"pairs": len(X)}, missing)


# --------------------------------------------------------------------------
# the engine


@dataclass
class EngineResult:
    """Scored candidate pairs of the records to link (left_idx, right_idx = idx)."""

    pairs: pl.DataFrame  # left_idx, right_idx, logit, score, lvl_<comparison>..., adj_<adjustment>...
    candidate_pairs: int
    model: Model
    seconds: float


def _int_frame(name: str, values) -> pl.DataFrame:
    return pl.DataFrame({name: np.asarray(values, dtype=np.int64)})


def score_pairs(
    con: duckdb.DuckDBPyConnection,
    settings: LinkSettings,
    left: str = "l_in",
    right: str = "r_in",
    link_rows: np.ndarray | None = None,
    seeds: pl.DataFrame | None = None,
    extra_pairs: pl.DataFrame | None = None,
) -> EngineResult:
    """Block, compare, fit and score.

    link_rows: left idx to link (default all). seeds: known matches (left_idx,
    right_idx) for the logistic classifier, by default the pairs equal on
    `settings.seed_column` where the value is unique on the right; a sample of
    their records is blocked and compared too, for training only. extra_pairs:
    more candidates (left_idx, right_idx), e.g. from group context.
    """
    t0 = time.perf_counter()
    n_left = con.sql(f"SELECT count(*) FROM {left}").fetchall()[0][0]
    if seeds is None and settings.seed_column:
        k = settings.seed_column
        seeds = query_pl(
            con,
            f"""SELECT l.idx AS left_idx, r.idx AS right_idx FROM {left} l JOIN {right} r ON l.{k} = r.{k}
            WHERE r.{k} IN (SELECT {k} FROM {right} WHERE {k} IS NOT NULL GROUP BY 1 HAVING count(*) = 1)
            ORDER BY 1""",
        )
    link = np.arange(n_left, dtype=np.int64) if link_rows is None else np.asarray(link_rows, dtype=np.int64)
    rng = np.random.default_rng(settings.random_state)
    use_seeds = settings.classifier == "logistic" and seeds is not None and seeds.height >= 20
    train = np.array([], dtype=np.int64)
    if use_seeds:
        train = seeds["left_idx"].unique().sort().to_numpy().astype(np.int64)
        if len(train) > settings.max_training_records:
            train = np.sort(rng.choice(train, settings.max_training_records, replace=False))
    register(con, "_link_rows", _int_frame("idx", link))
    register(con, "_train_rows", _int_frame("idx", train))
    # The records to block carry only what blocking reads (a narrow copy: a prefecture's
    # health-insurance month leaves ~2M records here); comparisons read `left` itself.
    cols = blocking_columns(settings)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _lt AS SELECT {', '.join(f'l.{c}' for c in cols)} FROM {left} l "
        "WHERE l.idx IN (SELECT idx FROM _link_rows)"
    )
    # Training records are blocked as if their seed key were unknown: they stand for
    # the records that reach this stage without one, and must meet the same rivals.
    train_cols = ", ".join(
        f"CASE WHEN false THEN l.{c} END AS {c}" if c == settings.seed_column else f"l.{c}" for c in cols
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _lt_train AS SELECT {train_cols} FROM {left} l "
        "WHERE l.idx IN (SELECT idx FROM _train_rows)"
    )
    extras = [candidates_sql(settings, "_lt_train", right)] if len(train) else []
    if use_seeds:
        register(
            con, "_seed_pairs", seeds.select(pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64))
        )
        extras.append(
            "SELECT left_idx AS li, right_idx AS ri FROM _seed_pairs WHERE left_idx IN (SELECT idx FROM _train_rows)"
        )
    if extra_pairs is not None and extra_pairs.height:
        register(
            con,
            "_extra_pairs",
            extra_pairs.select(pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64)),
        )
        extras.append("SELECT left_idx AS li, right_idx AS ri FROM _extra_pairs")
    cand = candidates_sql(settings, "_lt", right)
    if extras:
        cand += "\nUNION\n" + "\nUNION\n".join(extras)
    lvl_cols = ", ".join(
        [f"({level_case(c)})::TINYINT AS lvl_{c.name}" for c in settings.comparisons]
        + [f"coalesce(({a.sql}), false) AS adj_{a.name}" for a in settings.adjustments]
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _pairs AS
        WITH cand AS ({cand})
        SELECT cand.li, cand.ri, {lvl_cols}
        FROM cand JOIN {left} l ON l.idx = cand.li JOIN {right} r ON r.idx = cand.ri"""
    )
    lvl_names = [f"lvl_{c.name}" for c in settings.comparisons]
    n_candidates = con.sql("SELECT count(*) FROM _pairs WHERE li IN (SELECT idx FROM _link_rows)").fetchall()[0][0]

    model = None
    if use_seeds:
        tp = query_pl(
            con,
            f"SELECT p.li, p.ri, s.right_idx AS partner, {', '.join('p.' + c for c in lvl_names)} "
            "FROM _pairs p JOIN _train_rows t ON t.idx = p.li JOIN _seed_pairs s ON s.left_idx = p.li "
            "ORDER BY p.li, p.ri",
        )
        y = (tp["ri"] == tp["partner"]).to_numpy().astype(int)
        if 0 < y.sum() < len(y):
            model = fit_logistic(tp.select(lvl_names).to_numpy(), y, settings)
    if model is None:
        sample = query_pl(
            con,
            f"SELECT {', '.join(lvl_names)} FROM _pairs WHERE li IN (SELECT idx FROM _link_rows) "
            f"ORDER BY li, ri LIMIT 200000",
        )
        model = fit_ecm(sample.to_numpy(), settings)
    logit = model.logit_sql(settings, "p") + "".join(
        f" + (CASE WHEN p.adj_{a.name} THEN {a.weight!r} ELSE 0.0 END)" for a in settings.adjustments
    )
    out_cols = lvl_names + [f"adj_{a.name}" for a in settings.adjustments]
    pairs = query_pl(
        con,
        f"""SELECT p.li AS left_idx, p.ri AS right_idx, {logit} AS logit, {", ".join("p." + c for c in out_cols)}
        FROM _pairs p WHERE p.li IN (SELECT idx FROM _link_rows) ORDER BY 1, 2""",
    )
    pairs = pairs.with_columns(score=_sigmoid(pl.col("logit")))
    con.execute("DROP TABLE IF EXISTS _pairs; DROP TABLE IF EXISTS _lt; DROP TABLE IF EXISTS _lt_train")
    return EngineResult(pairs, int(n_candidates), model, time.perf_counter() - t0)


def _sigmoid(x: pl.Expr) -> pl.Expr:
    return (1.0 / (1.0 + (-x.clip(-50, 50)).exp())).clip(0.0, 1.0)


def _odds(p: pl.Expr) -> pl.Expr:
    q = p.clip(1e-9, 1 - 1e-9)
    return q / (1 - q)


def apply_group(
    pairs: pl.DataFrame,
    left_groups: pl.Series,
    right_groups: pl.Series,
    group,
    accept: float,
    anchors: pl.DataFrame,
) -> pl.DataFrame:
    """Household context: a candidate's log-odds move by log(factor) per other
    member of the record's group (at most `max_members`) whose link (an anchor, or
    its best candidate >= accept) is to the candidate's group (+) or another (-)."""
    lg = left_groups.cast(pl.String)
    rg = right_groups.cast(pl.String)
    out = pairs.with_columns(lgroup=lg.gather(pairs["left_idx"]), rgroup=rg.gather(pairs["right_idx"]))
    best = (
        out.sort(["left_idx", "logit", "right_idx"], descending=[False, True, False])
        .group_by("left_idx", maintain_order=True)
        .first()
        .filter(pl.col("score") >= accept)
        .select("left_idx", "lgroup", "rgroup")
    )
    if anchors.height:
        a = anchors.select(
            pl.col("left_idx").cast(pl.Int64),
            lgroup=lg.gather(anchors["left_idx"]),
            rgroup=rg.gather(anchors["right_idx"]),
        )
        best = pl.concat([best.filter(~pl.col("left_idx").is_in(a["left_idx"].implode())), a])
    voters = best.drop_nulls(["lgroup", "rgroup"]).rename({"left_idx": "voter", "rgroup": "vgroup"})
    support = (
        out.select("left_idx", "right_idx", "lgroup", "rgroup")
        .join(voters, on="lgroup")
        .filter(pl.col("voter") != pl.col("left_idx"))  # other members only
        .group_by("left_idx", "right_idx")
        .agg(pos=(pl.col("vgroup") == pl.col("rgroup")).sum(), neg=(pl.col("vgroup") != pl.col("rgroup")).sum())
    )
    out = out.join(support, on=["left_idx", "right_idx"], how="left").with_columns(
        pl.col("pos").fill_null(0).cast(pl.Int64), pl.col("neg").fill_null(0).cast(pl.Int64)
    )
    k = group.max_members
    sign = (
        pl.when(pl.col("pos") > pl.col("neg"))
        .then(pl.min_horizontal(pl.col("pos"), pl.lit(k)))
        .when(pl.col("neg") > pl.col("pos"))
        .then(-pl.min_horizontal(pl.col("neg"), pl.lit(k)))
        .otherwise(0)
    )
    out = out.with_columns(group_support=sign)
    out = out.with_columns(logit=pl.col("logit") + pl.col("group_support") * math.log(group.factor))
    return out.with_columns(score=_sigmoid(pl.col("logit"))).drop("lgroup", "rgroup", "pos", "neg")


def apply_sole_namesake(
    pairs: pl.DataFrame, eligible: np.ndarray, name_levels: list[int], ruled_out: pl.Expr, weight: float
) -> pl.DataFrame:
    """Namesake context, after scoring: for a record in `eligible` (an event whose population
    is the registry), a candidate that is the record's only candidate with its name at one of
    `name_levels` (lvl_name indices, strongest first: the exact name, then e.g. the same
    reading) not `ruled_out` -- every other registry namesake ruled out by what the event
    implies or by a field that contradicts it -- gains `weight` log-odds. The sole candidate
    must hold the strongest of those name levels among all the record's candidates, ruled
    out or not: a homophone is not the payee while someone holds the exact name.
    Adds `sole_namesake`. (Not a score threshold: whether a plausible namesake sits just
    above or below the review line depends on the month's fitted weights.)"""
    if len(eligible) == 0:  # no such event in the delivery (医保, 人社, 乡村振兴): nothing to weigh
        return pairs.with_columns(sole_namesake=pl.lit(False))
    rank = {lvl: i for i, lvl in enumerate(name_levels)}
    named = pl.col("lvl_name").is_in(list(name_levels))
    alive = named & ~ruled_out
    counts = pairs.filter(alive).group_by("left_idx").len("_n")
    strongest = (
        pairs.filter(named)
        .group_by("left_idx")
        .agg(_top=pl.col("lvl_name").replace_strict(rank, return_dtype=pl.Int64).min())
    )
    elig = pl.DataFrame({"left_idx": np.asarray(eligible, dtype=np.int64), "_elig": True}).with_columns(
        pl.col("left_idx").cast(pairs.schema["left_idx"])
    )
    own = pl.col("lvl_name").replace_strict(rank, default=None, return_dtype=pl.Int64)
    out = (
        pairs.join(counts, on="left_idx", how="left")
        .join(strongest, on="left_idx", how="left")
        .join(elig, on="left_idx", how="left")
        .with_columns(
            sole_namesake=(alive & (pl.col("_n") == 1) & (own == pl.col("_top")) & pl.col("_elig")).fill_null(False)
        )
    )
    out = out.with_columns(logit=pl.col("logit") + pl.when(pl.col("sole_namesake")).then(weight).otherwise(0.0))
    return out.with_columns(score=_sigmoid(pl.col("logit"))).drop("_n", "_top", "_elig")


def decide(scored: pl.DataFrame, accept: float, review: float, margin: float, one_to_one: bool = False) -> pl.DataFrame:
    """Best candidate per left record with accept/review/none.

    Ambiguous (second best >= review and within `margin` log-odds of the best) -> review.
    one_to_one: mutual-best rounds so each right record is used at most once.
    Returns left_idx, right_idx, score, decision, ambiguous, second_score, second_right_idx.
    """
    s = scored.select("left_idx", "right_idx", "score").sort(
        ["left_idx", "score", "right_idx"], descending=[False, True, False]
    )
    if one_to_one:
        chosen = []
        remaining = s
        for _ in range(20):
            if remaining.height == 0:
                break
            lbest = remaining.group_by("left_idx", maintain_order=True).first()
            rbest = remaining.sort("score", descending=True).group_by("right_idx", maintain_order=True).first()
            mutual = lbest.join(rbest.select("left_idx", "right_idx"), on=["left_idx", "right_idx"])
            if mutual.height == 0:
                break
            chosen.append(mutual)
            remaining = remaining.filter(
                ~pl.col("left_idx").is_in(mutual["left_idx"].implode())
                & ~pl.col("right_idx").is_in(mutual["right_idx"].implode())
            )
        best = pl.concat(chosen) if chosen else s.head(0)
        second = s.join(best.select("left_idx", "right_idx"), on=["left_idx", "right_idx"], how="anti")
        second = second.group_by("left_idx", maintain_order=True).first()
        # in 1:1 mode a runner-up already taken by someone else is no ambiguity
        second = second.join(best.select("right_idx"), on="right_idx", how="anti")
    else:
        ranked = s.with_columns(rank=pl.int_range(pl.len()).over("left_idx"))
        best = ranked.filter(pl.col("rank") == 0).drop("rank")
        second = ranked.filter(pl.col("rank") == 1).drop("rank")
    best = best.join(
        second.select("left_idx", second_right_idx="right_idx", second_score="score"), on="left_idx", how="left"
    )
    lo = lambda c: _odds(pl.col(c)).log()  # noqa: E731
    ambiguous = (pl.col("second_score") >= review) & ((lo("score") - lo("second_score")) < margin)
    return best.with_columns(
        decision=pl.when((pl.col("score") >= accept) & ~ambiguous.fill_null(False))
        .then(pl.lit("accept"))
        .when(pl.col("score") >= review)
        .then(pl.lit("review"))
        .otherwise(pl.lit("none")),
        ambiguous=ambiguous.fill_null(False),
    )
