"""What each agency writes: the file format and encoding of every (month, source) delivery
and its messiness (header language, column order, extra columns, date and money forms,
CRLF, Excel round trips), the rendering of clean records into delivered columns (values
mangled by `corruptions`), and the writers (CSV in three encodings, xlsx, parquet).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter

from data_samples.flag_ids import flag_id
from data_samples.generate.contract import DISPOSITIONS, EXTRACT_SOURCES, HEADERS, chinese_header
from data_samples.generate.corruptions import agency_ids, malform, render_dates, render_ids, render_money, render_names
from data_samples.generate.world import World

FORMATS = ("csv_utf8", "csv_bom", "csv_gb18030", "xlsx", "parquet")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


@dataclass
class Style:
    fmt: str
    via_excel: bool = False
    header_mode: str = "zh"
    shuffle_cols: bool = False
    extra_col: str | None = None
    date_main: int = 0
    money_int: bool = False
    grade_digit: bool = False
    crlf: bool = False
    region_numeric: bool = False
    malformed: bool = False

    @property
    def ext(self) -> str:
        return "csv" if self.fmt.startswith("csv") else self.fmt


CSV_FORMATS = FORMATS[:3]


def assign_formats(rng: np.random.Generator, K: int, omit: set, csv_only: bool = False) -> dict[tuple[int, str], Style]:
    """Format and messiness of every (month, source) file. csv_only: the three CSV encodings
    only (GB18030 and UTF-8 with and without BOM each occur among the first months' files)."""
    slots = [(t, s) for t in range(K) for s in EXTRACT_SOURCES]
    if csv_only:
        fmts = {sl: str(rng.choice(CSV_FORMATS, p=[0.4, 0.25, 0.35])) for sl in slots}
    else:
        fmts = {sl: str(rng.choice(FORMATS, p=[0.3, 0.17, 0.2, 0.2, 0.13])) for sl in slots}
    early = [sl for sl in slots if sl[0] < min(3, K) and sl not in omit]
    reg_slots = [sl for sl in early if sl[1] == "registry"]
    forced = []
    if reg_slots and not csv_only:
        r = reg_slots[int(rng.integers(0, len(reg_slots)))]
        fmts[r] = "xlsx"
        forced.append(r)
    rest = [sl for sl in early if sl not in forced]
    order = rng.permutation(len(rest))
    for f, i in zip(CSV_FORMATS if csv_only else ("csv_utf8", "csv_bom", "csv_gb18030", "parquet"), order):
        fmts[rest[i]] = f
    styles = {}
    first_csv_seen: set[str] = set()
    excel_done = False
    for sl in slots:
        f = fmts[sl]
        st = Style(f)
        st.header_mode = str(rng.choice(["zh", "mixed", "en"], p=[0.82, 0.12, 0.06]))
        st.shuffle_cols = bool(rng.random() < 0.3)
        st.extra_col = [None, "备注", "数据来源"][int(rng.choice(3, p=[0.75, 0.15, 0.1]))]
        st.date_main = int(rng.choice(5, p=[0.55, 0.15, 0.1, 0.1, 0.1]))
        st.money_int = bool(rng.random() < 0.3)
        st.grade_digit = bool(rng.random() < 0.3)
        st.crlf = bool(rng.random() < 0.3)
        st.region_numeric = f == "xlsx" and bool(rng.random() < 0.3)
        if f.startswith("csv") and sl[1] != "registry":
            st.via_excel = bool(rng.random() < 0.4) or not excel_done
            excel_done |= st.via_excel
            st.malformed = bool(rng.random() < 0.6) or sl[1] not in first_csv_seen
            first_csv_seen.add(sl[1])
        styles[sl] = st
    return styles


class Col:
    """One delivered column: header (canonical), string values for CSV, typed values for xlsx/parquet."""

    def __init__(self, canonical: str, text: np.ndarray, kind: str = "text", typed=None, numeric_mask=None):
        self.canonical, self.text, self.kind, self.typed, self.numeric_mask = canonical, text, kind, typed, numeric_mask


class _Cols:
    """Builds the delivered columns of one frame with the file's style and the stream."""

    def __init__(self, st: Style, rng, n: int):
        self.st, self.rng, self.n = st, rng, n

    def date(self, name: str, series: pl.Series, other: float = 0.12) -> Col:
        return Col(name, render_dates(series, self.st, self.rng, other), "date", series.to_list())

    def money(self, name: str, series: pl.Series, blank: float = 0.0) -> Col:
        return Col(name, render_money(series, self.st, self.rng, blank), "money", series.to_list())

    def region(self, codes: np.ndarray, county_share: float = 0.0) -> Col:
        codes = codes.astype(object)
        if county_share:
            sel = self.rng.random(self.n) < county_share
            codes[sel] = np.asarray([c[:6] for c in codes[sel]], dtype=object)
        return Col("region_code", codes, "region")


def render(w: World, source: str, df: pl.DataFrame, st: Style, rng) -> list[Col]:
    """Render a clean frame (already in delivery order) into messy delivered columns."""
    if source == "registry":
        return _render_registry(w, df, st, rng)
    pids = df["pid"].to_numpy()
    n = len(pids)
    rates = w.rates[source]
    make = _Cols(st, rng, n)
    ids, num = agency_ids(w, pids, st, rng, rates["id"])
    names = render_names(w, pids, rng, rates["name"])
    # name-only records: the name alone, no ID, no region, no birth date
    name_only = rng.random(n) < float(rates.get("name_only", 0.0))
    ids[name_only], num[name_only] = "", False
    cols = [Col("name", names), Col("id_number", ids, "id", None, num)]
    _AGENCY_COLUMNS[source](w, df, make, cols, name_only)
    return cols


def _registry_messiness(w: World, rates: dict):
    """Per-person registry messiness, fixed across months (own stream, computed once), and the
    state of that stream where the fixed messiness ended."""
    if getattr(w, "registry_messy", None) is None:
        prng = np.random.default_rng([int(w.seed), 7])
        all_ids, _ = render_ids(w, np.arange(w.P), Style("csv_utf8"), prng, rates["id"])
        all_names = render_names(w, np.arange(w.P), prng, rates["name"])
        birth_blank = (prng.random(w.P) < rates["birth_blank"]) & (all_ids == w.id18.astype(object))
        w.registry_messy = (all_ids, all_names, birth_blank, prng.bit_generator.state)
    return w.registry_messy


def _render_registry(w: World, df: pl.DataFrame, st: Style, rng) -> list[Col]:
    """The registry: a person's ID, name and blank birth date are the same every month."""
    pids = df["pid"].to_numpy()
    n = len(pids)
    hh = w.p_hh[pids]
    make = _Cols(st, rng, n)
    all_ids, all_names, birth_blank, state = _registry_messiness(w, w.rates["registry"])
    prng = np.random.Generator(np.random.PCG64())
    prng.bit_generator.state = state  # the stream continues where the fixed messiness ended
    junk = df["household_id"].is_null().to_numpy()
    cols = [Col("household_id", df["household_id"].fill_null("").to_numpy().astype(object))]
    cols.append(Col("name", all_names[pids]))
    rid = all_ids[pids]
    as_num = np.zeros(n, bool)
    if st.fmt == "xlsx":  # legacy 15-digit numbers typed into Excel end up as numbers
        as_num = (np.asarray([len(x) for x in rid]) == 15) & (prng.random(n) < 0.5)
    cols.append(Col("id_number", rid, "id", None, as_num))
    cols.append(Col("sex", w.sex[pids].astype(object)))
    b = pl.Series(w.birth[pids].astype("datetime64[D]").astype(object).tolist(), dtype=pl.Date)
    b = pl.select(pl.when(pl.Series(birth_blank[pids])).then(None).otherwise(b)).to_series()
    cols.append(make.date("birth_date", b, 0.05))
    cols.append(Col("relation", w.rel[pids].astype(object)))
    cols.append(make.region(w.region[hh]))
    cols.append(Col("urban_rural", np.where(w.urban[hh], "城市", "农村").astype(object)))
    cols.append(Col("category", df["category_render"].fill_null("").to_numpy().astype(object)))
    hs = df["household_size"]
    cols.append(Col("household_size", hs.cast(pl.Utf8).fill_null("").to_numpy().astype(object), "int", hs.to_list()))
    cols.append(make.money("household_annual_income", df["income"]))
    g = w.grade[pids]
    gz = np.asarray(["", "一级", "二级", "三级", "四级"], dtype=object)[g]
    gd = np.asarray(["", "1", "2", "3", "4"], dtype=object)[g]
    cols.append(Col("disability_grade", gd if st.grade_digit else gz))
    cols.append(Col("disability_type", w.dtype[pids].astype(object)))
    enr = pl.Series(w.enrolled[hh].astype(object).tolist(), dtype=pl.Date)
    cols.append(make.date("enrolled_on", enr))
    cols.append(Col("phone", w.phone[pids].astype(object)))
    if junk.any():
        for c in cols:
            if c.canonical in ("category", "household_size", "household_annual_income"):
                c.text[junk] = ""
    return cols


def _civil_affairs(w: World, df: pl.DataFrame, make: _Cols, cols: list[Col], name_only: np.ndarray) -> None:
    hh = w.p_hh[df["pid"].to_numpy()]
    cols.append(make.region(w.region[hh], w.rates["civil_affairs"].get("region_county", 0.0)))
    cols[-1].text[name_only] = ""
    cols.append(Col("event_type", df["event_type"].to_numpy().astype(object)))
    cols.append(make.money("amount", df["amount"]))
    cols.append(make.date("event_date", df["event_date"]))


def _health_insurance(w: World, df: pl.DataFrame, make: _Cols, cols: list[Col], name_only: np.ndarray) -> None:
    pids = df["pid"].to_numpy()
    cols.append(Col("sex", w.sex[pids].astype(object)))
    b = pl.Series(w.birth[pids].astype(object).tolist(), dtype=pl.Date)
    b = pl.select(pl.when(pl.Series(name_only)).then(None).otherwise(b)).to_series()
    cols.append(make.date("birth_date", b))
    cols.append(Col("insured_region", w.county[w.p_hh[pids]].astype(object), "region"))
    cols.append(Col("visit_type", df["visit_type"].to_numpy().astype(object)))
    cols.append(make.date("settled_on", df["settled_on"]))
    cols.append(Col("provider", df["provider"].to_numpy().astype(object)))
    cols.append(Col("diagnosis_icd10", df["icd"].to_numpy().astype(object)))
    cols.append(make.money("total_cost", df["total"]))
    cols.append(make.money("basic_paid", df["basic"], 0.01))
    cols.append(make.money("critical_illness_paid", df["critical"], 0.02))
    cols.append(make.money("assistance_paid", df["assistance"], 0.02))
    cols.append(make.money("out_of_pocket", df["oop"]))


def _human_resources(w: World, df: pl.DataFrame, make: _Cols, cols: list[Col], name_only: np.ndarray) -> None:
    cols.append(Col("record_type", df["record_type"].to_numpy().astype(object)))
    cols.append(Col("employer", df["employer"].fill_null("").to_numpy().astype(object)))
    cols.append(make.money("monthly_wage", df["wage"]))
    cols.append(make.money("amount", df["amount"]))
    cols.append(make.date("start_date", df["start_date"]))
    cols.append(make.date("end_date", df["end_date"]))


def _rural_revitalization(w: World, df: pl.DataFrame, make: _Cols, cols: list[Col], name_only: np.ndarray) -> None:
    hh = w.p_hh[df["pid"].to_numpy()]
    cols.insert(0, Col("rr_household_id", df["rr_hid"].to_numpy().astype(object)))
    cols.append(Col("relation", df["rr_relation"].to_numpy().astype(object)))
    cols.append(make.region(w.region[hh]))
    cols.append(Col("monitor_type", df["monitor"].to_numpy().astype(object)))
    cols.append(Col("risk_type", df["risk"].to_numpy().astype(object)))
    cols.append(make.money("per_capita_net_income", df["pcni"]))
    cols.append(Col("risk_cleared", np.where(df["cleared"].to_numpy(), "是", "否").astype(object)))
    cols.append(make.date("identified_on", df["identified"]))


# the columns after name and ID number, per agency (rural_revitalization puts its household ID first)
_AGENCY_COLUMNS = {
    "civil_affairs": _civil_affairs,
    "health_insurance": _health_insurance,
    "human_resources": _human_resources,
    "rural_revitalization": _rural_revitalization,
}


def _headers(source: str, cols: list[Col], st: Style, rng) -> list[str]:
    zh = [chinese_header(source, c.canonical) for c in cols]
    en = [c.canonical for c in cols]
    if st.header_mode == "en":
        return en
    if st.header_mode == "mixed":
        pick = set(rng.choice(len(cols), min(2, len(cols)), replace=False).tolist())
        return [en[i] if i in pick else zh[i] for i in range(len(cols))]
    return zh


CSV_CHUNK_ROWS = 200_000


def _write_csv(
    path: Path, headers: list[str], cols: list[Col], st: Style, ragged: list[int], first: bool = True
) -> None:
    """Write (first) or append one chunk of rows; ragged rows are 0-based within the chunk."""
    df = pl.DataFrame({h: pl.Series(h, c.text.tolist(), dtype=pl.Utf8) for h, c in zip(headers, cols)})
    df = df.with_columns(pl.all().replace("", None))
    text = df.write_csv(include_header=first)
    del df
    if ragged:
        lines = text.split("\n")
        for r in ragged:
            lines[r + int(first)] = lines[r + int(first)] + ",多余字段"
        text = "\n".join(lines)
    if st.crlf:
        text = text.replace("\n", "\r\n")
    enc = {"csv_utf8": "utf-8", "csv_bom": "utf-8-sig" if first else "utf-8", "csv_gb18030": "gb18030"}[st.fmt]
    with path.open("wb" if first else "ab") as f:
        f.write(text.encode(enc))


def _cell_values(c: Col, st: Style, rng) -> list:
    n = len(c.text)
    text = c.text
    if c.kind == "id":
        out = [None if v == "" else v for v in text.tolist()]
        for i in np.flatnonzero(c.numeric_mask):
            out[i] = int(text[i]) if len(text[i]) == 15 else float(text[i])
        return out
    if c.kind == "date":
        out = list(c.typed)
        u = rng.random(n)
        for i in np.flatnonzero(u < 0.10):
            out[i] = text[i] or None
        for i in np.flatnonzero((u >= 0.10) & (u < 0.16)):
            if out[i] is not None:
                out[i] = (out[i] - _EXCEL_EPOCH).days
        return out
    if c.kind == "money":
        out = list(c.typed)
        for i in np.flatnonzero(np.char.find(text.astype(str), "元") >= 0) if n else []:
            out[i] = text[i]
        for i in np.flatnonzero(np.char.find(text.astype(str), ",") >= 0) if n else []:
            out[i] = text[i]
        for i in np.flatnonzero(text == ""):
            out[i] = None
        return out
    if c.kind == "int":
        return list(c.typed)
    if c.kind == "region" and st.region_numeric:
        return [int(v) if v else None for v in text.tolist()]
    return [None if v == "" else v for v in text.tolist()]


def _write_xlsx(path: Path, headers: list[str], columns: list[list], created: dt.datetime) -> None:
    wb = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "default_date_format": "yyyy-mm-dd",
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    wb.set_properties({"created": created, "author": "synthetic"})
    ws = wb.add_worksheet("Sheet1")
    ws.write_row(0, 0, headers)
    for r, row in enumerate(zip(*columns), start=1):
        ws.write_row(r, 0, row)
    wb.close()


def _write_parquet(path: Path, headers: list[str], cols: list[Col]) -> None:
    data = {}
    for h, c in zip(headers, cols):
        if c.kind == "date":
            data[h] = pl.Series(h, c.typed, dtype=pl.Date)
        elif c.kind == "money":
            data[h] = pl.Series(h, [None if v is None else float(v) for v in c.typed], dtype=pl.Float64)
        elif c.kind == "int":
            data[h] = pl.Series(h, c.typed, dtype=pl.Int64)
        else:
            data[h] = pl.Series(h, c.text.tolist(), dtype=pl.Utf8).replace("", None)
    pl.DataFrame(data).write_parquet(path, compression="zstd", statistics=False)


def write_delivery(
    w: World, source: str, df: pl.DataFrame, st: Style, rng, path: Path, created: dt.datetime
) -> list[int]:
    """Render and write one (month, source) delivery; returns the source_row of every record
    planted unreadable (a destroyed required value or a ragged line).

    CSV is rendered and written in row chunks (bounded memory at prefecture size); a delivery
    of at most CSV_CHUNK_ROWS rows is one chunk, rendered as a whole. The corruption rates are
    per record, so chunks do not change them."""
    bounds = list(range(0, df.height, CSV_CHUNK_ROWS)) if st.fmt.startswith("csv") else [0]
    order, headers, pos = None, [], 0
    unusable: list[int] = []
    for ci, a in enumerate(bounds or [0]):
        part = df if len(bounds) <= 1 else df.slice(a, CSV_CHUNK_ROWS)
        cols = render(w, source, part, st, rng)
        ragged: list[int] = []
        if ci == 0 and st.malformed and source != "registry":  # planted in the first chunk only
            bad, ragged = malform(source, cols, rng)
            rows = part["source_row"].to_numpy()
            unusable.extend(int(rows[i]) for i in bad + ragged)
        if ci == 0 and st.shuffle_cols:
            order = rng.permutation(len(cols))
        if order is not None:
            cols = [cols[i] for i in order]
        if ci == 0:
            headers = _headers(source, cols, st, rng)
        if st.extra_col:
            note = (
                np.where(rng.random(part.height) < 0.1, "复核中", "").astype(object)
                if st.extra_col == "备注"
                else np.full(part.height, "业务系统导出", dtype=object)
            )
            if ci == 0:
                pos = int(rng.integers(0, len(cols) + 1))
                headers.insert(pos, st.extra_col)
            cols.insert(pos, Col(st.extra_col, note))
        if st.fmt.startswith("csv"):
            _write_csv(path, headers, cols, st, ragged, first=ci == 0)
        elif st.fmt == "xlsx":
            _write_xlsx(path, headers, [_cell_values(c, st, rng) for c in cols], created)
        else:
            _write_parquet(path, headers, cols)
        del cols
    return unusable


# ---------------------------------------------------------------- caseworkers' dispositions
CASEWORKERS = ["张社工", "李干事", "王专干", "赵经办", "马主任"]
_NOTES = {
    "已纳入救助": "已审批纳入低保",
    "核实不符": "入户核实，收入情况与登记不符",
    "已核实待救助": "已入户，待审批",
    "无法联系": "电话无人接听",
}


def plan_dispositions(w: World, flags: pl.DataFrame, rng) -> list[tuple[str, str, str]]:
    """(rule, household_key, disposition) that caseworkers deliver in the last month for flags
    of the month before: the planted closing ones whose flag fired, and open ones on a random
    few flags of the other rules."""
    L = w.K - 1
    prev = flags.filter(pl.col("t") == L - 1)
    prev_set = set(zip(prev["household_key"].to_list(), prev["rule_code"].to_list()))
    planned = [(r, w.hh_id[h], d) for r, h, d in w.dispositions]
    planned = [p for p in planned if (p[1], p[0]) in prev_set]
    used = {(k, r) for r, k, _ in planned}
    others = prev.filter(~pl.col("rule_code").is_in(["R02", "R03"])).sort("household_key", "rule_code")
    if others.height:
        idx = rng.choice(others.height, min(others.height, 2 * max(2, len(w.dispositions) // 2)), replace=False)
        for j, i in enumerate(sorted(idx.tolist())):
            k, r = others["household_key"][i], others["rule_code"][i]
            if (k, r) not in used:
                planned.append((r, k, "已核实待救助" if j % 2 == 0 else "无法联系"))
    return planned


def write_dispositions(
    w: World, planned: list[tuple[str, str, str]], rng, path: Path, created: dt.datetime
) -> list[tuple]:
    """dispositions.xlsx of the last month; returns its rows (flag_id, disposition, date,
    caseworker, note)."""
    L = w.K - 1
    rows = [
        (
            flag_id(w.months[L - 1], r, k),
            d,
            w.day(L, 1, 25),
            CASEWORKERS[int(rng.integers(0, len(CASEWORKERS)))],
            _NOTES[d],
        )
        for r, k, d in planned
    ]
    cols = list(zip(*rows)) if rows else [[], [], [], [], []]
    _write_xlsx(path, list(HEADERS[DISPOSITIONS].values()), [list(c) for c in cols], created)
    return rows
