"""Identity evidence: a probabilistic `accept` needs more than a good score.

Name and region alone never make a link (namesakes in one village). The kinds of
evidence, switched on and tuned in the `evidence` section of the settings file:

- id: the record's ID (valid, or the digits of a bad 18-char ID) within one
  substitution or adjacent transposition of the registry ID, or its legacy
  15-digit form within one edit of the registry ID's;
- birth: equal birth dates (record field, else from its ID);
- household (乡村振兴): another member of the record's 监测户 linked by exact ID
  or by id/birth evidence to the same registry household;
- unique_name: an exact name that only this person holds in the scope both
  sides share (registry persons + the delivery's records with other IDs), for
  records whose population is the registry (`unique_name_when`);
- unique_name_seen: the same, for records whose population is not the registry but
  whose persons recur (a pension, a contribution, claims: `unique_name_seen`), once
  the source's earlier deliveries show no other holder of the name in the scope either
  (see namesakes_seen), in a month whose ID-bearing records show it seldom wrong (a
  newcomer can fake it: see _checked_unique_name_seen);
- id_prefix: an Excel-mangled ID whose surviving leading digits (>= n) agree,
  with an exact name;
- history: the same agency record key linked to this person in earlier months;
- sole_namesake: where unique_name_when holds, the best candidate is the record's
  only candidate with the exact name (or, where no candidate holds the exact name, the
  same reading: sole_namesake_name_levels) not ruled out: its registry namesakes are ruled
  out by what the event implies (a 低保金 payment to a 特困 person, a pension to a
  child: the settings' negative adjustments) or by a contradicting level (another
  county, birth date or ID: evidence.sole_namesake_ruled_out); see
  engine.apply_sole_namesake.

And evidence against: a record of a kind a person has once a month (a 低保金
payment, a pension) claiming a person whom another record of that kind already
claims by exact ID this month goes to review (`claimed`); so does a pair whose
ID or birth date points to someone else (`vetoes`, `contradicted`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb
import polars as pl

from lowincome.linkage.settings import LinkSettings
from lowincome.months import add_months
from lowincome.warehouse import query_pl


def at_levels(settings: LinkSettings, comparison: str, labels) -> pl.Expr:
    """The pair's level of `comparison` (lvl_<comparison>) is one of `labels`: evidence
    read from the comparison already computed, not computed again."""
    if not labels or not any(c.name == comparison for c in settings.comparisons):
        return pl.lit(False)
    idx = [i for i, lab in enumerate(settings.comparison(comparison).labels) if lab in labels]
    return pl.col(f"lvl_{comparison}").is_in(idx).fill_null(False)


def one_per_month(ev: dict, source: str) -> tuple[str | None, list[str]]:
    """(when, same) of the source's `one_per_month` setting: the records a person has at most
    one of a month, and the columns two such records must share to be the same claim (a
    pension and a contribution of one person are two records, not two claims). A bare SQL
    string means no columns: any two such records claim alike."""
    spec = (ev.get("one_per_month") or {}).get(source)
    if isinstance(spec, dict):
        return spec.get("when"), list(spec.get("same") or ())
    return spec, []


@contextmanager
def _claims(
    con: duckdb.DuckDBPyConnection, settings: LinkSettings, source: str, left: str, exact: pl.DataFrame
) -> Iterator[str]:
    """The SQL of "record l's candidate b.right_idx is already claimed this month by exact ID
    with a record of a kind a person has once a month" (evidence.one_per_month; `same`: the
    columns a second claim must share, its kind), valid inside the block: the claimed persons
    are the temp table _claims, dropped on leaving."""
    once, same = one_per_month(settings.evidence, source)
    if not once:
        yield "false"
        return
    con.register(
        "_exact", exact.select(pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64)).to_arrow()
    )
    keep = "".join(f", l.{c} AS same_{i}" for i, c in enumerate(same))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _claims AS SELECT DISTINCT e.right_idx{keep} FROM _exact e "
        f"JOIN {left} l ON l.idx = e.left_idx WHERE {once}"
    )
    con.unregister("_exact")
    on = "".join(f" AND c.same_{i} IS NOT DISTINCT FROM l.{c}" for i, c in enumerate(same))
    try:
        yield f"coalesce(({once}) AND EXISTS (SELECT 1 FROM _claims c WHERE c.right_idx = b.right_idx{on}), false)"
    finally:
        con.execute("DROP TABLE IF EXISTS _claims")


def claimed_by_id(
    con: duckdb.DuckDBPyConnection,
    pairs: pl.DataFrame,
    records,
    settings: LinkSettings,
    source: str,
    left: str,
    exact: pl.DataFrame,
) -> pl.Series:
    """claimed_by_id per pair of `pairs`: the pair's record is one of `records` (the ones worth
    asking about) and its candidate is already claimed this month by exact ID with a record of
    the same once-a-month kind (a 低保金 payment, a pension). For the namesake context: a person
    who had this month's payment cannot be this payment's payee."""
    if not len(records):  # no such record this month (医保, 人社, 乡村振兴 have none)
        return pl.repeat(False, pairs.height, dtype=pl.Boolean, eager=True).alias("claimed_by_id")
    pair = [pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64)]
    asked = pairs.select(*pair).filter(pl.col("left_idx").is_in(pl.Series(records, dtype=pl.Int64).implode()))
    con.register("_pairs", asked.to_arrow())
    try:
        with _claims(con, settings, source, left, exact) as claimed:
            hit = query_pl(
                con,
                f"SELECT b.left_idx, b.right_idx FROM _pairs b JOIN {left} l ON l.idx = b.left_idx WHERE {claimed}",
            )
    finally:
        con.unregister("_pairs")
    flagged = hit.select(*pair).unique().with_columns(claimed_by_id=pl.lit(True))
    out = pairs.select(*pair).join(flagged, on=["left_idx", "right_idx"], how="left", maintain_order="left")
    return out["claimed_by_id"].fill_null(False)


def identity_evidence(
    con: duckdb.DuckDBPyConnection,
    best: pl.DataFrame,
    left: str,
    right: str,
    settings: LinkSettings,
    source: str,
    exact: pl.DataFrame,
) -> pl.DataFrame:
    """Adds ev_id, ev_birth, ev_id_prefix and claimed (booleans) to (left_idx, right_idx) pairs
    that carry their comparison levels (lvl_<comparison>)."""
    ev = settings.evidence
    prefix_digits = int(ev.get("id_prefix_digits", 0) or 0)
    # the id comparison's `prefix` level says whether the surviving digits agree (one definition)
    agree = next((lv.sql for lv in settings.comparison("id").levels if lv.label == "prefix"), None)
    prefix = (
        f"coalesce(length(l.id_prefix) >= {prefix_digits} AND l.name = r.name AND ({agree}), false)"
        if prefix_digits and agree
        else "false"
    )
    unique_when = ev.get("unique_name_when") or "TRUE"
    seen_when = _seen_when(settings, source)
    con.register("_best", best.select("left_idx", "right_idx").to_arrow())
    with _claims(con, settings, source, left, exact) as claimed:
        out = query_pl(
            con,
            f"""SELECT b.left_idx, b.right_idx,
                {prefix} AS ev_id_prefix,
                {claimed} AS claimed,
                coalesce(({unique_when}), false) AS unique_name_counts,
                coalesce(({seen_when}), false) AS unique_name_seen_when
            FROM _best b JOIN {left} l ON l.idx = b.left_idx JOIN {right} r ON r.idx = b.right_idx""",
        )
    con.unregister("_best")
    return best.join(out, on=["left_idx", "right_idx"], how="left").with_columns(
        pl.col("ev_id_prefix", "claimed", "unique_name_counts", "unique_name_seen_when").fill_null(False),
        ev_id=at_levels(settings, "id", ev.get("id_levels")),
        ev_birth=at_levels(settings, "birth", ev.get("birth_levels")),
    )


def _seen_settings(settings: LinkSettings) -> dict:
    """The `unique_name_seen` section of the evidence settings ({} when off)."""
    return settings.evidence.get("unique_name_seen") or {}


def _seen_when(settings: LinkSettings, source: str) -> str:
    """The SQL (on l.) of the records of `source` unique_name_seen is for ("FALSE": none)."""
    return (_seen_settings(settings).get("when") or {}).get(source) or "FALSE"


# (candidates: row, name, scope, place, cand_id, cand_birth) -> ((row, namesakes), earlier months delivered)
NamesakesSeen = Callable[[pl.DataFrame], tuple[pl.DataFrame, int]]

# std columns of an agency record's residence, by name_rarity scope
_PLACE_COLUMNS = {"county": "county_code", "township": "township_code", "village": "village_code"}


# the std columns namesakes_seen reads
NAMESAKE_COLUMNS = ("month", "name", "id_number", *_PLACE_COLUMNS.values())


def namesake_window(settings: LinkSettings, month: dt.date) -> tuple[dt.date, dt.date] | None:
    """[first, end) of the earlier months unique_name_seen looks at; None when it is off."""
    months = int(_seen_settings(settings).get("months") or 0)
    return (add_months(month, -months), month) if months else None


def namesakes_seen(
    con: duckdb.DuckDBPyConnection, relation: str, columns, candidates: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """For each candidate (a registry person whose exact name is unique in its scope this
    month): how many other persons the source's earlier deliveries (`relation`: std rows of
    the earlier months of the window) named so in that scope, each counted by its valid ID.
    The candidate's own records do not count: its own ID, or -- a person without an ID in
    the registry -- an ID that carries its birth date. Also returns how many earlier months
    the relation holds. `columns`: the relation's columns (a source without residence
    columns has records that can only be unique everywhere)."""
    scope = " OR ".join(
        [f"(c.scope = '{sc}' AND s.{col} = c.place)" for sc, col in _PLACE_COLUMNS.items() if col in columns]
        + ["c.scope = 'all'"]
    )
    con.register("_seen_candidates", candidates.to_arrow())
    try:
        counts = query_pl(
            con,
            f"""SELECT c.row, count(DISTINCT s.id_number) AS namesakes
            FROM _seen_candidates c LEFT JOIN {relation} s
              ON s.name = c.name AND s.id_number IS NOT NULL AND ({scope})
             AND s.id_number IS DISTINCT FROM c.cand_id
             AND (c.cand_id IS NOT NULL OR substr(s.id_number, 7, 8) IS DISTINCT FROM c.cand_birth)
            GROUP BY c.row""",
        )
        months = query_pl(con, f"SELECT count(DISTINCT month) AS n FROM {relation}")["n"][0]
    finally:
        con.unregister("_seen_candidates")
    return counts, int(months)


def _seen_check(
    con: duckdb.DuckDBPyConnection, settings: LinkSettings, source: str, left: str, right: str, seen, sample: int
) -> dict:
    """How unique_name_seen fares this month on the records whose answer is known: the
    records of its kinds that carry a valid ID, taken as if the ID (and the birth date and
    sex it carries) were blank. Such a record whose exact name one registry person holds in
    its county (anywhere, without a county) would get the evidence if no other person holds
    the name with an ID this month and the earlier deliveries show no other holder -- right
    when the record is that person, wrong when it is someone else: a person outside the
    registry whose earlier records (if any) never showed the ID, a newcomer. The count is
    blind to newcomers; this is where their share shows (IDs are missing at random among a
    source's records: the ID-bearing ones stand for the blank ones). A deterministic sample
    of at most `sample` records is looked up. Returns records (would be linked) and wrong."""
    when = _seen_when(settings, source)
    frame = query_pl(
        con,
        f"""WITH others AS (
            SELECT DISTINCT name, county, id_valid FROM {left}
            WHERE id_valid IS NOT NULL AND id_valid NOT IN (SELECT id_valid FROM {right} WHERE id_valid IS NOT NULL)
        ), known AS (
            SELECT l.idx, l.name, l.county, l.id_valid FROM {left} l
            WHERE l.id_valid IS NOT NULL AND coalesce(({when}), false)
        ), scoped AS (  -- the one registry holder of the name (registry_n_*: registry.py's counts)
            SELECT * FROM (
                SELECT k.*, 'county' AS scope, k.county AS place, r.idx AS holder, r.id_valid AS cand_id,
                       r.birth AS cand_birth
                FROM known k JOIN {right} r ON r.name = k.name AND r.county = k.county WHERE r.registry_n_county = 1
                UNION ALL
                SELECT k.*, 'all' AS scope, NULL AS place, r.idx AS holder, r.id_valid AS cand_id, r.birth AS cand_birth
                FROM known k JOIN {right} r ON r.name = k.name WHERE k.county IS NULL AND r.registry_n_all = 1
            )
            QUALIFY row_number() OVER (PARTITION BY idx ORDER BY holder) = 1  -- a person's duplicate rows: one
        )
        SELECT s.idx AS row, s.name, s.scope, s.place, s.cand_id, s.cand_birth,
               coalesce(s.id_valid = s.cand_id OR (s.cand_id IS NULL AND substr(s.id_valid, 7, 8) = s.cand_birth),
                        false) AS own
        FROM scoped s
        WHERE NOT EXISTS (SELECT 1 FROM others o WHERE o.name = s.name AND o.id_valid <> s.id_valid
                          AND (s.scope = 'all' OR o.county = s.county))
        ORDER BY hash(s.idx), s.idx LIMIT {int(sample)}""",
    )
    counts, _months = seen(frame.drop("own"))
    fired = frame.join(counts.filter(pl.col("namesakes") == 0).select("row"), on="row")
    return {"records": fired.height, "wrong": int((~fired["own"]).sum())}


def _trusted(check: dict, decisive: int, links: int, cfg: dict) -> dict:
    """The evidence is used this month when the wrong links it is expected to make stay
    within its share of the precision target: (wrong / records of its check) x the accepts
    that rest on it alone <= precision_budget x the month's links, with at least
    `min_records` checked. The figures are kept for the auditor (linkage.model_runs)."""
    rate = check["wrong"] / check["records"] if check["records"] else 1.0
    expected, allowed = rate * decisive, float(cfg.get("precision_budget", 0.0005)) * links
    trusted = check["records"] >= int(cfg.get("min_records", 30)) and expected <= allowed
    return check | {
        "decisive": decisive,
        "expected_wrong": round(expected, 2),
        "allowed_wrong": round(allowed, 2),
        "trusted": trusted,
    }


def _unique_name_seen(
    con: duckdb.DuckDBPyConnection, d: pl.DataFrame, settings: LinkSettings, right: str, seen: NamesakesSeen | None
) -> pl.Series:
    """ev_unique_name_seen per row of `d`: an accept at a unique name_rarity level, where the
    source's `unique_name_seen.when` holds and unique_name_when does not, whose name the
    earlier deliveries (at least min_months - 1 of them) show no other person holding in the
    scope. Only those accepts are looked up: a few hundred records at a prefecture."""
    cfg = _seen_settings(settings)
    none = pl.repeat(False, d.height, dtype=pl.Boolean, eager=True).alias("ev_unique_name_seen")
    if seen is None or not cfg or "lvl_name_rarity" not in d.columns:
        return none
    labels = settings.comparison("name_rarity").labels
    scopes = {labels.index(lab): sc for lab, sc in (cfg.get("scopes") or {}).items() if lab in labels}
    todo = d.with_row_index("row").filter(
        (pl.col("decision") == "accept")
        & pl.col("unique_name_seen_when")
        & ~pl.col("unique_name_counts")
        & pl.col("lvl_name_rarity").is_in(list(scopes))
    )
    if not todo.height:
        return none
    con.register(
        "_seen_todo",
        todo.select(
            pl.col("row").cast(pl.Int64),
            "right_idx",
            scope=pl.col("lvl_name_rarity").replace_strict(scopes, return_dtype=pl.String),
        ).to_arrow(),
    )
    place = " ".join(f"WHEN '{sc}' THEN r.{sc}" for sc in _PLACE_COLUMNS)
    candidates = query_pl(
        con,
        f"""SELECT t.row, r.name, t.scope, CASE t.scope {place} END AS place, r.id_valid AS cand_id,
                   r.birth AS cand_birth
        FROM _seen_todo t JOIN {right} r ON r.idx = t.right_idx""",
    )
    con.unregister("_seen_todo")
    counts, months = seen(candidates)
    if months < int(cfg.get("min_months", 2)) - 1:
        return none
    clear = counts.filter(pl.col("namesakes") == 0)["row"].cast(pl.UInt32)
    return pl.int_range(d.height, dtype=pl.UInt32, eager=True).is_in(clear.implode()).alias("ev_unique_name_seen")


def _household_evidence(d: pl.DataFrame, exact: pl.DataFrame, lg: pl.Series, rg: pl.Series) -> pl.DataFrame:
    """ev_household: another member of the record's group linked (exact ID, or an
    accept with id/birth evidence) to the candidate's registry household."""
    lg, rg = lg.cast(pl.String), rg.cast(pl.String)
    strong = pl.concat(
        [
            exact.select(pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64)),
            d.filter((pl.col("decision") == "accept") & (pl.col("ev_id") | pl.col("ev_birth"))).select(
                pl.col("left_idx").cast(pl.Int64), pl.col("right_idx").cast(pl.Int64)
            ),
        ]
    )
    voters = strong.select(
        voter="left_idx", lgroup=lg.gather(strong["left_idx"]), rgroup=rg.gather(strong["right_idx"])
    ).drop_nulls()
    support = (
        d.select("left_idx", lgroup=lg.gather(d["left_idx"]), rgroup=rg.gather(d["right_idx"]))
        .join(voters, on=["lgroup", "rgroup"])
        .filter(pl.col("voter") != pl.col("left_idx"))  # other members only
        .select("left_idx")
        .unique()
        .with_columns(ev_household=pl.lit(True))
    )
    return d.join(support, on="left_idx", how="left").with_columns(pl.col("ev_household").fill_null(False))


def _checked_unique_name_seen(
    con: duckdb.DuckDBPyConnection,
    d: pl.DataFrame,
    exact: pl.DataFrame,
    settings: LinkSettings,
    source: str,
    left: str,
    right: str,
    seen: NamesakesSeen | None,
    kinds: list[str],
    report: dict | None,
) -> pl.DataFrame:
    """unique_name_seen can be faked by a newcomer (a count cannot see a person whose first
    record lacks its ID): where it alone makes accepts, it is checked on the month's
    ID-bearing records (_seen_check) and dropped for the month when not trusted (_trusted)."""
    cfg = _seen_settings(settings).get("check") or {}
    accept = pl.col("decision") == "accept"
    alone = accept & pl.col("ev_unique_name_seen")
    alone = alone & ~pl.any_horizontal([pl.col(f"ev_{k}") for k in kinds if k != "unique_name_seen"])
    decisive = d.filter(alone).height
    d = d.with_columns(seen_withheld=pl.lit(False))
    if not cfg or not decisive:
        return d
    check = _seen_check(con, settings, source, left, right, seen, int(cfg.get("sample", 20000)))
    result = _trusted(check, decisive, exact.height + d.filter(accept).height, cfg)
    if report is not None:
        report["unique_name_seen_check"] = result
    if result["trusted"]:
        return d
    # the reviewer is told why a unique name did not link (explain.EVIDENCE_ZH)
    return d.with_columns(seen_withheld=alone, ev_unique_name_seen=pl.lit(False))


def require_identity_evidence(
    con: duckdb.DuckDBPyConnection,
    decided: pl.DataFrame,
    exact: pl.DataFrame,
    settings: LinkSettings,
    source: str,
    left_groups: pl.Series,
    right_groups: pl.Series,
    left: str,
    right: str,
    seen: NamesakesSeen | None = None,
    report: dict | None = None,
) -> pl.DataFrame:
    """`accept` without evidence, or on a claimed person, becomes `review`.
    Adds `evidence` (list of the kinds found; "claimed" when a claim blocked it).
    `decided` carries the pair's comparison levels (lvl_<comparison>)."""
    ev = settings.evidence
    d = identity_evidence(con, decided, left, right, settings, source, exact)
    if source in (ev.get("household_sources") or ()):
        d = _household_evidence(d, exact, left_groups, right_groups)
    else:
        d = d.with_columns(ev_household=pl.lit(False))
    ev_unique = at_levels(settings, "name_rarity", ev.get("unique_name_levels"))
    ev_history = (
        (pl.col("lvl_history") == 0) if ev.get("history_months") and "lvl_history" in d.columns else pl.lit(False)
    )
    d = d.with_columns(ev_unique_name=ev_unique & pl.col("unique_name_counts"), ev_history=ev_history.fill_null(False))
    d = d.with_columns(_unique_name_seen(con, d, settings, right, seen))
    d = d.with_columns(
        ev_sole_namesake=pl.col("sole_namesake").fill_null(False) if "sole_namesake" in d.columns else pl.lit(False)
    )
    kinds = ["id", "birth", "household", "unique_name", "unique_name_seen", "id_prefix", "history", "sole_namesake"]
    d = _checked_unique_name_seen(con, d, exact, settings, source, left, right, seen, kinds, report)
    has = pl.any_horizontal([pl.col(f"ev_{k}") for k in kinds])
    evidence = pl.concat_list(
        [pl.when(pl.col(f"ev_{k}")).then(pl.lit(k)) for k in kinds]
        + [pl.when(pl.col("claimed") & ~pl.col("ev_id") & ~pl.col("ev_birth")).then(pl.lit("claimed"))]
        + [pl.when(pl.col("seen_withheld")).then(pl.lit("unique_name_seen_withheld"))]
    ).list.drop_nulls()
    # a claim on an already claimed person counts against it unless the record's own ID or birth date agrees
    claimed = pl.col("claimed") & ~pl.col("ev_id") & ~pl.col("ev_birth")
    vetoed = pl.any_horizontal(
        pl.lit(False), *(at_levels(settings, c, labels) for c, labels in (ev.get("vetoes") or {}).items())
    )
    evidence = pl.concat_list([evidence, pl.when(vetoed).then(pl.lit("contradicted"))]).list.drop_nulls()
    blocked = (pl.col("decision") == "accept") & (~has | claimed | vetoed)
    return d.with_columns(
        decision=pl.when(blocked).then(pl.lit("review")).otherwise(pl.col("decision")),
        evidence=evidence,
    ).drop([f"ev_{k}" for k in kinds] + ["claimed", "unique_name_counts", "unique_name_seen_when", "seen_withheld"])
