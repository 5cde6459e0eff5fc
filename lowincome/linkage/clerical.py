"""Clerical decisions from returned review lists, and the masked keys they use.

A decision names a record either by (month, source, source_row) in its own month
or, in any later month, by its record key (source + name + ID as delivered,
hashed); and a registry person by person_key or its masked token `h:…`.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl


def _token(prefix: str, key: str) -> str:
    return prefix + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def person_token(person_key: str) -> str:
    """Masked stand-in for a registry person_key (which may hold an ID number)."""
    return _token("h:", person_key)


def person_tokens(keys: pl.Series) -> pl.Series:
    mapping = {k: person_token(k) for k in keys.drop_nulls().unique().to_list()}
    return keys.replace_strict(mapping, default=None, return_dtype=pl.String)


def record_tokens(records: pl.DataFrame, source: str) -> pl.Series:
    """Stable key of each agency record across months: source + name + ID as delivered, hashed."""
    raw = (
        records["id_number_raw"]
        if "id_number_raw" in records.columns
        else pl.repeat(None, records.height, dtype=pl.String, eager=True)
    )
    keys = (
        pl.DataFrame({"n": records["name"], "i": raw.cast(pl.String)})
        .select(pl.concat_str([pl.lit(source), pl.col("n").fill_null(""), pl.col("i").fill_null("")], separator="|"))
        .to_series()
    )
    mapping = {k: _token("r:", k) for k in keys.unique().to_list()}
    return keys.replace_strict(mapping, return_dtype=pl.String)


def clerical_pairs(
    clerical: pl.DataFrame, records: pl.DataFrame, source: str, month, rec_tok: pl.Series, reg_tok: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clerical decisions -> (forced matches (left_idx, right_idx, override), forbidden pairs
    (left_idx, right_idx)). The latest decision for a (record, person) wins; `override`
    marks an explicit 推翻身份证号匹配 decision, the only kind that may replace an exact-ID link."""
    c = clerical.filter(pl.col("source") == source)
    if "record_key" not in c.columns:
        c = c.with_columns(record_key=pl.lit(None, dtype=pl.String))
    if month is not None:
        c = c.filter(pl.col("month").cast(pl.Date) <= month)
    c = c.with_columns(
        person=pl.when(pl.col("registry_person_key").str.starts_with("h:"))
        .then(pl.col("registry_person_key"))
        .otherwise(person_tokens(c["registry_person_key"].cast(pl.String)))
    )
    recs = pl.DataFrame(
        {
            "left_idx": np.arange(records.height, dtype=np.int64),
            "source_row": records["source_row"].cast(pl.Int64),
            "record_key": rec_tok,
        }
    )
    if month is not None:
        # by row in its own month, and only while the row still holds the record it was issued for
        by_row = (
            c.filter(pl.col("month").cast(pl.Date) == month)
            .join(
                recs.select("left_idx", "source_row", pl.col("record_key").alias("_rk")),
                on=pl.col("source_row").cast(pl.Int64),
            )
            .filter(pl.col("record_key").is_null() | (pl.col("record_key") == pl.col("_rk")))
        )
    else:
        by_row = c.head(0).with_columns(left_idx=pl.lit(0, dtype=pl.Int64))
    by_key = c.drop_nulls("record_key").join(recs.select("left_idx", "record_key"), on="record_key")
    cols = ["left_idx", "person", "decision", "month"]
    both = pl.concat([by_row.select(cols), by_key.select(cols)]).sort("month")
    both = both.unique(["left_idx", "person"], keep="last")
    regs = pl.DataFrame({"right_idx": np.arange(len(reg_tok), dtype=np.int64), "person": reg_tok}).drop_nulls()
    both = both.join(regs, on="person")
    matches = (
        both.filter(pl.col("decision").is_in(["match", "match_override"]))
        .unique("left_idx", keep="last")
        .select("left_idx", "right_idx", (pl.col("decision") == "match_override").alias("override"))
    )
    forbidden = both.filter(pl.col("decision") == "non_match").select("left_idx", "right_idx")
    return matches, forbidden
