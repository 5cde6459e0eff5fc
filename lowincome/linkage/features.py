"""Comparison fields of std tables (registry or agency) for the registry linkage.

Vectorised polars over the whole frame; anything that needs Python per value
(the pinyin of a surname) runs on unique values only.
"""

from __future__ import annotations

import functools

import polars as pl


@functools.cache
def _first_pinyin(char: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(char)).lower()


def _surname_pinyin(names: pl.Series) -> pl.Series:
    first = names.str.slice(0, 1)
    mapping = {c: _first_pinyin(c) for c in first.unique(maintain_order=True).drop_nulls().to_list() if c}
    return first.replace_strict(mapping, default=None, return_dtype=pl.String)


def col(df: pl.DataFrame, name: str, dtype=pl.String) -> pl.Expr:
    """The column, or NULLs when the source does not deliver it."""
    return pl.col(name) if name in df.columns else pl.lit(None, dtype=dtype).alias(name)


def id_digits(df: pl.DataFrame) -> pl.Expr:
    """The delivered ID's digits (and X), whatever it looked like: NFKC (only where
    non-ASCII), upper case, separators dropped; an Excel-mangled `6.20121196E+17`
    keeps its significant digits."""
    raw = col(df, "id_number_raw").cast(pl.String)
    raw = pl.when(raw.str.contains(r"[^\x00-\x7F]")).then(raw.str.normalize("NFKC")).otherwise(raw).str.to_uppercase()
    return pl.coalesce(excel_mantissa(raw), raw.str.replace_all(r"[^0-9X]", ""))


def excel_mantissa(raw: pl.Expr) -> pl.Expr:
    """The significant digits of an ID that Excel turned into a number (`6.20121196E+17` -> 620121196)."""
    parts = raw.str.extract_groups(r"^\s*(\d)\.(\d+)E\+?\d+\s*$")
    return parts.struct.field("1") + parts.struct.field("2")


# The std columns prepare() reads (those a source does not deliver are NULL): a caller
# may read just these of a large table.
INPUT_COLUMNS = (
    "name",
    "name_pinyin",
    "id_number",
    "id_number_raw",
    "birth_date",
    "id_birth_date",
    "sex",
    "id_sex",
    "county_code",
    "township_code",
    "village_code",
    "household_id",
    "rr_household_id",
    "event_type",
    "record_type",
    "visit_type",
    "employer",
    "amount",
    "monthly_wage",
    "person_key",
    "category",
    "month",
)


def prepare(df: pl.DataFrame) -> pl.DataFrame:
    """Std registry or agency table -> the fields the linkage settings name.
    Each derived column is computed once (staged with_columns)."""
    base = df.select(
        pl.col("name").cast(pl.String),
        pl.col("name_pinyin").cast(pl.String).alias("pinyin"),
        col(df, "id_number").alias("id_valid"),
        id_digits(df).alias("_digits"),
        excel_mantissa(col(df, "id_number_raw").cast(pl.String).str.to_uppercase()).alias("_mantissa"),
        col(df, "birth_date", pl.Date).cast(pl.Date).alias("_birth_field"),
        col(df, "id_birth_date", pl.Date).cast(pl.Date).alias("_id_birth"),
        pl.coalesce(col(df, "sex"), col(df, "id_sex")).alias("_sex"),
        # residence county only when delivered (an ID's region is the birthplace)
        col(df, "county_code").alias("county"),
        col(df, "township_code").alias("township"),
        col(df, "village_code").alias("village"),
        pl.coalesce(col(df, "household_id"), col(df, "rr_household_id")).alias("group"),
        # what the record is (event / record type) and who sent it, for adjustments and record keys
        pl.coalesce(col(df, "event_type"), col(df, "record_type"), col(df, "visit_type")).alias("kind"),
        col(df, "employer"),
        # a pension's monthly amount, a contribution's base: fixed for the year per account
        col(df, "amount", pl.Float64).cast(pl.Float64),
        col(df, "monthly_wage", pl.Float64).cast(pl.Float64),
        col(df, "person_key"),
        # the registry's 救助类别 and the month, for what an event implies about its person
        col(df, "category"),
        col(df, "month", pl.Date).cast(pl.Date).alias("_month"),
    )
    digits = pl.col("_digits")
    base = base.with_columns(
        id18=pl.coalesce(pl.col("id_valid"), pl.when(digits.str.contains(r"^\d{17}[\dX]$")).then(digits)),
        # a legacy 15-digit ID that did not normalise (bad birth date): its digits as delivered
        id15_raw=pl.when(pl.col("id_valid").is_null() & digits.str.contains(r"^\d{15}$")).then(digits),
        # the birth region survives in any ID with at least its first 6 digits (mangled, typo'd, 15-digit)
        id_region=pl.when(digits.str.contains(r"^\d{6}")).then(digits.str.slice(0, 6)),
        # the leading digits an Excel-mangled ID keeps (region, birth-year prefix)
        id_prefix=pl.when(pl.col("_mantissa").str.len_chars() >= 6).then(pl.col("_mantissa")),
    )
    # birth date and sex from a typo'd ID's digits only where nothing better exists
    need = pl.col("_birth_field").is_null() & pl.col("_id_birth").is_null() & pl.col("id18").is_not_null()
    raw_birth = pl.when(need).then(pl.col("id18").str.slice(6, 8)).str.to_date("%Y%m%d", strict=False)
    raw_birth = pl.when(raw_birth.dt.year().is_between(1900, 2030)).then(raw_birth)
    sex_digit = pl.when(pl.col("_sex").is_null()).then(pl.col("id18").str.slice(16, 1)).cast(pl.Int32, strict=False)
    raw_sex = pl.when(sex_digit % 2 == 1).then(pl.lit("男")).when(sex_digit.is_not_null()).then(pl.lit("女"))
    base = base.with_columns(
        birth_d=pl.coalesce("_birth_field", "_id_birth", raw_birth), sex=pl.coalesce("_sex", raw_sex)
    )
    # age in full years on the last day of the month, as the rules count it (registry
    # persons: what an event implies about its person)
    end = pl.col("_month").dt.month_end()
    md = end.dt.month().cast(pl.Int32) * 100 + end.dt.day().cast(pl.Int32)
    bd = pl.col("birth_d").dt.month().cast(pl.Int32) * 100 + pl.col("birth_d").dt.day().cast(pl.Int32)
    age = end.dt.year().cast(pl.Int32) - pl.col("birth_d").dt.year().cast(pl.Int32) - (md < bd).cast(pl.Int32)
    out = base.select(
        "name",
        "pinyin",
        "id_valid",
        "id18",
        "id15_raw",
        "id_region",
        "id_prefix",
        # the registry ID in legacy 15-digit form (no century, no check digit)
        pl.concat_str([pl.col("id18").str.slice(0, 6), pl.col("id18").str.slice(8, 9)]).alias("id15"),
        pl.col("birth_d").dt.strftime("%Y%m%d").alias("birth"),
        pl.col("birth_d").dt.year().cast(pl.String).alias("birth_year"),
        "sex",
        "county",
        "township",
        "village",
        "group",
        "kind",
        "employer",
        "amount",
        "monthly_wage",
        "person_key",
        "category",
        age.alias("age"),
    )
    return (
        out.with_columns(
            surname_py=_surname_pinyin(out["name"]),
            # one substitution or adjacent transposition anywhere leaves one slice intact:
            # edits in chars 0-6 -> id_b; 6-13 -> id_c; 13-17 -> id_a
            id_a=pl.col("id18").str.slice(0, 13),
            id_b=pl.col("id18").str.slice(7, 11),
            id_c=pl.concat_str([pl.col("id18").str.slice(0, 6), pl.col("id18").str.slice(14, 4)]),
            county=pl.when(pl.col("county").str.len_chars() == 6).then(pl.col("county")),
        )
        .with_row_index("idx")
        .with_columns(pl.col("idx").cast(pl.Int64))
    )
