"""Tests for lowincome.normalize: every standardiser, with property tests for IDs."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowincome import normalize as nz

TODAY = dt.date.today()
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

regions = st.integers(110000, 829999).map(str)
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
seqs = st.integers(0, 999)


def one_id(value, dtype=pl.String) -> dict:
    return nz.normalize_id_numbers(pl.Series([value], dtype=dtype)).row(0, named=True)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# --------------------------------------------------------------------------- #
# ID numbers
# --------------------------------------------------------------------------- #


def test_check_digit_matches_the_standards_examples():
    # The two worked examples printed in GB 11643-1999.
    for example in ("11010519491231002X", "440524188001010014"):
        assert nz.id_check_digit(example[:17]) == example[17]


def test_check_digit_rejects_wrong_length():
    with pytest.raises(ValueError):
        nz.id_check_digit("123")


@SETTINGS
@given(regions, birth_dates, seqs)
def test_generated_ids_validate(region, birth, seq):
    id18 = nz.make_id_number(region, birth, seq)
    assert len(id18) == 18 and id18[:17].isdigit()
    row = one_id(id18)
    assert row["id_number"] == id18
    assert row["id_invalid_reason"] is None
    assert row["id_birth_date"] == birth
    assert row["id_sex"] == ("男" if seq % 2 else "女")
    assert row["id_number_raw"] == id18


@SETTINGS
@given(regions, birth_dates, seqs, st.data())
def test_ids_survive_formatting_noise(region, birth, seq, data):
    id18 = nz.make_id_number(region, birth, seq)
    noisy = id18
    if data.draw(st.booleans()):
        noisy = noisy.lower()
    if data.draw(st.booleans()):
        noisy = fullwidth(noisy)
    for _ in range(data.draw(st.integers(0, 3))):
        pos = data.draw(st.integers(0, len(noisy)))
        sep = data.draw(st.sampled_from([" ", "-", "\u3000", "－", "\t"]))
        noisy = noisy[:pos] + sep + noisy[pos:]
    noisy = data.draw(st.sampled_from(["", " ", "\u00a0"])) + noisy + data.draw(st.sampled_from(["", " \n"]))
    row = one_id(noisy)
    assert row["id_number"] == id18, noisy
    assert row["id_invalid_reason"] is None
    assert row["id_number_raw"] == noisy


@SETTINGS
@given(regions, st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)), seqs)
def test_15_digit_round_trip(region, birth, seq):
    id18 = nz.make_id_number(region, birth, seq)
    id15 = id18[:6] + id18[8:17]
    assert nz.upgrade_15_to_18(id15) == id18
    row = one_id(id15)
    assert row["id_number"] == id18
    assert row["id_birth_date"] == birth
    assert row["id_invalid_reason"] is None


@SETTINGS
@given(regions, birth_dates, seqs, st.integers(0, 17), st.data())
def test_one_changed_character_is_a_bad_check_digit(region, birth, seq, pos, data):
    id18 = nz.make_id_number(region, birth, seq)
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    new = data.draw(st.sampled_from([c for c in alphabet if c != id18[pos]]))
    typo = id18[:pos] + new + id18[pos + 1 :]
    row = one_id(typo)
    assert row["id_number"] is None
    assert row["id_invalid_reason"] == "bad_check_digit"
    assert row["id_birth_date"] is None and row["id_sex"] is None


@SETTINGS
@given(regions, birth_dates, seqs)
def test_excel_mangled_forms_are_missing(region, birth, seq):
    id18 = nz.make_id_number(region, birth, seq)
    as_float = float(id18[:17] + ("0" if id18[17] == "X" else id18[17]))
    for text in (f"{as_float:.8E}", f"{as_float:.14e}", f"{as_float:.1f}"):
        row = one_id(text)
        assert row["id_number"] is None
        assert row["id_invalid_reason"] == "excel_mangled", text
    row = one_id(as_float, pl.Float64)
    assert row["id_invalid_reason"] == "excel_mangled"
    assert row["id_number"] is None


@SETTINGS
@given(regions, birth_dates, seqs)
def test_ids_delivered_as_integers(region, birth, seq):
    id18 = nz.make_id_number(region, birth, seq)
    if id18.endswith("X"):
        return
    row = one_id(int(id18), pl.Int64)
    assert row["id_number"] == id18
    assert row["id_number_raw"] == id18


def test_15_digit_id_delivered_as_float_is_exact():
    id18 = nz.make_id_number("110105", dt.date(1971, 9, 23), 2)
    id15 = id18[:6] + id18[8:17]
    row = one_id(float(id15), pl.Float64)
    assert row["id_number"] == id18


def test_retired_region_code_is_valid():
    # 512301 was 四川省涪陵地区/涪陵市 before Chongqing became a municipality.
    id18 = nz.make_id_number("512301", dt.date(1965, 7, 1), 31)
    row = one_id(id18)
    assert row["id_number"] == id18 and row["id_invalid_reason"] is None


def test_birth_date_validation():
    def with_digit(first17: str) -> str:
        return first17 + nz.id_check_digit(first17)

    impossible = with_digit("620102" + "19800230" + "123")
    future = with_digit("620102" + (TODAY + dt.timedelta(days=400)).strftime("%Y%m%d") + "123")
    too_old = with_digit("620102" + "18991231" + "123")
    df = nz.normalize_id_numbers(pl.Series([impossible, future, too_old]))
    assert df["id_invalid_reason"].to_list() == ["bad_birth_date"] * 3
    assert df["id_number"].null_count() == 3
    # A 15-digit ID has no check digit; its date is still checked.
    assert one_id("620102800230123")["id_invalid_reason"] == "bad_birth_date"


def test_blank_and_bad_format():
    df = nz.normalize_id_numbers(
        pl.Series(["", "   ", None, "abc", "12345", "62010219800101123", "6201021980010112345"])
    )
    assert df["id_invalid_reason"].to_list() == ["blank"] * 3 + ["bad_format"] * 4
    assert df["id_number"].null_count() == len(df)
    assert df.columns == ["id_number", "id_number_raw", "id_invalid_reason", "id_birth_date", "id_sex"]
    assert df.schema["id_birth_date"] == pl.Date


def test_ids_keep_order_and_do_not_touch_the_input():
    rng = random.Random(7)
    ids = [nz.make_id_number("620102", dt.date(1950 + i % 60, 1 + i % 12, 1 + i % 28), i % 1000) for i in range(300)]
    noisy = [fullwidth(v) if rng.random() < 0.3 else v for v in ids]
    series = pl.Series("身份证号", noisy)
    before = series.to_list()
    df = nz.normalize_id_numbers(series)
    assert df["id_number"].to_list() == ids
    assert df["id_number_raw"].to_list() == noisy
    assert series.to_list() == before


# --------------------------------------------------------------------------- #
# names
# --------------------------------------------------------------------------- #

DOTS = ["·", "•", "．", ".", "・", "‧", "∙", "･", ""]


def test_minority_name_in_every_dot_form():
    raw = [f"阿依古丽{d}买买提" for d in DOTS] + [" 阿依古丽 · 买买提 ", "阿依古丽\u3000买买提"]
    df = nz.normalize_names(pl.Series(raw))
    assert df["name"].unique().to_list() == ["阿依古丽买买提"]
    assert df["name_pinyin"].unique().to_list() == ["ayigulimaimaiti"]
    assert df["name_raw"].to_list() == raw


def test_traditional_to_simplified_and_homophones():
    df = nz.normalize_names(pl.Series(["陳曉明", "陈晓明", "陈小明", "ＬＩ 明"]))
    assert df["name"][0] == df["name"][1] == "陈晓明"
    assert df["name_pinyin"][1] == df["name_pinyin"][2] == "chenxiaoming"
    assert df["name"][3] == "LI明"
    assert df["name_pinyin"][3] == "liming"
    assert nz.normalize_name("陳") == "陈"
    assert nz.name_pinyin_key("晓") == nz.name_pinyin_key("小") == "xiao"


def test_names_blank_and_duplicates_keep_order():
    raw = ["张三", None, "  ", "李四", "张三", "張三", ""] * 50
    df = nz.normalize_names(pl.Series(raw))
    assert len(df) == len(raw)
    expected = {"张三": "张三", "李四": "李四", "張三": "张三"}
    assert df["name"].to_list() == [expected.get(r) if r and r.strip() else None for r in raw]
    pinyin_of = dict(zip(df["name"].to_list(), df["name_pinyin"].to_list()))
    assert pinyin_of["张三"] == "zhangsan"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="陳曉華軍乾隆發髮後面阿古丽·小明張劉 ", min_size=1, max_size=5), min_size=1, max_size=20)
)
def test_fast_t2s_agrees_with_opencc(names):
    from opencc import OpenCC

    cc = OpenCC("t2s")
    df = nz.normalize_names(pl.Series(names))
    for raw, name in zip(names, df["name"].to_list()):
        cleaned = raw.replace(" ", "").replace("·", "")
        assert name == (cc.convert(cleaned) if cleaned else None)


def test_name_pinyin_key_matches_the_column():
    raw = ["欧阳·娜娜", "單雄信", "吕布"]
    df = nz.normalize_names(pl.Series(raw))
    assert [nz.name_pinyin_key(r) for r in raw] == df["name_pinyin"].to_list()
    assert all(p == p.lower() and p.isascii() for p in df["name_pinyin"].to_list())


# --------------------------------------------------------------------------- #
# dates
# --------------------------------------------------------------------------- #

MAY1 = dt.date(2024, 5, 1)


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",
        "2024/5/1",
        "20240501",
        "2024年5月1日",
        "2024.05.01",
        "2024-5-1",
        "45413",
        "45413.0",
        " 2024-05-01 ",
        "2024-05-01 00:00:00",
        "2024-05-01T08:30:00",
        "２０２４－０５－０１",
        "２０２４年５月１日",
        "2024/05/01 12:00",
    ],
)
def test_date_forms(text):
    out, bad = nz.parse_dates_with_status(pl.Series([text]))
    assert out.dtype == pl.Date
    assert out[0] == MAY1
    assert not bad[0]


def test_dates_from_typed_columns():
    assert nz.parse_dates(pl.Series([45413, None])).to_list() == [MAY1, None]
    assert nz.parse_dates(pl.Series([45413.0, 45413.75])).to_list() == [MAY1, MAY1]
    assert nz.parse_dates(pl.Series([20240501])).to_list() == [MAY1]
    assert nz.parse_dates(pl.Series([MAY1])).to_list() == [MAY1]
    assert nz.parse_dates(pl.Series([dt.datetime(2024, 5, 1, 13, 5)])).to_list() == [MAY1]
    assert nz.parse_dates(pl.Series([None, None])).to_list() == [None, None]


def test_unparseable_dates_are_flagged_blanks_are_not():
    raw = ["2024-02-30", "abc", "1985", "999999", "", "  ", None, "2024-13-01"]
    out, bad = nz.parse_dates_with_status(pl.Series(raw))
    assert out.null_count() == len(raw)
    assert bad.to_list() == [True, True, True, True, False, False, False, True]


def test_excel_serial_epoch():
    # 1 = 1899-12-31 under the 1899-12-30 epoch; 61 = 1900-03-01.
    assert nz.parse_dates(pl.Series(["61", "1"])).to_list() == [dt.date(1900, 3, 1), dt.date(1899, 12, 31)]


# --------------------------------------------------------------------------- #
# money, integers
# --------------------------------------------------------------------------- #


def test_money():
    raw = ["1,234.50", "１２３", "38412元", " 100 ", "¥100", "￥1,000.5元", "3.8万", "-20", "", None, "abc", "nan"]
    out, bad = nz.parse_money_with_status(pl.Series(raw))
    assert out.dtype == pl.Float64
    assert out.to_list() == [1234.5, 123.0, 38412.0, 100.0, 100.0, 1000.5, 38000.0, -20.0, None, None, None, None]
    assert bad.to_list() == [False] * 10 + [True, True]
    assert nz.parse_money(pl.Series([12, None])).to_list() == [12.0, None]
    assert nz.parse_money(pl.Series([1.5, float("inf")])).to_list() == [1.5, None]


def test_integer():
    out, bad = nz.parse_integer_with_status(pl.Series(["3", "3.0", "３", " 4 ", "3.5", "x", "", None]))
    assert out.dtype == pl.Int64
    assert out.to_list() == [3, 3, 3, 4, None, None, None, None]
    assert bad.to_list() == [False, False, False, False, True, True, False, False]
    assert nz.parse_integer(pl.Series([3, None], dtype=pl.Int32)).to_list() == [3, None]
    assert nz.parse_integer(pl.Series([3.0, 2.5])).to_list() == [3, None]


# --------------------------------------------------------------------------- #
# region codes
# --------------------------------------------------------------------------- #


def test_region_codes():
    raw = [
        "620102001001",
        "620102001001.0",
        " ６２０１０２００１００１ ",
        "620102",
        "62010",
        "abc",
        None,
        "620102003000",
    ]
    df, bad = nz.split_region_codes_with_status(pl.Series(raw))
    assert df.columns == ["region_code", "county_code", "township_code", "village_code"]
    assert df.row(0) == ("620102001001", "620102", "620102001", "620102001001")
    assert df.row(1) == df.row(0) == df.row(2)
    assert df.row(3) == ("620102", "620102", None, None)
    assert df.row(4) == df.row(5) == df.row(6) == (None, None, None, None)
    assert df.row(7) == ("620102003000", "620102", "620102003", None)
    assert bad.to_list() == [False, False, False, False, True, True, False, False]


def test_region_codes_from_numbers():
    assert nz.split_region_codes(pl.Series([620102001001.0, 620102.0])).row(1) == ("620102", "620102", None, None)
    assert nz.split_region_codes(pl.Series([620102001001])).row(0)[3] == "620102001001"
    assert nz.county_of(pl.Series(["620102", 620103, "620104001001", "6201", None], dtype=pl.Object)).to_list() == [
        "620102",
        "620103",
        "620104",
        None,
        None,
    ]
    assert nz.county_of(pl.Series([620102.0])).to_list() == ["620102"]


# --------------------------------------------------------------------------- #
# enumerations, text
# --------------------------------------------------------------------------- #


def test_sex():
    raw = ["男", "女", "M", "f", "1", "2", "男性", "女性", " 男 ", "x", "", None]
    out, bad = nz.normalize_sex_with_status(pl.Series(raw))
    assert out.to_list() == ["男", "女", "男", "女", "男", "女", "男", "女", "男", None, None, None]
    assert bad.to_list() == [False] * 9 + [True, False, False]
    assert nz.normalize_sex(pl.Series([1.0, 2.0, 1.0])).to_list() == ["男", "女", "男"]


def test_category():
    out = nz.normalize_category(pl.Series(["刚性支出困难", " 低保 ", "特困", "未知类别", "", None]))
    assert out.to_list() == ["支出型困难", "低保", "特困", "未知类别", None, None]


def test_disability_grade():
    raw = ["一级", "二级", "三级", "四级", "1", "2级", "Ⅰ级", "Ⅳ级", "III", "3.0", "", None, "五级"]
    out, bad = nz.normalize_disability_grade_with_status(pl.Series(raw))
    assert out.dtype == pl.Int64
    assert out.to_list() == [1, 2, 3, 4, 1, 2, 1, 4, 3, 3, None, None, None]
    assert bad.to_list() == [False] * 12 + [True]
    assert nz.normalize_disability_grade(pl.Series([1, 4, None])).to_list() == [1, 4, None]


def test_yes_no():
    raw = ["是", "否", "Y", "n", "1", "0", "true", "FALSE", "x", "", None]
    out, bad = nz.normalize_yes_no_with_status(pl.Series(raw))
    assert out.dtype == pl.Boolean
    assert out.to_list() == [True, False, True, False, True, False, True, False, None, None, None]
    assert bad.to_list() == [False] * 8 + [True, False, False]
    assert nz.normalize_yes_no(pl.Series([True, None])).to_list() == [True, None]
    assert nz.normalize_yes_no(pl.Series([1, 0])).to_list() == [True, False]


def test_text_enum_icd10():
    raw = ["  住院 ", "ＡＢＣ", "", "\u3000", None]
    assert nz.normalize_text(pl.Series(raw)).to_list() == ["住院", "ABC", None, None, None]
    assert nz.normalize_enum(pl.Series(raw)).to_list() == ["住院", "ABC", None, None, None]
    assert nz.normalize_icd10(pl.Series([" c34.9 ", "ｎ１８．５", "", None])).to_list() == [
        "C34.9",
        "N18.5",
        None,
        None,
    ]
    # A phone read from xlsx as a float keeps its digits.
    assert nz.normalize_text(pl.Series([13800138000.0, 1.5])).to_list() == ["13800138000", "1.5"]
    assert nz.normalize_text(pl.Series([MAY1])).to_list() == ["2024-05-01"]


# --------------------------------------------------------------------------- #
# every function: any dtype, length and order kept
# --------------------------------------------------------------------------- #

SERIES_FUNCS = [
    nz.parse_dates,
    nz.parse_money,
    nz.parse_integer,
    nz.county_of,
    nz.normalize_sex,
    nz.normalize_category,
    nz.normalize_disability_grade,
    nz.normalize_yes_no,
    nz.normalize_text,
    nz.normalize_enum,
    nz.normalize_icd10,
]
FRAME_FUNCS = [nz.normalize_id_numbers, nz.normalize_names, nz.split_region_codes]


@pytest.mark.parametrize("func", SERIES_FUNCS + FRAME_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "series",
    [
        pl.Series([], dtype=pl.String),
        pl.Series([None, None], dtype=pl.Null),
        pl.Series(["1", None, " ", "x"]),
        pl.Series([1, None, 3]),
        pl.Series([1.5, None, 45413.0]),
        pl.Series([MAY1, None]),
        pl.Series(["a", "b"], dtype=pl.Categorical),
    ],
    ids=lambda s: str(s.dtype),
)
def test_any_dtype_keeps_length(func, series):
    out = func(series)
    assert len(out) == len(series)
    if isinstance(out, pl.Series):
        # blanks and nulls stay null
        nulls = series.cast(pl.String, strict=False).str.strip_chars().fill_null("") == ""
        assert out.filter(nulls).null_count() == int(nulls.sum())


# --------------------------------------------------------------------------- #
# unique values first
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "fn, values",
    [
        (nz.parse_dates_with_status, ["2024-05-01", "2024/5/1", None, "  ", "不详", "45413", "20240501"]),
        (nz.parse_money_with_status, ["1,234.50", "３.8万", None, "", "很多", "38412元"]),
        (
            nz.normalize_id_numbers,
            [
                nz.make_id_number("620102", dt.date(1960, 3, 15), 11),
                "6.20102198E+17",
                None,
                "",
                "620102600315011",
                nz.make_id_number("620102", dt.date(1988, 12, 1), 22).lower(),
            ],
        ),
        (nz.normalize_names, ["陳 大明", "阿依古丽•买买提", None, "", "王小红"]),
        (nz.split_region_codes_with_status, ["620102001001", "620102", None, "62010200100", " 620102001002 "]),
    ],
)
def test_unique_first_gives_exactly_the_row_by_row_result(fn, values):
    """Many rows of few distinct values take the unique-values path; the result
    must equal the function applied row by row (its unwrapped form)."""
    rows = pl.Series("v", [values[i % len(values)] for i in range(3 * nz._UNIQUE_MIN_ROWS)], dtype=pl.String)
    fast, slow = fn(rows), fn.__wrapped__(rows)
    for a, b in zip(fast if isinstance(fast, tuple) else (fast,), slow if isinstance(slow, tuple) else (slow,)):
        assert a.equals(b) if isinstance(a, pl.DataFrame) else a.equals(b, check_names=True)
