"""Vectorised standardisers for delivered values (extracts.md, "Values as they
really arrive"; CONTRACTS.md, "Standardised tables").

Every function takes a ``pl.Series`` of raw delivered values of any dtype (Utf8
from CSV; numbers, dates or datetimes from xlsx/parquet), keeps its length and
order, and treats blank or whitespace-only strings as null. Hot paths are polars
expressions run on the column's *unique* values (`unique_first`: a month of
millions of rows holds far fewer distinct dates, amounts, names or region
codes), the result mapped back to every row; the only Python-level work is done
once per unique value (traditional -> simplified conversion, pinyin per
character).

``*_with_status`` variants also return a Boolean Series ``unparseable``: true
where the value was non-blank but could not be parsed (the caller counts or
quarantines these).
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import polars as pl

__all__ = [
    "ID_INVALID_REASONS",
    "as_text",
    "clean_region_digits",
    "county_of",
    "id_check_digit",
    "make_id_number",
    "name_pinyin_key",
    "normalize_category",
    "normalize_disability_grade",
    "normalize_disability_grade_with_status",
    "normalize_enum",
    "normalize_icd10",
    "normalize_id_numbers",
    "normalize_name",
    "normalize_names",
    "normalize_sex",
    "normalize_sex_with_status",
    "normalize_text",
    "normalize_yes_no",
    "normalize_yes_no_with_status",
    "parse_dates",
    "parse_dates_with_status",
    "parse_integer",
    "parse_integer_with_status",
    "parse_money",
    "parse_money_with_status",
    "split_region_codes",
    "split_region_codes_with_status",
    "upgrade_15_to_18",
]

# --------------------------------------------------------------------------- #
# unique values first
# --------------------------------------------------------------------------- #

# Below this many rows, or when more than half the values are distinct, the
# function runs on the rows directly (the mapping would cost more than it saves).
_UNIQUE_MIN_ROWS = 4096


def _gather(out, index: pl.Series):
    if isinstance(out, tuple):
        return tuple(_gather(o, index) for o in out)
    if isinstance(out, pl.DataFrame):
        return out.select(pl.all().gather(index))
    return out.gather(index).rename(out.name)


def unique_first(fn=None, *, max_share: float = 0.25):
    """Run `fn(raw, ...)` once per distinct value of `raw` and map the result
    (a Series, a DataFrame or a tuple of them, row-aligned with its input) back
    to every row. Valid for functions whose output for a row depends only on
    that row's value, which holds for every standardiser here. When more than
    `max_share` of the values are distinct the mapping costs more than it saves
    (higher for the costly functions: IDs, names) and `fn` runs on the rows."""
    if fn is None:
        return functools.partial(unique_first, max_share=max_share)

    @functools.wraps(fn)
    def wrapper(raw: pl.Series, *args, **kwargs):
        n = len(raw)
        if n < _UNIQUE_MIN_ROWS or raw.dtype in (pl.Object, pl.Null) or raw.dtype.is_nested():
            return fn(raw, *args, **kwargs)
        # Distinct values counted approximately (HyperLogLog, cheap), matched by a
        # 64-bit hash; the match is checked value by value, so a collision only
        # costs the shortcut.
        if raw.approx_n_unique() > max_share * n:
            return fn(raw, *args, **kwargs)
        hashes = raw.hash(seed=0)
        uniq = raw.unique(maintain_order=True)  # measured: 4x faster than unordered on strings (polars 2.1)
        keys = pl.DataFrame({"h": uniq.hash(seed=0), "i": pl.int_range(len(uniq), eager=True, dtype=pl.UInt32)})
        index = pl.DataFrame({"h": hashes}).join(keys, on="h", how="left", maintain_order="left").get_column("i")
        if len(index) != n or index.null_count() or not uniq.gather(index).eq_missing(raw).all():
            return fn(raw, *args, **kwargs)
        return _gather(fn(uniq, *args, **kwargs), index)

    return wrapper


# --------------------------------------------------------------------------- #
# generic text handling
# --------------------------------------------------------------------------- #

# Zero-width characters and BOM that survive NFKC and are not regex whitespace.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
# 2**53: floats below this render exactly as integers.
_MAX_EXACT_FLOAT = 9007199254740992.0


def _none_unparseable(n: int) -> pl.Series:
    """The unparseable mask of values already of the target type: all False (broadcast)."""
    return pl.repeat(False, n, dtype=pl.Boolean, eager=True).alias("unparseable")


def _is_float(dtype: pl.DataType) -> bool:
    return dtype in (pl.Float32, pl.Float64)


def _is_int(dtype: pl.DataType) -> bool:
    return dtype.is_integer()


def as_text(raw: pl.Series) -> pl.Series:
    """The raw values as strings, as close to what a person saw as possible.

    Integral floats (xlsx numbers such as 620102001001.0) render without '.0'
    when exactly representable; dates render ISO; other dtypes via polars cast.
    Nothing is stripped or normalised here.
    """
    name = raw.name
    dtype = raw.dtype
    if dtype == pl.String:
        return raw
    if dtype == pl.Null:
        return pl.repeat(None, len(raw), dtype=pl.String, eager=True).alias(name)
    if _is_float(dtype):
        f = raw.cast(pl.Float64)
        integral = f.is_finite() & (f.floor() == f) & (f.abs() < _MAX_EXACT_FLOAT)
        return (
            pl.select(
                pl.when(integral).then(f.cast(pl.Int64, strict=False).cast(pl.String)).otherwise(f.cast(pl.String))
            )
            .to_series()
            .rename(name)
        )
    if dtype == pl.Date:
        return raw.dt.strftime("%Y-%m-%d").rename(name)
    if isinstance(dtype, pl.Datetime):
        return raw.dt.strftime("%Y-%m-%d %H:%M:%S").rename(name)
    if dtype == pl.Boolean:
        return raw.cast(pl.String)
    try:
        return raw.cast(pl.String)
    except Exception:  # Object, List, Struct...: exotic, never a hot path
        return pl.Series(name, [None if v is None else str(v) for v in raw.to_list()], dtype=pl.String)


# Whitespace left after NFKC (which folds NBSP, ideographic space, en/em spaces to ' ').
_STRIP_SET = " \t\n\r\x0b\x0c\x85\u00a0\u1680\u2028\u2029\u3000" + _INVISIBLE


def _nfkc(s: pl.Series) -> pl.Series:
    """NFKC, applied only to the rows holding a non-ASCII character (ASCII is NFKC-stable)."""
    mask = s.str.contains(r"[^\x00-\x7F]").fill_null(False)
    if not mask.any():
        return s
    idx = mask.arg_true()
    return s.clone().scatter(idx, s.gather(idx).str.normalize("NFKC"))


def _blank_to_null(s: pl.Series) -> pl.Series:
    return pl.select(pl.when(s.str.len_bytes() > 0).then(pl.lit(s))).to_series().rename(s.name)


def _clean(raw: pl.Series) -> pl.Series:
    """As text, NFKC, trimmed (Unicode whitespace, zero-width), blank -> null."""
    s = _nfkc(as_text(raw)).str.strip_chars(_STRIP_SET)
    return _blank_to_null(s).rename(raw.name)


def _eval(frame: dict[str, pl.Series], expr: pl.Expr, name: str) -> pl.Series:
    return pl.DataFrame(frame).select(expr.alias(name)).to_series()


@unique_first
def normalize_text(raw: pl.Series) -> pl.Series:
    """NFKC + trim; blank -> null (Utf8)."""
    return _clean(raw)


@unique_first
def normalize_enum(raw: pl.Series) -> pl.Series:
    """Same as normalize_text: unknown values are kept so DQ can see them."""
    return _clean(raw)


@unique_first
def normalize_icd10(raw: pl.Series) -> pl.Series:
    """NFKC, trim, upper case, inner whitespace removed (e.g. ' c34.9 ' -> 'C34.9')."""
    s = _clean(raw)
    return s.str.to_uppercase().str.replace_all(r"\s+", "")


@unique_first
def normalize_category(raw: pl.Series) -> pl.Series:
    """救助类别: NFKC/trim; the 2023 national name 刚性支出困难 -> 支出型困难;
    unknown text kept as is."""
    s = _clean(raw)
    return s.replace({"刚性支出困难": "支出型困难"})


def _map_enum(raw: pl.Series, mapping: dict, dtype: pl.DataType, *, upper: bool = True, extra=None):
    s = _clean(raw)
    key = s.str.to_uppercase() if upper else s
    if extra is not None:
        key = extra(key)
    out = key.replace_strict(mapping, default=None, return_dtype=dtype).rename(raw.name)
    unparseable = (s.is_not_null() & out.is_null()).rename("unparseable")
    return out, unparseable


_SEX_MAP = {
    "男": "男",
    "女": "女",
    "M": "男",
    "F": "女",
    "1": "男",
    "2": "女",
    "男性": "男",
    "女性": "女",
    "MALE": "男",
    "FEMALE": "女",
    "男士": "男",
    "女士": "女",
}


@unique_first
def normalize_sex_with_status(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    return _map_enum(raw, _SEX_MAP, pl.String)


def normalize_sex(raw: pl.Series) -> pl.Series:
    """男/女/M/F/1/2/男性/女性 -> '男'/'女'; anything else -> null."""
    return normalize_sex_with_status(raw)[0]


_YES_NO_MAP = {
    "是": True,
    "否": False,
    "Y": True,
    "N": False,
    "YES": True,
    "NO": False,
    "1": True,
    "0": False,
    "TRUE": True,
    "FALSE": False,
    "T": True,
    "F": False,
    "√": True,
    "×": False,
    "有": True,
    "无": False,
    "已消除": True,
    "未消除": False,
}


@unique_first
def normalize_yes_no_with_status(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    if raw.dtype == pl.Boolean:
        return raw, _none_unparseable(len(raw))
    return _map_enum(raw, _YES_NO_MAP, pl.Boolean)


def normalize_yes_no(raw: pl.Series) -> pl.Series:
    """是/否/Y/N/1/0/true/false -> Boolean; anything else -> null."""
    return normalize_yes_no_with_status(raw)[0]


_GRADE_MAP = {}
for _n, _forms in {
    1: ("1", "一", "I", "壹"),
    2: ("2", "二", "II", "贰", "貳"),
    3: ("3", "三", "III", "叁", "參", "叄"),
    4: ("4", "四", "IV", "肆"),
}.items():
    for _f in _forms:
        _GRADE_MAP[_f] = _n


@unique_first
def normalize_disability_grade_with_status(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    def strip_words(key: pl.Series) -> pl.Series:
        # '残疾一级', '1级', 'Ⅰ级' (NFKC -> 'I级'), '2.0', '第三级'
        return key.str.replace_all(r"^残疾|^第|级$|級$|\.0+$|\s+", "")

    return _map_enum(raw, _GRADE_MAP, pl.Int64, extra=strip_words)


def normalize_disability_grade(raw: pl.Series) -> pl.Series:
    """一级..四级, 1..4, '1级', 'Ⅰ级', roman numerals -> Int64 1..4; blank -> null."""
    return normalize_disability_grade_with_status(raw)[0]


# --------------------------------------------------------------------------- #
# numbers
# --------------------------------------------------------------------------- #


@unique_first
def parse_money_with_status(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Money in yuan (Float64) and the unparseable-non-blank mask."""
    name = raw.name
    if raw.dtype.is_numeric():
        out = raw.cast(pl.Float64)
        bad = out.is_not_null() & ~out.is_finite()
        out = pl.select(pl.when(bad).then(None).otherwise(out)).to_series().rename(name)
        return out, bad.rename("unparseable")
    if raw.dtype == pl.String:
        # Most amounts arrive as plain numbers ('1234.5'): those need no cleaning, and
        # a 3-million-row month has few repeats for unique_first to save.
        plain = raw.cast(pl.Float64, strict=False)
        ok = plain.is_finite().fill_null(False)
        if ok.any():
            rest = (~ok).arg_true()
            bad = _none_unparseable(len(raw))
            if len(rest):
                rest_out, rest_bad = _money_from_text(raw.gather(rest))
                plain = plain.scatter(rest, rest_out)
                bad = bad.scatter(rest, rest_bad)
            return plain.rename(name), bad
    return _money_from_text(raw)


def _money_from_text(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Cleaned text -> money: full-width digits, separators, currency, 万."""
    name = raw.name
    s = _clean(raw)
    body = s.str.replace_all(r"(?i)[,\s¥￥$]|元|人民币|RMB|CNY", "")
    wan = body.str.ends_with("万")
    body = body.str.strip_suffix("万")
    number = body.cast(pl.Float64, strict=False)
    frame = {"s": s, "n": number, "w": wan}
    out = _eval(
        frame,
        pl.when(pl.col("n").is_finite() & pl.col("s").str.contains(r"\d"))
        .then(pl.when(pl.col("w")).then(pl.col("n") * 10000.0).otherwise(pl.col("n")))
        .otherwise(None),
        name,
    )
    return out, (s.is_not_null() & out.is_null()).rename("unparseable")


def parse_money(raw: pl.Series) -> pl.Series:
    """'1,234.50', '１２３', '38412元', '¥100', '3.8万', numbers -> Float64; blank/unparseable -> null."""
    return parse_money_with_status(raw)[0]


@unique_first
def parse_integer_with_status(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    name = raw.name
    if _is_int(raw.dtype):
        return raw.cast(pl.Int64), _none_unparseable(len(raw))
    number, bad = parse_money_with_status(raw)
    integral = number.is_not_null() & (number.floor() == number) & (number.abs() < _MAX_EXACT_FLOAT)
    out = _eval({"n": number, "i": integral}, pl.when("i").then(pl.col("n").cast(pl.Int64)), name)
    was_value = number.is_not_null() | bad
    return out, (was_value & out.is_null()).rename("unparseable")


def parse_integer(raw: pl.Series) -> pl.Series:
    """'3', '3.0', 3, '３' -> Int64; non-integral or unparseable -> null."""
    return parse_integer_with_status(raw)[0]


# --------------------------------------------------------------------------- #
# dates
# --------------------------------------------------------------------------- #

_EXCEL_EPOCH_OFFSET = (dt.date(1970, 1, 1) - dt.date(1899, 12, 30)).days  # 25569
_SERIAL_MIN, _SERIAL_MAX = 1, 80000

_TIME_SUFFIX = r"(?:[T\s]+\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_YMD_RE = rf"^(\d{{4}})\s*[-/.年]\s*(\d{{1,2}})\s*[-/.月]\s*(\d{{1,2}})\s*日?{_TIME_SUFFIX}$"
_COMPACT_RE = rf"^(\d{{4}})(\d{{2}})(\d{{2}})(?:\.0+)?{_TIME_SUFFIX}$"
_SERIAL_RE = r"^\d{1,5}(?:\.\d*)?$"


def _serial_to_date(serial: pl.Expr) -> pl.Expr:
    """Excel serial (days since 1899-12-30; fraction = time of day) -> Date.

    A bare 4-digit number between 1900 and 2100 is treated as a year, not a
    serial, and is not a date."""
    day = serial.floor()
    ok = (day >= _SERIAL_MIN) & (day <= _SERIAL_MAX) & ~((serial >= 1900) & (serial <= 2100) & (serial == day))
    return pl.when(ok).then((day - _EXCEL_EPOCH_OFFSET).cast(pl.Int32).cast(pl.Date))


def _ymd_to_date(y: pl.Expr, m: pl.Expr, d: pl.Expr) -> pl.Expr:
    return pl.concat_str([y, m.str.zfill(2), d.str.zfill(2)]).str.to_date("%Y%m%d", strict=False)


@unique_first
def parse_dates_with_status(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Date Series (pl.Date) and the unparseable-non-blank mask."""
    name = raw.name
    dtype = raw.dtype
    if dtype == pl.Date:
        return raw, _none_unparseable(len(raw))
    if isinstance(dtype, pl.Datetime):
        return raw.dt.date().rename(name), _none_unparseable(len(raw))
    if dtype.is_numeric():
        f = raw.cast(pl.Float64)
        compact = f.cast(pl.Int64, strict=False).cast(pl.String)
        frame = {"f": f, "c": compact}
        out = _eval(
            frame,
            pl.when((pl.col("f") >= 10000101) & (pl.col("f") <= 99991231) & (pl.col("f") == pl.col("f").floor()))
            .then(pl.col("c").str.to_date("%Y%m%d", strict=False))
            .otherwise(_serial_to_date(pl.col("f"))),
            name,
        )
        return out, (f.is_not_null() & out.is_null()).rename("unparseable")
    s = _clean(raw)
    e = pl.col("s")
    ymd = e.str.extract_groups(_YMD_RE)
    cmp_ = e.str.extract_groups(_COMPACT_RE)
    out = _eval(
        {"s": s},
        pl.when(e.str.contains(_YMD_RE))
        .then(_ymd_to_date(ymd.struct[0], ymd.struct[1], ymd.struct[2]))
        .when(e.str.contains(_COMPACT_RE))
        .then(_ymd_to_date(cmp_.struct[0], cmp_.struct[1], cmp_.struct[2]))
        .when(e.str.contains(_SERIAL_RE))
        .then(_serial_to_date(e.cast(pl.Float64, strict=False))),
        name,
    )
    return out, (s.is_not_null() & out.is_null()).rename("unparseable")


def parse_dates(raw: pl.Series) -> pl.Series:
    """'2024-05-01', '2024/5/1', '20240501', '2024年5月1日', '2024.05.01',
    '2024-05-01 00:00:00', Excel serials (45413 -> 2024-05-01), Date/Datetime
    -> pl.Date; unparseable -> null."""
    return parse_dates_with_status(raw)[0]


# --------------------------------------------------------------------------- #
# region codes
# --------------------------------------------------------------------------- #


def clean_region_digits(raw: pl.Series) -> pl.Series:
    """NFKC, trim, inner spaces removed, a trailing '.0' (float from xlsx) removed."""
    s = _clean(raw)
    return s.str.replace_all(r"\s+", "").str.replace(r"^(\d+)\.0*$", "${1}")


@unique_first
def split_region_codes_with_status(raw: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """See split_region_codes; also the invalid-non-blank mask."""
    s = clean_region_digits(raw)
    frame = pl.DataFrame({"s": s})
    e = pl.col("s")
    is12 = e.str.contains(r"^\d{12}$")
    valid = is12 | e.str.contains(r"^\d{6}$")
    # A 12-digit code padded with zeros is a county (…000000) or township (…000) code.
    has_township = is12 & (e.str.slice(6, 3) != "000")
    has_village = has_township & (e.str.slice(9, 3) != "000")
    out = frame.select(
        pl.when(valid).then(e).alias("region_code"),
        pl.when(valid).then(e.str.slice(0, 6)).alias("county_code"),
        pl.when(has_township).then(e.str.slice(0, 9)).alias("township_code"),
        pl.when(has_village).then(e).alias("village_code"),
    )
    return out, (s.is_not_null() & out["region_code"].is_null()).rename("unparseable")


def split_region_codes(raw: pl.Series) -> pl.DataFrame:
    """行政区划代码 -> region_code (digits), county_code (6), township_code (9),
    village_code (12). Township/village are null when only 6 digits are given
    (or the 12-digit code is zero-padded at that level). Not 6 or 12 digits ->
    all null."""
    return split_region_codes_with_status(raw)[0]


@unique_first
def county_of(raw: pl.Series) -> pl.Series:
    """County code (first 6 digits) of a 6- or 12-digit region code, else null."""
    s = clean_region_digits(raw)
    return _eval(
        {"s": s},
        pl.when(pl.col("s").str.contains(r"^(\d{6}|\d{12})$")).then(pl.col("s").str.slice(0, 6)),
        "county_code",
    )


# --------------------------------------------------------------------------- #
# ID numbers (GB 11643-1999)
# --------------------------------------------------------------------------- #

ID_INVALID_REASONS = ("blank", "excel_mangled", "bad_format", "bad_check_digit", "bad_birth_date")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_MAP = "10X98765432"
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\u2500_"


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"need 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK_MAP[total % 11]


def make_id_number(region6: str | int, birth_date: dt.date | str, seq3: int | str) -> str:
    """Build a valid 18-char ID. seq3's last digit: odd = 男, even = 女."""
    region = str(region6)
    if isinstance(birth_date, (dt.date, dt.datetime)):
        ymd = birth_date.strftime("%Y%m%d")
    else:
        ymd = str(birth_date).replace("-", "")
    first17 = f"{region}{ymd}{int(seq3):03d}"
    return first17 + id_check_digit(first17)


def upgrade_15_to_18(id15: str) -> str:
    """Legacy 15-digit ID -> 18: insert '19' after the region, add the check digit."""
    id15 = str(id15).strip()
    if len(id15) != 15 or not id15.isdigit():
        raise ValueError(f"need 15 digits, got {id15!r}")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + id_check_digit(first17)


@unique_first(max_share=0.6)
def normalize_id_numbers(raw: pl.Series, *, today: dt.date | None = None) -> pl.DataFrame:
    """身份证号 -> id_number, id_number_raw, id_invalid_reason, id_birth_date, id_sex.

    Cleans NFKC/full-width, inner spaces and hyphens, lowercase x; upgrades
    15-digit IDs; numbers read as int keep their digits; floats and scientific
    notation are Excel-mangled (except an integral float holding a 15-digit ID,
    which is exact). Check digit before birth date: a typo is reported as
    bad_check_digit. Region codes are not checked against any list.
    id_birth_date / id_sex are filled only for valid IDs.
    """
    today = today or dt.date.today()
    n = len(raw)
    raw_text = as_text(raw).rename("id_number_raw")
    float_mangled = pl.repeat(False, n, dtype=pl.Boolean, eager=True).alias("fm")
    candidate = raw_text
    if _is_float(raw.dtype):
        f = raw.cast(pl.Float64)
        exact15 = ((f >= 1e14) & (f < 1e15) & (f.floor() == f)).fill_null(False)
        float_mangled = (f.is_not_null() & ~exact15).fill_null(False).rename("fm")
        candidate = _eval({"f": f, "x": exact15}, pl.when("x").then(pl.col("f").cast(pl.Int64).cast(pl.String)), "c")

    # Clean: NFKC (full-width digits), drop whitespace/dashes/zero-width anywhere, x -> X;
    # values already of the form 17 digits + digit/X (most of them) are left as they are.
    def clean(values: pl.Series) -> pl.Series:
        out = _nfkc(values).str.replace_all(rf"[\s{_DASHES}{_INVISIBLE}]+", "").str.to_uppercase()
        return _blank_to_null(out)

    tidy = candidate.str.contains(r"^[0-9]{17}[0-9X]$").fill_null(False)
    untidy = (~tidy).arg_true()
    cleaned = candidate if not len(untidy) else candidate.clone().scatter(untidy, clean(candidate.gather(untidy)))

    s = pl.col("s")
    frame = pl.DataFrame({"s": cleaned, "fm": float_mangled}).with_columns(
        (
            pl.col("fm")
            | s.str.contains(r"^[+-]?\d*\.?\d*E[+-]?\d+$")
            | (s.str.contains(r"^\d+\.\d*$") & ~s.str.contains(r"^\d{15}\.0*$"))
        )
        .fill_null(False)
        .alias("mangled"),
        s.str.replace(r"^(\d{15})\.0*$", "${1}").alias("s"),
    )
    is15 = s.str.contains(r"^\d{15}$")
    frame = frame.with_columns(
        pl.when(is15)
        .then(pl.concat_str([s.str.slice(0, 6), pl.lit("19"), s.str.slice(6, 9)]))
        .when(s.str.contains(r"^\d{17}[\dX]$"))
        .then(s.str.slice(0, 17))
        .alias("first17"),
        is15.fill_null(False).alias("is15"),
    ).with_columns(pl.col("first17").cast(pl.Int64, strict=False).alias("num"))
    # Check digit (GB 11643): the 17 digits as one integer, digits taken arithmetically.
    num = pl.col("num")
    total = pl.sum_horizontal([((num // (10 ** (16 - i))) % 10) * w for i, w in enumerate(_ID_WEIGHTS)])
    check = (total % 11).replace_strict(dict(enumerate(_ID_CHECK_MAP)), return_dtype=pl.String)
    frame = frame.with_columns(
        pl.concat_str([pl.col("first17"), check]).alias("full"),
        pl.col("first17").str.slice(6, 8).str.to_date("%Y%m%d", strict=False).alias("bd"),
        (num % 2 == 1).alias("odd"),
    )
    bd = pl.col("bd")
    date_ok = bd.is_not_null() & (bd.dt.year() >= 1900) & (bd <= pl.lit(today))
    check_ok = pl.col("is15") | (pl.col("full") == s)
    reason = (
        pl.when(pl.col("mangled"))
        .then(pl.lit("excel_mangled"))
        .when(s.is_null())
        .then(pl.lit("blank"))
        .when(pl.col("first17").is_null())
        .then(pl.lit("bad_format"))
        .when(~check_ok)
        .then(pl.lit("bad_check_digit"))
        .when(~date_ok)
        .then(pl.lit("bad_birth_date"))
    )
    frame = frame.with_columns(reason.alias("id_invalid_reason"))
    valid = pl.col("id_invalid_reason").is_null()
    return frame.select(
        pl.when(valid).then(pl.col("full")).alias("id_number"),
        pl.lit(raw_text).alias("id_number_raw"),
        pl.col("id_invalid_reason"),
        pl.when(valid).then(bd).alias("id_birth_date"),
        pl.when(valid).then(pl.when(pl.col("odd")).then(pl.lit("男")).otherwise(pl.lit("女"))).alias("id_sex"),
    )


# --------------------------------------------------------------------------- #
# names
# --------------------------------------------------------------------------- #

# Every middle-dot form seen in minority names (some fold to '.' or U+30FB under NFKC).
_NAME_DOTS = "\u00b7\u2022\uff0e.\u30fb\u2027\u2219\uff65\u22c5\u0387\u2024\u2e31\u25cf\u30fb\ufe52"
_NAME_STRIP_RE = rf"[\s{_INVISIBLE}{_NAME_DOTS.replace('.', chr(92) + '.')}]+"


@functools.cache
def _opencc_t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


@functools.cache
def _t2s_tables() -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """From opencc's own t2s dictionaries: (character map, phrase keys, trigger chars).

    Trigger chars are those whose presence can change a string under t2s: a name
    without any is left untouched. A name holding no phrase key is converted
    character by character exactly as opencc would (first listed value)."""
    import opencc

    folder = Path(opencc.__file__).parent / "dictionary"
    char_map: dict[str, str] = {}
    phrase_keys: list[str] = []
    triggers: set[str] = set()
    for fname in ("TSCharacters.txt", "TSPhrases.txt"):
        with open(folder / fname, encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2:
                    continue
                key, value = parts[0], parts[1].split(" ")[0]
                if fname == "TSPhrases.txt":
                    phrase_keys.append(key)
                elif key != value:
                    char_map[key] = value
                if key == value:
                    continue
                if len(key) == len(value):
                    triggers.update(k for k, v in zip(key, value) if k != v)
                else:
                    triggers.update(key)
    return char_map, tuple(phrase_keys), tuple(sorted(triggers))


@functools.cache
def _char_pinyin(char: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(char)).lower()


def _clean_names(raw: pl.Series) -> pl.Series:
    s = _nfkc(as_text(raw)).str.replace_all(_NAME_STRIP_RE, "")
    return _blank_to_null(s)


def _to_simplified(uniq: pl.Series) -> pl.Series:
    """t2s (opencc) on unique cleaned names. Names without a traditional character
    are kept; names without any opencc phrase go through opencc's character table
    in one vectorised pass; only the rest call opencc itself."""
    char_map, phrase_keys, triggers = _t2s_tables()
    needs = uniq.str.contains_any(list(triggers)).fill_null(False)
    if not needs.any():
        return uniq
    phrase = needs & uniq.str.contains_any(list(phrase_keys)).fill_null(False)
    out = uniq.clone()
    by_char = (needs & ~phrase).arg_true()
    if len(by_char):
        out = out.scatter(by_char, out.gather(by_char).str.replace_many(list(char_map), list(char_map.values())))
    by_phrase = phrase.arg_true()
    if len(by_phrase):
        cc = _opencc_t2s()
        converted = [cc.convert(v) for v in out.gather(by_phrase).to_list()]
        out = out.scatter(by_phrase, pl.Series(converted, dtype=pl.String))
    return out


def _pinyin_of(names: pl.Series) -> pl.Series:
    """Toneless pinyin, per character (lazy_pinyin's default reading), no separators,
    lower case. Per character so a homophone typo changes only its own syllable and
    the key never depends on word segmentation. Python work is per unique character;
    the replacement is one Aho-Corasick pass (str.replace_many)."""
    text = names.str.join("", ignore_nulls=True).item() or ""
    mapping = {c: _char_pinyin(c) for c in set(text)}
    mapping = {c: p for c, p in mapping.items() if p != c}
    if not mapping:
        return names.str.to_lowercase()
    return names.str.replace_many(list(mapping.keys()), list(mapping.values())).str.to_lowercase()


@unique_first(max_share=0.6)
def normalize_names(raw: pl.Series) -> pl.DataFrame:
    """姓名 -> name (NFKC, no whitespace, no middle dot, simplified), name_raw,
    name_pinyin (toneless, no separators, lower case)."""
    raw_text = as_text(raw)
    cleaned = _clean_names(raw)
    uniq = cleaned.unique(maintain_order=False).drop_nulls()
    simplified = _to_simplified(uniq)
    pinyin = _pinyin_of(simplified)
    table = pl.DataFrame({"_k": uniq, "name": simplified, "name_pinyin": pinyin})
    out = (
        pl.DataFrame({"_k": cleaned, "name_raw": raw_text})
        .join(table, on="_k", how="left", maintain_order="left")
        .select("name", "name_raw", "name_pinyin")
    )
    return out


def normalize_name(name: str | None) -> str | None:
    """Scalar version of normalize_names' `name`."""
    return normalize_names(pl.Series([name], dtype=pl.String))["name"][0]


def name_pinyin_key(name: str | None) -> str | None:
    """Scalar: the name_pinyin normalize_names gives for this raw name."""
    return normalize_names(pl.Series([name], dtype=pl.String))["name_pinyin"][0]
