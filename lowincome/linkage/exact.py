"""Stage 1: equal valid 身份证号, as one SQL join over the whole month.

Accepted when the ID is unique in the registry and the names agree (same name,
same pinyin, close characters or close pinyin); an ID held by two registry rows
or a name that disagrees outright goes to review.
"""

from __future__ import annotations

import duckdb
import polars as pl

from lowincome.warehouse import query_pl

NAMES_AGREE = """(l.name = r.name OR l.pinyin = r.pinyin
    OR 1.0 - levenshtein(l.name, r.name) / greatest(length(l.name), length(r.name)) >= {name_close}
    OR jaro_winkler_similarity(l.pinyin, r.pinyin) >= {pinyin_close})"""


def exact_id_matches(
    con: duckdb.DuckDBPyConnection, left: str, right: str, name_close: float = 0.5, pinyin_close: float = 0.85
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted, review): left_idx, right_idx, k (registry rows holding the ID), name_agrees."""
    agree = NAMES_AGREE.format(name_close=name_close, pinyin_close=pinyin_close)
    ex = query_pl(
        con,
        f"""WITH dup AS (SELECT id_valid, count(*) AS k FROM {right} WHERE id_valid IS NOT NULL GROUP BY 1)
        SELECT l.idx AS left_idx, r.idx AS right_idx, dup.k, coalesce({agree}, false) AS name_agrees
        FROM {left} l JOIN {right} r ON l.id_valid = r.id_valid JOIN dup ON dup.id_valid = r.id_valid""",
    )
    accepted = ex.filter(pl.col("name_agrees") & (pl.col("k") == 1))
    review = (
        ex.join(accepted.select("left_idx"), on="left_idx", how="anti")
        .sort(["left_idx", "name_agrees", "right_idx"], descending=[False, True, False])
        .unique("left_idx", keep="first", maintain_order=True)
    )
    return accepted, review
