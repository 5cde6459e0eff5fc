"""Identity evidence: a probabilistic `accept` needs more than name and region.

(a) id: the record's ID (valid, or the raw digits of a bad 18-char / 15-digit
    ID) within one substitution or adjacent transposition of the registry ID;
(b) birth: equal birth dates (record field, else from its ID);
(c) household (乡村振兴 only): another member of the record's 监测户 linked by
    exact ID, (a) or (b) to the same registry household.
Without any, the best candidate goes to review: namesakes in one village stay apart.
"""

from __future__ import annotations

import duckdb
import polars as pl

from lowincome.warehouse import query_pl


def identity_evidence(con: duckdb.DuckDBPyConnection, best: pl.DataFrame, left: str, right: str) -> pl.DataFrame:
    """Adds ev_id, ev_birth (booleans) to (left_idx, right_idx) pairs."""
    con.register("_best", best.select("left_idx", "right_idx").to_arrow())
    ev = query_pl(
        con, f"""SELECT b.left_idx, b.right_idx,
            coalesce(CASE WHEN hamming(l.id18, r.id18) <= 2 THEN damerau_levenshtein(l.id18, r.id18) <= 1 END, false)
            OR coalesce(CASE WHEN hamming(l.id15_raw, r.id18[1:6] || r.id18[9:17]) <= 2
                THEN damerau_levenshtein(l.id15_raw, r.id18[1:6] || r.id18[9:17]) <= 1 END, false) AS ev_id,
            coalesce(l.birth = r.birth, false) AS ev_birth
        FROM _best b JOIN {left} l ON l.idx = b.left_idx JOIN {right} r ON r.idx = b.right_idx"""
    )
    con.unregister("_best")
    return best.join(ev, on=["left_idx", "right_idx"], how="left").with_columns(
        pl.col("ev_id").fill_null(False), pl.col("ev_birth").fill_null(False)
    )


def require_identity_evidence(
    con: duckdb.DuckDBPyConnection,
    decided: pl.DataFrame,
    exact: pl.DataFrame,
    left_groups: pl.Series | None,
    right_groups: pl.Series | None,
    left: str,
    right: str,
) -> pl.DataFrame:
    """`accept` without evidence becomes `review`; adds `evidence` (list of id / birth / household).
    With groups (乡村振兴), household evidence counts too."""
    d = identity_evidence(con, decided, left, right)
    ev_household = pl.lit(False)
    if left_groups is not None and right_groups is not None:
        lg, rg = left_groups.cast(pl.String), right_groups.cast(pl.String)
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
        d = d.join(support, on="left_idx", how="left").with_columns(pl.col("ev_household").fill_null(False))
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
