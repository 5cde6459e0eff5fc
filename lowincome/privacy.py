"""How personal data is shown outside the warehouse: one rule, two forms.

身份证号: first 6 and last 4 characters, the rest as asterisks (a value of 10
characters or fewer is masked whole). Phone numbers: first 3 and last 4.
The scalar forms serve row-wise reports; the expression forms serve polars frames.
"""

from __future__ import annotations

import re
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
        pl.when(s.is_null())
        .then(None)
        .when(n > 10)
        .then(pl.concat_str([s.str.slice(0, 6), _stars(n - 10), s.str.slice(-4, 4)]))
        .otherwise(_stars(n))
    )


def mask_phone_expr(expr: pl.Expr) -> pl.Expr:
    s = expr.cast(pl.String)
    n = s.str.len_chars()
    return (
        pl.when(s.is_null())
        .then(None)
        .when(n >= 7)
        .then(pl.concat_str([s.str.slice(0, 3), _stars(n - 7), s.str.slice(-4, 4)]))
        .otherwise(_stars(n))
    )


# ------------------------------------------------------------------ free text
# Anything free-text that leaves the warehouse (the auditor's report, logs, review
# lists, quarantined raw lines, notes, values of unknown columns) goes through
# mask_free_text: every run of digits (full- or half-width, optionally split by
# spaces or dashes, a final X allowed) that could be an ID number (15/18), a bank
# card (16-19) or a phone number (mobile 1xxxxxxxxxx, landline 0xxx-xxxxxxxx) is
# masked with the rules above, also when glued to letters (ID410…). Shorter numbers
# (dates, amounts, codes) are kept.
_DIGIT_RUN = re.compile(
    r"(?<![0-9０-９])(?:\+?86[\s\-]?)?[0-9０-９](?:[0-9０-９]|[\s\-](?=[0-9０-９])){6,}[XxＸｘ]?(?![0-9０-９])"
)
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def _mask_run(match: re.Match) -> str:
    text = match.group(0)
    digits = re.sub(r"[^0-9Xx]", "", text.translate(_FULLWIDTH).replace("Ｘ", "X").replace("ｘ", "x"))
    if digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
        digits = digits[2:]  # +86 mobile
    n = len(digits)
    if n == 11 and digits[0] == "1":
        return mask_phone(digits)
    if 10 <= n <= 12 and digits[0] == "0":
        return mask_phone(digits)
    if n >= 13:
        return mask_id(digits)
    return text


def mask_free_text(text: Any) -> Any:
    """Mask ID numbers, bank cards and phone numbers inside free text (None and non-strings pass)."""
    if not isinstance(text, str) or not text:
        return text
    return _DIGIT_RUN.sub(_mask_run, text)


def mask_free_text_expr(expr: pl.Expr) -> pl.Expr:
    return expr.map_elements(mask_free_text, return_dtype=pl.String)
