"""How personal data is shown outside the warehouse: one rule, two forms.

身份证号: first 6 and last 4 characters, the rest as asterisks (a value of 10
characters or fewer is masked whole). Phone numbers: first 3 and last 4.
The scalar forms serve row-wise reports; the expression forms serve polars frames.
"""

from __future__ import annotations

from typing import Any

import polars as pl


def mask_id(value: Any) -> Any:
    if value is None:
        return None
    s = str(value)
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


def mask_phone(value: Any) -> Any:
    if value is None:
        return None
    s = str(value)
    if len(s) < 7:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def _stars(n: pl.Expr) -> pl.Expr:
    return pl.lit("*").repeat_by(n).list.join("")


def mask_id_expr(expr: pl.Expr) -> pl.Expr:
    s = expr.cast(pl.String)
    n = s.str.len_chars()
    return (
        pl.when(s.is_null()).then(None)
        .when(n > 10).then(pl.concat_str([s.str.slice(0, 6), _stars(n - 10), s.str.slice(-4, 4)]))
        .otherwise(_stars(n))
    )


def mask_phone_expr(expr: pl.Expr) -> pl.Expr:
    s = expr.cast(pl.String)
    n = s.str.len_chars()
    return (
        pl.when(s.is_null()).then(None)
        .when(n >= 7).then(pl.concat_str([s.str.slice(0, 3), _stars(n - 7), s.str.slice(-4, 4)]))
        .otherwise(_stars(n))
    )
