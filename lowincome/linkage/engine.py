"""A generic, configuration-driven record-linkage engine.

Fields, comparators and blocking rules are data (`LinkConfig`); the same code
links the Chinese registry (`chinese.py`) and FEBRL4 (tests).

Pipeline: prepare both sides (config callables, polars) -> candidate pairs by
blocking (recordlinkage.Index with several Block rules, union) -> vectorised
comparisons (recordlinkage.Compare.compare_vectorized with rapidfuzz kernels),
each comparison a *cascade* of tests giving one-hot levels -> classifier
(recordlinkage ECM, or logistic regression trained on seed pairs) -> optional
group context (a member's odds move with its group's links) -> best candidate
per record, optionally one-to-one on both sides, accept/review/none.

Missing values: a comparison whose columns are null on either side gives all
zeros (no level), i.e. no evidence either way for the logistic model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import polars as pl
import recordlinkage
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein, OSA

# --------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class Step:
    """One test of a cascade: `method(left, right) passes threshold` -> `label`.

    methods: exact (equality), jarowinkler / levenshtein (normalised similarity
    >= threshold), osa (optimal-string-alignment edit distance <= threshold,
    i.e. substitutions and adjacent transpositions count 1).
    """

    label: str
    method: str
    left: str
    right: str | None = None
    threshold: float = 0.0

    @property
    def right_col(self) -> str:
        return self.right or self.left


@dataclass(frozen=True)
class Comparison:
    """A cascade: the first passing test names the level; none passing -> 'disagree'.

    Gives one-hot features `<name>=<label>` and `<name>=disagree`; a pair for which
    every test has a null side gives no feature (missing).
    """

    name: str
    tests: tuple[Step, ...]
    disagree: bool = True  # emit a 'disagree' level

    @property
    def labels(self) -> list[str]:
        out = [t.label for t in self.tests]
        return out + (["disagree"] if self.disagree else [])

    @property
    def features(self) -> list[str]:
        return [f"{self.name}={lab}" for lab in self.labels]


@dataclass(frozen=True)
class BlockRule:
    """Candidate pairs agree on all `left` columns (= `right` columns)."""

    name: str
    left: tuple[str, ...]
    right: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GroupContext:
    """Records arrive in groups (households) and so do the right-side entities.

    A candidate (l, r) is supported when the other members of l's group link
    (exact anchors, or best candidate >= accept) mostly to r's group: its odds are
    multiplied by `factor` per supporting member (at most 2); contradicted (they
    link to another group) -> divided likewise. Records of a group with anchors
    also get every member of the anchored right group as candidates.
    """

    left: str
    right: str
    factor: float = 20.0


@dataclass
class LinkConfig:
    comparisons: Sequence[Comparison]
    blocking: Sequence[BlockRule]
    prepare_left: Callable[[pl.DataFrame], pl.DataFrame] = lambda df: df
    prepare_right: Callable[[pl.DataFrame], pl.DataFrame] = lambda df: df
    classifier: str = "logistic"  # "logistic" (needs seeds) or "ecm"
    # Seed pairs (labels for the supervised classifier): both sides non-null and equal.
    seed_left: str | None = None
    seed_right: str | None = None
    # Training copies of the seed pairs with comparisons derived from the seed key
    # masked (missing), one copy per mask, so the model learns the other fields;
    # and positive copies with a comparison at a simulated level (an ID one typo away).
    seed_masks: tuple[tuple[str, ...], ...] = ()
    seed_simulate: dict[str, tuple[str, ...]] = field(default_factory=dict)
    one_to_one: bool = False  # also each right record at most once (FEBRL-style)
    group: GroupContext | None = None
    accept: float = 0.9
    review: float = 0.5
    ambiguity_margin: float = 3.0  # runner-up within this many log-odds of the best -> review
    max_training_records: int = 4000
    random_state: int = 0


# --------------------------------------------------------------------------
# comparisons (vectorised)


_SCORERS = {
    "jarowinkler": JaroWinkler.normalized_similarity,  # similarity >= threshold
    "levenshtein": Levenshtein.normalized_similarity,  # similarity >= threshold
    "osa": OSA.distance,  # distance <= threshold
}


def _test_vector(
    t: Step, a: np.ndarray, b: np.ndarray, cache: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(passes, known) boolean arrays for one test over aligned value arrays.

    `cache` (per cascade) keeps the scores of (method, left, right) so a cascade
    testing one column pair at several thresholds scores the pairs once.
    """
    known = ~(pd.isna(a) | pd.isna(b))
    passes = np.zeros(len(a), dtype=bool)
    if not known.any():
        return passes, known
    ka, kb = a[known], b[known]
    if t.method == "exact":
        passes[known] = ka == kb
        return passes, known
    scorer = _SCORERS.get(t.method)
    if scorer is None:  # pragma: no cover - config error
        raise ValueError(f"unknown comparison method {t.method!r}")
    key = (t.method, t.left, t.right_col)
    s = None if cache is None else cache.get(key)
    if s is None:
        s = process.cpdist([str(x) for x in ka], [str(x) for x in kb], scorer=scorer, workers=1)
        if cache is not None:
            cache[key] = s
    passes[known] = s <= t.threshold if t.method == "osa" else s >= t.threshold
    return passes, known


def _levels(c: Comparison, a_cols: dict[str, np.ndarray], b_cols: dict[str, np.ndarray]) -> np.ndarray:
    """Level index per pair for cascade c (-1 = missing, len(tests) = disagree)."""
    n = len(next(iter(a_cols.values()))) if a_cols else 0
    level = np.full(n, -1, dtype=np.int16)
    any_known = np.zeros(n, dtype=bool)
    undecided = np.ones(n, dtype=bool)
    scores: dict = {}
    for i, t in enumerate(c.tests):
        passes, known = _test_vector(t, a_cols[t.left], b_cols[t.right_col], scores)
        any_known |= known
        hit = undecided & passes
        level[hit] = i
        undecided &= ~hit
    level[undecided & any_known] = len(c.tests) if c.disagree else -1
    return level


def _cascade_kernel(c: Comparison):
    lcols = list(dict.fromkeys(t.left for t in c.tests))
    rcols = list(dict.fromkeys(t.right_col for t in c.tests))

    def kernel(*series: pd.Series) -> np.ndarray:
        a = {k: s.to_numpy(dtype=object) for k, s in zip(lcols, series[: len(lcols)])}
        b = {k: s.to_numpy(dtype=object) for k, s in zip(rcols, series[len(lcols) :])}
        return _levels(c, a, b)

    return kernel, lcols, rcols


def compare_pairs(
    pairs: pd.MultiIndex, left: pd.DataFrame, right: pd.DataFrame, comparisons: Sequence[Comparison]
) -> pd.DataFrame:
    """One-hot comparison features for the candidate pairs (index = pairs).

    recordlinkage.Compare does the pair bookkeeping; each cascade is one
    vectorised kernel giving a level index, expanded to one-hot columns here.
    """
    cmp = recordlinkage.Compare()
    for c in comparisons:
        kernel, lcols, rcols = _cascade_kernel(c)
        cmp.compare_vectorized(kernel, lcols, rcols, label=c.name)
    levels = cmp.compute(pairs, left, right)
    out = {}
    for c in comparisons:
        lv = levels[c.name].to_numpy()
        for i, lab in enumerate(c.labels):
            out[f"{c.name}={lab}"] = (lv == i).astype(np.int8)
    return pd.DataFrame(out, index=pairs)


# --------------------------------------------------------------------------
# engine


@dataclass
class EngineResult:
    """Scored candidate pairs: left_idx / right_idx are row positions of the inputs."""

    pairs: pl.DataFrame  # left_idx, right_idx, score, features..., levels
    candidate_pairs: int
    classifier: str
    seconds: float
    features: list[str]


def _to_pandas(df: pl.DataFrame, cols: set[str]) -> pd.DataFrame:
    keep = [c for c in df.columns if c in cols]
    pdf = df.select(keep).to_pandas(use_pyarrow_extension_array=False)
    return pdf.astype(object).where(pdf.notna(), None)


def candidate_pairs(left: pd.DataFrame, right: pd.DataFrame, blocking: Sequence[BlockRule]) -> pd.MultiIndex:
    if len(left) == 0 or len(right) == 0:
        return pd.MultiIndex.from_arrays([np.array([], dtype=np.int64), np.array([], dtype=np.int64)])
    indexer = recordlinkage.Index()
    for b in blocking:
        indexer.add(recordlinkage.index.Block(left_on=list(b.left), right_on=list(b.right or b.left)))
    pairs = indexer.index(left, right)
    return pairs.unique()


def score_pairs(
    config: LinkConfig,
    left: pl.DataFrame,
    right: pl.DataFrame,
    left_subset: np.ndarray | None = None,
    anchors: dict[int, int] | None = None,
) -> EngineResult:
    """Block, compare and classify. `left_subset`: left row positions to link
    (default all); seeds for training are taken from all left rows."""
    t0 = time.perf_counter()
    lp = config.prepare_left(left)
    rp = config.prepare_right(right)
    needed = {c for b in config.blocking for c in (*b.left, *(b.right or b.left))}
    needed |= {t.left for c in config.comparisons for t in c.tests}
    needed |= {t.right_col for c in config.comparisons for t in c.tests}
    for extra in (config.seed_left, config.seed_right):
        if extra:
            needed.add(extra)
    if config.group:
        needed |= {config.group.left, config.group.right}
    lpd = _to_pandas(lp, needed)
    rpd = _to_pandas(rp, needed)
    lpd.index = pd.RangeIndex(len(lpd))
    rpd.index = pd.RangeIndex(len(rpd))

    use_seeds = config.classifier == "logistic" and config.seed_left and config.seed_right
    rng = np.random.default_rng(config.random_state)
    link_rows = np.arange(len(lpd)) if left_subset is None else np.asarray(left_subset)
    train_rows = np.array([], dtype=np.int64)
    seed_map: dict[int, int] = {}
    if use_seeds:
        lk = lpd[config.seed_left]
        rk = rpd[config.seed_right]
        rkey = pd.Series(rpd.index, index=rk).loc[lambda s: s.index.notna()]
        rkey = rkey[~rkey.index.duplicated(keep=False)]
        hit = lk.map(rkey)
        seed_map = {int(k): int(v) for k, v in hit.dropna().items()}
        seeds = np.fromiter(seed_map.keys(), dtype=np.int64)
        if len(seeds) > config.max_training_records:
            seeds = rng.choice(seeds, config.max_training_records, replace=False)
        train_rows = seeds
    rows = np.union1d(link_rows, train_rows)
    sub = lpd.iloc[rows]
    pairs = candidate_pairs(sub, rpd, config.blocking)
    # seed pairs must be among the candidates for training
    if seed_map and len(train_rows):
        seed_idx = pd.MultiIndex.from_arrays(
            [train_rows, np.array([seed_map[int(i)] for i in train_rows])]
        )
        pairs = pairs.union(seed_idx)
    if config.group and anchors:
        pairs = pairs.union(_group_pairs(lpd, rpd, config.group, link_rows, anchors))
    n_candidates = int(np.isin(pairs.get_level_values(0), link_rows).sum())
    feats = compare_pairs(pairs, lpd, rpd, config.comparisons)
    cols = [f for c in config.comparisons for f in c.features]
    feats = feats[cols]

    if use_seeds and len(train_rows) >= 20:
        scores, name = _fit_logistic(config, feats, train_rows, seed_map, rng)
    else:
        scores, name = _fit_ecm(feats, config.comparisons)

    l0 = pairs.get_level_values(0).to_numpy()
    r0 = pairs.get_level_values(1).to_numpy()
    out = pl.DataFrame(
        {"left_idx": l0.astype(np.int64), "right_idx": r0.astype(np.int64), "score": scores.astype(np.float64)}
    )
    levels = {}
    for c in config.comparisons:
        block = feats[c.features].to_numpy()
        lab = np.array(c.labels + ["missing"], dtype=object)
        which = np.where(block.any(axis=1), block.argmax(axis=1), len(c.labels))
        levels[c.name] = lab[which]
    out = out.with_columns(**{f"lvl_{k}": pl.Series(v, dtype=pl.Utf8) for k, v in levels.items()})
    out = out.filter(pl.col("left_idx").is_in(pl.Series(link_rows.astype(np.int64)).implode()))
    if config.group:
        out = _apply_group(out, lpd, rpd, config, anchors or {})
    return EngineResult(out, n_candidates, name, time.perf_counter() - t0, cols)


def _cumulative(feats: pd.DataFrame, comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """Ordinal binary features for ECM: '<name> at least level k' (k < disagree)."""
    out = {}
    for c in comparisons:
        acc = np.zeros(len(feats), dtype=np.int8)
        for t in c.tests:
            acc = acc | feats[f"{c.name}={t.label}"].to_numpy()
            out[f"{c.name}>={t.label}"] = acc.copy()
    return pd.DataFrame(out, index=feats.index)


def _group_pairs(
    lpd: pd.DataFrame, rpd: pd.DataFrame, g: GroupContext, link_rows: np.ndarray, anchors: dict[int, int]
) -> pd.MultiIndex:
    """Extra candidates: a record to be linked x every member of the right-side
    group(s) its own group's anchored members link to."""
    ai = np.fromiter(anchors.keys(), dtype=np.int64)
    aj = np.fromiter(anchors.values(), dtype=np.int64)
    ag = pd.DataFrame({"lgroup": lpd[g.left].to_numpy()[ai], "rgroup": rpd[g.right].to_numpy()[aj]}).dropna()
    ag = ag.drop_duplicates()
    todo = pd.DataFrame({"left_idx": link_rows, "lgroup": lpd[g.left].to_numpy()[link_rows]}).dropna()
    right = pd.DataFrame({"right_idx": np.arange(len(rpd)), "rgroup": rpd[g.right].to_numpy()}).dropna()
    m = todo.merge(ag, on="lgroup").merge(right, on="rgroup")
    return pd.MultiIndex.from_arrays([m["left_idx"].to_numpy(np.int64), m["right_idx"].to_numpy(np.int64)])


def _fit_ecm(feats: pd.DataFrame, comparisons: Sequence[Comparison]) -> tuple[np.ndarray, str]:
    feats = _cumulative(feats, comparisons)
    varying = [c for c in feats.columns if feats[c].nunique() > 1]
    if not varying or len(feats) < 10:
        return np.zeros(len(feats)), "ecm"
    ecm = recordlinkage.ECMClassifier(binarize=None)
    ecm.fit(feats[varying])
    p = np.asarray(ecm.prob(feats[varying]), dtype=float)
    return np.clip(np.nan_to_num(p), 0.0, 1.0), "ecm"


def _fit_logistic(config, feats, train_rows, seed_map, rng) -> tuple[np.ndarray, str]:
    l0 = feats.index.get_level_values(0).to_numpy()
    r0 = feats.index.get_level_values(1).to_numpy()
    in_train = np.isin(l0, train_rows)
    partner = pd.Series(seed_map).reindex(l0[in_train]).to_numpy()
    y = (r0[in_train] == partner).astype(int)
    X = feats[in_train]
    if y.sum() == 0 or y.sum() == len(y):
        return _fit_ecm(feats, config.comparisons)
    parts_X, parts_y = [X], [y]
    comp_by_name = {c.name: c for c in config.comparisons}
    for mask in config.seed_masks:
        Xm = X.copy()
        for cname in mask:
            Xm[comp_by_name[cname].features] = 0
        parts_X.append(Xm)
        parts_y.append(y)
    for cname, sim_levels in config.seed_simulate.items():
        for lab in sim_levels:
            Xp = X[y == 1].copy()
            Xp[comp_by_name[cname].features] = 0
            Xp[f"{cname}={lab}"] = 1
            parts_X.append(Xp)
            parts_y.append(np.ones(len(Xp), dtype=int))
    Xt = pd.concat(parts_X)
    yt = np.concatenate(parts_y)
    clf = recordlinkage.LogisticRegressionClassifier()
    clf.kernel.set_params(C=10.0, max_iter=2000)
    # recordlinkage's supervised fit takes the match index; pass the labels via
    # a fresh positional index so duplicates (augmented copies) are fine
    Xt.index = pd.MultiIndex.from_arrays([np.arange(len(yt)), np.zeros(len(yt), dtype=int)])
    match_index = Xt.index[yt == 1]
    clf.fit(Xt, match_index)
    p = np.asarray(clf.prob(feats), dtype=float)
    return np.clip(p, 0.0, 1.0), "logistic"


def _odds(p: pl.Expr) -> pl.Expr:
    q = p.clip(1e-9, 1 - 1e-9)
    return q / (1 - q)


def _apply_group(
    out: pl.DataFrame, lpd: pd.DataFrame, rpd: pd.DataFrame, config: LinkConfig, anchors: dict[int, int]
) -> pl.DataFrame:
    g = config.group
    lg = pl.Series(lpd[g.left].to_numpy(dtype=object).astype(str)).replace("None", None)
    rg = pl.Series(rpd[g.right].to_numpy(dtype=object).astype(str)).replace("None", None)
    out = out.with_columns(
        lgroup=lg.gather(out["left_idx"]), rgroup=rg.gather(out["right_idx"])
    )
    # each member's best candidate, if confident, votes for its group
    best = (
        out.sort("score", descending=True)
        .group_by("left_idx", maintain_order=True)
        .first()
        .filter((pl.col("score") >= config.accept) & pl.col("lgroup").is_not_null())
        .select("left_idx", "lgroup", "rgroup")
    )
    if anchors:
        ai = np.fromiter(anchors.keys(), dtype=np.int64)
        aj = np.fromiter(anchors.values(), dtype=np.int64)
        extra = pl.DataFrame({"left_idx": ai, "lgroup": lg.gather(ai), "rgroup": rg.gather(aj)})
        best = pl.concat([best.filter(~pl.col("left_idx").is_in(pl.Series(ai).implode())), extra])
        best = best.filter(pl.col("lgroup").is_not_null() & pl.col("rgroup").is_not_null())
    votes = best.group_by("lgroup", "rgroup").agg(pl.col("left_idx").alias("voters"), pl.len().alias("n"))
    out = out.join(votes.rename({"rgroup": "vgroup"}), on="lgroup", how="left")
    # exclude the member's own vote (leave-one-out)
    out = out.with_columns(
        n_other=pl.when(pl.col("voters").list.contains(pl.col("left_idx")))
        .then(pl.col("n") - 1)
        .otherwise(pl.col("n"))
        .fill_null(0)
    )
    support = out.group_by("left_idx", "right_idx").agg(
        pos=(pl.when(pl.col("vgroup") == pl.col("rgroup")).then(pl.col("n_other")).otherwise(0)).sum(),
        neg=(pl.when(pl.col("vgroup") != pl.col("rgroup")).then(pl.col("n_other")).otherwise(0)).sum(),
    )
    base = out.unique(["left_idx", "right_idx"], keep="first").drop("vgroup", "voters", "n", "n_other")
    base = base.join(support, on=["left_idx", "right_idx"], how="left")
    # +k: k other members (at most 2 counted) link to this candidate's group;
    # -k: they link elsewhere
    sign = (
        pl.when(pl.col("pos") > pl.col("neg"))
        .then(pl.min_horizontal(pl.col("pos").cast(pl.Int64), 2))
        .when(pl.col("neg") > pl.col("pos"))
        .then(-pl.min_horizontal(pl.col("neg").cast(pl.Int64), 2))
        .otherwise(0)
    )
    f = np.log(g.factor)
    adj = _odds(pl.col("score")).log() + sign * f
    return base.with_columns(
        group_support=sign,
        score=(1 / (1 + (-adj).exp())).clip(0.0, 1.0),
    ).drop("lgroup", "rgroup", "pos", "neg")


def decide(
    scored: pl.DataFrame, accept: float, review: float, margin: float, one_to_one: bool = False
) -> pl.DataFrame:
    """Best candidate per left record with accept/review/none.

    Ambiguous (second best >= review and within `margin` log-odds of the best) -> review.
    one_to_one: mutual-best rounds so each right record is used at most once.
    Returns left_idx, right_idx, score, decision, second_score, second_right_idx.
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
    # ambiguity on the log-odds scale: the runner-up (>= review) is a rival
    # unless the best's log-odds exceed it by at least `margin`
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
