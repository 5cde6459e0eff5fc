"""Seeded generator of realistic synthetic monthly deliveries plus ground truth.

Everything here is synthetic: names are drawn from character pools, ID numbers are
built from random birth dates and sequence numbers (valid GB 11643 check digits),
no real person is represented.

The generator keeps a *world model* (true households, persons, registry
membership per month, clean agency records), renders it into messy deliveries
(`<out>/inbox/<YYYY-MM>/…`, see shared/spec/extracts.md) and writes the ground
truth (`<out>/truth/links.csv`, `flags.csv`, `persons.csv`) computed from the
world model alone, never from pipeline code.

    python -m data_samples.generate --out DIR --households N --months K --start 2026-07 --seed S
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter
import yaml

from data_samples.flag_ids import flag_id
from lowincome import schema

DEFAULT_PARAMS = Path(__file__).with_name("params.yaml")
CORRUPTION = Path(__file__).with_name("corruption.yaml")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_rates(rates: dict | str | Path | None = None, hard: bool = False) -> dict:
    """Corruption rates per source and field (corruption.yaml `default`, then `hard` when
    asked, then `rates`: a dict or a YAML file of overrides in the same layout)."""
    doc = yaml.safe_load(CORRUPTION.read_text(encoding="utf-8"))
    out = doc["default"]
    if hard:
        out = _merge(out, doc["hard"])
    if rates is not None:
        over = rates if isinstance(rates, dict) else yaml.safe_load(Path(rates).read_text(encoding="utf-8"))
        out = _merge(out, over)
    return out


RULES = tuple(f"R{i:02d}" for i in range(1, 12))
# Sources a rule reads in month M (R05 also reads human_resources in M-1).
RULE_SOURCES: dict[str, tuple[str, ...]] = {
    "R01": ("health_insurance",),
    "R02": (),
    "R03": (),
    "R04": ("health_insurance",),
    "R05": ("human_resources",),
    "R06": ("civil_affairs",),
    "R07": ("civil_affairs",),
    "R08": ("rural_revitalization",),
    "R09": ("human_resources",),
    "R10": ("civil_affairs",),
    "R11": ("civil_affairs", "rural_revitalization"),
}

COUNTIES = ("620102", "620103", "620104", "620105")  # the demo's four counties
RETIRED_COUNTY = "620101"  # only inside ID numbers of people born before 1985
CATS = schema.CATEGORIES  # 低保 特困 低保边缘 支出型困难 防返贫监测 其他
C_DIBAO, C_TEKUN, C_EDGE, C_EXPENSE, C_MONITOR, C_OTHER = range(6)


@dataclass(frozen=True)
class Shape:
    """Size and geography of the synthetic world beyond the household count.

    The defaults are the demo county set (4 counties × 5 townships × 6 villages,
    outsider households 0.6× the registry households, volume 1). A prefecture has
    10-15 counties with 10-20 townships each; `volume` > 1 adds what agencies deliver
    at that size (more claims per person, payments per enrolled member, more
    outsiders' pensions), about 5 agency rows per registry person at volume 5.
    """

    counties: int = 4
    townships: int = 5  # per county; the first two are urban 街道
    villages: int = 6  # per township
    outsiders: float = 0.6  # outsider households per registry household
    volume: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.counties <= 97:
            raise ValueError("counties must be 1..97 (codes 620102..620198)")
        if not 2 <= self.townships <= 999 or not 1 <= self.villages <= 999:
            raise ValueError("townships must be 2..999 and villages 1..999")
        if self.outsiders < 0 or self.volume < 1:
            raise ValueError("outsiders must be >= 0 and volume >= 1")


PREFECTURE = Shape(counties=12, townships=15, villages=12, outsiders=1.0, volume=5.0)


def county_codes(n: int) -> tuple[str, ...]:
    """Codes of n counties of one synthetic prefecture (6201xx); the first four are the demo's."""
    return tuple(f"6201{i:02d}" for i in range(2, 2 + n))


def _weights(n: int, default: list[float], spread: int) -> np.ndarray:
    """The demo's probabilities for its size, else deterministic uneven weights."""
    if len(default) == n:
        return np.asarray(default)
    w = 1.0 + 0.5 * (np.arange(n) * 7 % spread) / max(1, spread - 1)
    return w / w.sum()


# ---------------------------------------------------------------- ID numbers
_W = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


def id_check_digit(first17: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    s = sum(int(c) * w for c, w in zip(first17, _W.tolist()))
    return "10X98765432"[s % 11]


def is_valid_id(id18: str) -> bool:
    """18 chars, digits + check char, valid check digit and a real birth date."""
    if len(id18) != 18 or not id18[:17].isdigit() or id18[17] not in "0123456789X":
        return False
    try:
        dt.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))
    except ValueError:
        return False
    return id_check_digit(id18[:17]) == id18[17]


def _digits(strings: np.ndarray, width: int) -> np.ndarray:
    return np.frombuffer(np.asarray(strings, dtype=f"S{width}").tobytes(), dtype=np.uint8).reshape(-1, width) - 48


def _ascii_rows_to_str(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return a.view(f"S{a.shape[1]}").ravel().astype(f"U{a.shape[1]}")


def _make_ids(region6: np.ndarray, birth: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vectorised unique 18-char IDs: region6 + yyyymmdd + seq (odd = male) + check."""
    n = len(region6)
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    base = np.concatenate([_digits(region6, 6), _digits(ymd, 8)], axis=1)
    seq = rng.integers(0, 500, n) * 2 + male.astype(np.int64)
    out = np.empty(n, dtype="U18")
    todo = np.arange(n)
    while len(todo):
        s = seq[todo]
        d17 = np.concatenate([base[todo], np.stack([s // 100, s // 10 % 10, s % 10], axis=1)], axis=1)
        chars = np.concatenate([d17 + 48, _CHECK[(d17 * _W).sum(1) % 11][:, None]], axis=1)
        out[todo] = _ascii_rows_to_str(chars)
        _, first_idx = np.unique(out, return_index=True)
        dup = np.ones(n, bool)
        dup[first_idx] = False
        todo = np.flatnonzero(dup)
        seq[todo] = rng.integers(0, 500, len(todo)) * 2 + male[todo].astype(np.int64)
        out[todo] = ""
    return out


# ---------------------------------------------------------------- name pools
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程苏魏吕丁沈姚卢钟陆汪"
)
GIVEN_M = list("伟强军国建明志勇杰涛斌超刚平辉鹏飞磊海林峰波宇浩晓东文俊忠福贵华")
GIVEN_F = list("芳娟敏静丽秀英华慧美娜晶燕玲桂珍红霞兰凤洁琳雪梅莉晓春")
UY_M = ["买买提", "艾合买提", "吐尔逊", "阿不都", "依明", "艾力", "肉孜", "努尔", "热合曼", "库尔班", "亚森", "阿布拉"]
UY_F = ["阿依古丽", "古丽娜尔", "热依拉", "帕提古丽", "米娜", "再努尔", "阿依努尔", "布合丽其", "古再丽", "祖丽菲亚"]
HOMOPHONES = {
    "晓": "小",
    "英": "莹",
    "明": "铭",
    "丽": "莉",
    "静": "晶",
    "军": "君",
    "志": "智",
    "华": "花",
    "林": "琳",
    "伟": "玮",
}
DOT_VARIANTS = ["•", "．", ".", "・", ""]
EMPLOYERS = [
    "兰州市城关区环卫所",
    "甘肃某某建筑工程有限公司",
    "某某物业服务有限公司",
    "某某农业专业合作社",
    "某某商贸有限公司",
    "某某食品加工厂",
    "乡镇公益性岗位",
]
PROVIDERS = ["县人民医院", "县中医医院", "市第一人民医院", "乡镇卫生院", "省人民医院", "市妇幼保健院"]
CASEWORKERS = ["张社工", "李干事", "王专干", "赵经办", "马主任"]


def _traditional_map() -> dict[str, str]:
    import opencc

    conv = opencc.OpenCC("s2t")
    chars = set("".join(SURNAMES + GIVEN_M + GIVEN_F + UY_M + UY_F))
    out = {}
    for c in sorted(chars):
        t = conv.convert(c)
        if t != c:
            out[c] = t
    return out


# ---------------------------------------------------------------- months
def _month_list(start: str, k: int) -> list[dt.date]:
    y, m = (int(x) for x in start.split("-")[:2])
    out = []
    for i in range(k):
        yy, mm = divmod(m - 1 + i, 12)
        out.append(dt.date(y + yy, mm + 1, 1))
    return out


def _month_end(d: dt.date) -> dt.date:
    nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _years_before(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 Feb
        return d.replace(year=d.year - years, day=28)


# ---------------------------------------------------------------- summary
@dataclass
class GenerationSummary:
    out_dir: Path
    inbox_dir: Path
    truth_dir: Path
    months: list[str]
    files: dict[str, dict[str, Path]] = field(default_factory=dict)  # month -> source -> path
    formats: dict[str, dict[str, str]] = field(default_factory=dict)  # month -> source -> format
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # month -> source -> data rows
    flags_per_rule: dict[str, int] = field(default_factory=dict)
    flags_per_month_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def month_dates(self) -> list[dt.date]:
        """The months as first-of-month dates (the pipeline's month values)."""
        return [dt.date.fromisoformat(f"{m[:7]}-01") for m in self.months]


# ---------------------------------------------------------------- world model
class _World:
    """True households, persons, registry state per month and clean agency records."""

    def __init__(
        self, n_reg: int, months: list[dt.date], params: dict, rng: np.random.Generator, shape: Shape = Shape()
    ):
        self.rng = rng
        self.shape = shape
        self.months = months
        self.K = len(months)
        self.params = params
        self.edge = float(params.get("edge_multiplier", 1.5))
        self._build_households(n_reg)
        self._build_persons()
        self.recs: dict[str, list[dict]] = {s: [] for s in schema.AGENCY_SOURCES}
        self.rr_households: list[dict] = []  # dicts of arrays, concatenated later
        self.dispositions: list[dict] = []  # planned: (rule, hh, disposition)
        self.junk_registry_pids: list[int] = []
        self.registry_messy = None  # per-person registry messiness, fixed across months (see _render)

    # ---------------- households
    def _build_households(self, n_reg: int) -> None:
        rng, K = self.rng, self.K
        shape = self.shape
        n_out = max(20, int(n_reg * shape.outsiders))
        H = n_reg + n_out
        self.H, self.n_reg = H, n_reg
        self.is_reg = np.arange(H) < n_reg
        county_i = rng.choice(shape.counties, H, p=_weights(shape.counties, [0.3, 0.25, 0.25, 0.2], 5))
        town_i = rng.choice(shape.townships, H, p=_weights(shape.townships, [0.15, 0.15, 0.25, 0.25, 0.2], 4))
        vill_i = rng.integers(1, shape.villages + 1, H)
        self.county = np.asarray(county_codes(shape.counties))[county_i]
        self.township = np.char.add(self.county, np.char.zfill((town_i + 1).astype(str), 3))
        self.region = np.char.add(self.township, np.char.zfill(vill_i.astype(str), 3))
        self.urban = town_i < 2  # the first two townships are 街道
        self.minority = rng.random(H) < np.where(county_i % 8 == 3, 0.35, 0.03)  # one county in eight is minority-heavy
        size = rng.choice(np.arange(1, 7), H, p=[0.22, 0.25, 0.2, 0.17, 0.1, 0.06])
        self.size = size
        self.head_age = np.where(size == 1, rng.integers(45, 90, H), rng.integers(26, 86, H))
        # registry attributes
        cat = rng.choice(6, H, p=[0.48, 0.06, 0.16, 0.08, 0.14, 0.08])
        cat = np.where((size == 1) & (self.head_age >= 60) & (rng.random(H) < 0.45), C_TEKUN, cat)
        cat = np.where((cat == C_TEKUN) & (size > 2), C_DIBAO, cat)
        cat = np.where((cat == C_MONITOR) & self.urban, C_EDGE, cat)  # 防返贫监测 is rural
        self.alias = (cat == C_EXPENSE) & (rng.random(H) < 0.3)  # delivered as 刚性支出困难
        sd = params_standard(self.params)
        codes = np.asarray(county_codes(shape.counties))
        table = np.array([[sd(c, False), sd(c, True)] for c in codes.tolist()], dtype=float)
        self.S = table[county_i, self.urban.astype(int)]
        lo = np.array([0.3, 0.1, 1.02, 1.6, 1.6, 1.6])[cat]
        hi = np.array([0.95, 0.6, 1.45, 3.5, 3.0, 4.0])[cat]
        self.pc_ratio = lo + (hi - lo) * rng.random(H)
        self.cat = np.repeat(cat[None, :], K, axis=0)
        self.cat[:, ~self.is_reg] = -1
        self.first = np.where(self.is_reg, 0, 99)
        # new enrolments in later months
        for t in range(1, K):
            new = self.is_reg & (rng.random(H) < 0.015) & (self.first == 0)
            self.first[new] = t
        start = self.months[0]
        enr_days = rng.integers(0, 365 * 10, H)
        self.enrolled = np.datetime64(start, "D") - enr_days.astype("timedelta64[D]") - np.timedelta64(20, "D")
        for t in range(1, K):
            sel = self.first == t
            self.enrolled[sel] = np.datetime64(self.months[t], "D") + rng.integers(0, 25, sel.sum()).astype(
                "timedelta64[D]"
            )
        self.size_bias = np.zeros(H, dtype=int)  # planted household_size mismatches
        mism = self.is_reg & (rng.random(H) < 0.01)
        self.size_bias[mism] = rng.choice([-1, 1], mism.sum())
        self.planted = np.zeros(H, bool)
        self.no_bg = np.zeros(H, bool)  # households excluded from risky background records
        self.hh_id = np.where(
            self.is_reg,
            np.char.add(np.char.add("HH", self.county), np.char.zfill(np.arange(H).astype(str), 6)),
            "",
        )

    # ---------------- persons
    def _build_persons(self) -> None:
        rng, H = self.rng, self.H
        size = self.size
        p_hh = np.repeat(np.arange(H), size)
        P = len(p_hh)
        self.P = P
        starts = np.cumsum(size) - size
        slot = np.arange(P) - starts[p_hh]
        ha = self.head_age[p_hh]
        u = rng.random(P)
        rel = np.full(P, "子女", dtype="U4")
        rel[slot == 0] = "户主"
        rel[(slot == 1) & (u < 0.85)] = "配偶"
        rel[(slot == 1) & (u >= 0.85) & (ha < 50)] = "兄弟姐妹"
        old = ha >= 58
        rel[(slot >= 3) & old] = "孙子女"
        last = slot == size[p_hh] - 1
        parent = last & (slot >= 3) & ~old & (ha < 50) & (rng.random(P) < 0.35)
        rel[parent] = "父母"
        other = last & (slot >= 2) & (rng.random(P) < 0.03)
        rel[other] = "其他"
        age = np.zeros(P, dtype=np.int64)
        age[rel == "户主"] = ha[rel == "户主"]
        m = rel == "配偶"
        age[m] = np.clip(ha[m] + rng.integers(-6, 5, m.sum()), 20, 95)
        m = rel == "兄弟姐妹"
        age[m] = np.clip(ha[m] + rng.integers(-8, 9, m.sum()), 18, 95)
        m = rel == "子女"
        age[m] = np.clip(ha[m] - rng.integers(20, 36, m.sum()), 0, 70)
        m = rel == "孙子女"
        age[m] = np.clip(ha[m] - 45 - rng.integers(0, 15, m.sum()), 0, 20)
        m = rel == "父母"
        age[m] = np.clip(ha[m] + rng.integers(22, 31, m.sum()), 40, 96)
        m = rel == "其他"
        age[m] = np.clip(ha[m] + rng.integers(-20, 10, m.sum()), 5, 90)
        ref = np.datetime64(self.months[0], "D")
        birth = (
            ref
            - (age * 365.25).astype(np.int64).astype("timedelta64[D]")
            - rng.integers(1, 365, P).astype("timedelta64[D]")
        )
        male = rng.random(P) < 0.5
        male[rel == "户主"] = rng.random((rel == "户主").sum()) < 0.75
        head_male = male[starts][p_hh]
        male[rel == "配偶"] = ~head_male[rel == "配偶"]
        self.p_hh, self.rel, self.birth, self.male, self.slot = p_hh, rel, birth, male, slot
        self._starts = starts
        # names
        minority = self.minority[p_hh]
        sur = np.asarray(SURNAMES)[rng.integers(0, len(SURNAMES), P)]
        head_sur = sur[starts][p_hh]
        inherit = np.isin(rel, ["子女", "孙子女"]) & head_male
        sur = np.where(inherit, head_sur, sur)
        g_m = np.asarray(GIVEN_M)
        g_f = np.asarray(GIVEN_F)
        g1 = np.where(male, g_m[rng.integers(0, len(g_m), P)], g_f[rng.integers(0, len(g_f), P)])
        g2 = np.where(male, g_m[rng.integers(0, len(g_m), P)], g_f[rng.integers(0, len(g_f), P)])
        two = rng.random(P) < 0.7
        han = np.char.add(sur, np.where(two, np.char.add(g1, g2), g1))
        uy_own = np.where(
            male, np.asarray(UY_M)[rng.integers(0, len(UY_M), P)], np.asarray(UY_F)[rng.integers(0, len(UY_F), P)]
        )
        father = np.asarray(UY_M)[rng.integers(0, len(UY_M), P)]
        head_own = uy_own[starts][p_hh]
        father = np.where(inherit, head_own, father)
        uy = np.char.add(np.char.add(uy_own, "·"), father)
        self.name = np.where(minority, uy, han).astype("U16")
        # disability (registry persons mostly)
        reg = self.is_reg[p_hh]
        dis = rng.random(P) < np.where(reg, 0.07, 0.02)
        self.grade = np.where(dis, rng.choice([1, 2, 3, 4], P, p=[0.12, 0.25, 0.33, 0.3]), 0)
        types = np.asarray(schema.DISABILITY_TYPES)
        self.dtype = np.where(dis, types[rng.choice(7, P, p=[0.12, 0.1, 0.05, 0.45, 0.1, 0.1, 0.08])], "")
        self.phone = np.where(
            rng.random(P) < 0.85,
            np.char.add("1", np.char.zfill(rng.integers(3 * 10**9, 10**10 - 1, P).astype(str), 10)),
            "",
        )
        self.no_id = np.zeros(P, bool)  # outsiders whose agency records never carry an ID
        self.death_t = np.full(P, 99)
        self.death_date = np.full(P, np.datetime64("NaT"), dtype="datetime64[D]")
        self.removed_t = np.full(P, 99)

    # ---------------- helpers
    def age_at(self, pidx, d: dt.date) -> np.ndarray:
        b = self.birth[pidx]
        by = b.astype("datetime64[Y]").astype(int) + 1970
        bm = b.astype("datetime64[M]").astype(int) % 12 + 1
        bday = (b - b.astype("datetime64[M]")).astype(int) + 1
        had = (bm < d.month) | ((bm == d.month) & (bday <= d.day))
        return d.year - by - (~had).astype(int)

    def mem(self, h: int) -> np.ndarray:
        s = self._starts[h]
        return np.arange(s, s + self.size[h])

    def finalize_membership(self) -> None:
        """in_reg (K×P) and delivered household sizes (K×H); call after deaths are planted."""
        K = self.K
        t = np.arange(K)[:, None]
        self.in_reg = (
            self.is_reg[self.p_hh][None, :] & (t >= self.first[self.p_hh][None, :]) & (t < self.removed_t[None, :])
        )
        cnt = np.zeros((K, self.H), dtype=int)
        for k in range(K):
            cnt[k] = np.bincount(self.p_hh[self.in_reg[k]], minlength=self.H)
        # after a removal the delivered size lags one month for some households
        lag = self.rng.random(self.H) < 0.5
        deliv = cnt.copy()
        for k in range(1, K):
            dropped = (cnt[k] < cnt[k - 1]) & (cnt[k] > 0) & lag
            deliv[k, dropped] = cnt[k - 1, dropped]
        deliv = np.where(cnt > 0, np.maximum(deliv + self.size_bias[None, :], 1), 0)
        self.size_deliv = deliv
        # incomes assessed once: pc ratio × S × size at the first registry month
        first_size = deliv[np.clip(self.first, 0, K - 1), np.arange(self.H)]
        pc = np.round(self.pc_ratio * self.S)
        inc = pc * np.maximum(first_size, 1) * 12
        self.income = np.repeat(inc[None, :], K, axis=0).astype(float)
        self.income[:, ~self.is_reg] = np.nan
        blank = self.is_reg & (self.rng.random(self.H) < 0.004)
        self.income[:, blank] = np.nan  # a few blanks: no pc, no income rule fires
        self.no_bg |= blank

    def set_pc(self, h: int, ratio: float, ts) -> None:
        for t in ts:
            self.income[t, h] = round(ratio * self.S[h]) * self.size_deliv[t, h] * 12

    def add(self, source: str, t: int, pids, **cols) -> None:
        pids = np.atleast_1d(np.asarray(pids, dtype=np.int64))
        n = len(pids)
        rec = {"t": np.full(n, t, dtype=np.int64), "pid": pids}
        for k, v in cols.items():
            rec[k] = (
                v
                if isinstance(v, np.ndarray) and v.shape == (n,)
                else np.full(n, v, dtype=object if v is None else None)
            )
        self.recs[source].append(rec)

    def take(self, k: int, mask=None, no_bg: bool = True, need_income: bool = True) -> np.ndarray:
        cand = self.is_reg & ~self.planted & (self.first == 0)
        if need_income:
            cand &= ~np.isnan(self.income[0])
        if mask is not None:
            cand &= mask
        idx = np.flatnonzero(cand)
        if len(idx) == 0:
            return idx
        pick = self.rng.choice(idx, min(k, len(idx)), replace=False)
        self.planted[pick] = True
        if no_bg:
            self.no_bg[pick] = True
        return np.sort(pick)

    def day(self, t: int, lo: int = 1, hi: int = 28) -> dt.date:
        return self.months[t] + dt.timedelta(days=int(self.rng.integers(lo - 1, hi)))

    def days(self, t: int, n: int, lo: int = 1, hi: int = 28) -> np.ndarray:
        return np.datetime64(self.months[t], "D") + self.rng.integers(lo - 1, hi, n).astype("timedelta64[D]")


def params_standard(params: dict):
    table = params.get("dibao_standard", {}) or {}
    default = table.get("default", {"urban": 700, "rural": 520})

    def s(county: str, urban: bool) -> float:
        row = table.get(str(county), default)
        return float(row["urban" if urban else "rural"])

    return s


# ---------------------------------------------------------------- planting
MAJOR_ICD = ["C34.9", "C16.9", "N18.5", "I21.0", "I63.9", "G12.2", "D61.9", "C50.9"]
NEAR_ICD = ["N18.4", "I20.0", "I25.1", "G12.9"]  # look serious, not in the configured prefixes


def _hi_claim(w: _World, t: int, pid: int, visit: str, icd: str, oop: int) -> None:
    rng = w.rng
    major = any(icd.startswith(p) for p in w.params.get("major_disease_icd10_prefixes", []))
    basic = round(oop * rng.uniform(1.2, 2.5))
    crit = round(oop * 0.4) if major and visit == "住院" else 0
    assist = round(oop * 0.1)
    w.add(
        "health_insurance",
        t,
        [pid],
        visit_type=visit,
        settled_on=w.day(t),
        provider=PROVIDERS[rng.integers(0, 4)],
        icd=icd,
        total=float(oop + basic + crit + assist),
        basic=float(basic),
        critical=float(crit),
        assistance=float(assist),
        oop=float(oop),
    )


def _ca(w: _World, t: int, pid: int, event: str, amount) -> None:
    w.add(
        "civil_affairs",
        t,
        [pid],
        event_type=event,
        amount=None if amount is None else float(amount),
        event_date=w.day(t),
    )


def _hr(w: _World, t: int, pid: int, rtype: str, wage=None, amount=None) -> None:
    start = w.months[t] if rtype in ("社保缴费", "养老金发放", "公益性岗位") else w.day(t)
    end = _month_end(w.months[t]) if rtype in ("社保缴费", "养老金发放") else None
    emp = EMPLOYERS[w.rng.integers(0, len(EMPLOYERS))] if rtype in ("社保缴费", "就业登记", "公益性岗位") else None
    w.add(
        "human_resources",
        t,
        [pid],
        record_type=rtype,
        employer=emp,
        wage=None if wage is None else float(wage),
        amount=None if amount is None else float(amount),
        start_date=start,
        end_date=end,
    )


def _rr_household(w: _World, h: int, cleared, risk: str, extra=(), present=None) -> None:
    K = w.K
    w.rr_households.append(
        dict(
            hh=h,
            extra=list(extra),
            cleared=list(cleared),
            present=list(present if present is not None else [True] * K),
            risk=risk,
            monitor=str(w.rng.choice(schema.MONITOR_TYPES)),
            pcni=float(round(w.rng.uniform(4500, 12000))),
            identified=w.months[0] - dt.timedelta(days=int(w.rng.integers(60, 1500))),
        )
    )


def _plant_before_membership(w: _World, n: int, nm: int) -> None:
    """Plantings that change registry membership (deaths, new enrolments)."""
    K, L = w.K, w.K - 1
    tb = min(1, L)
    age0 = w.age_at(np.arange(w.P), w.months[0])
    # R06: deaths still in the registry
    hs = w.take(n, w.size >= 2, need_income=False)
    for i, h in enumerate(hs):
        m = w.mem(h)
        if i % 2 == 0:
            p = m[0]  # the head of a 低保 household: payments continue after death
            w.cat[:, h] = C_DIBAO
            w.pc_ratio[h] = 0.7
            w.death_t[p], w.removed_t[p] = 0, min(2, K)
        else:
            p = m[np.argmax(age0[m])]
            w.death_t[p], w.removed_t[p] = tb, 99 if i % 4 == 1 else tb + 1
        w.death_date[p] = np.datetime64(w.day(w.death_t[p], 1, 20), "D")
    for h in w.take(max(1, n // 4), (w.size == 1) & (w.head_age >= 60), need_income=False):
        p = w.mem(h)[0]
        w.cat[:, h] = C_TEKUN
        w.pc_ratio[h] = 0.3
        w.death_t[p], w.removed_t[p] = 0, 1
        w.death_date[p] = np.datetime64(w.day(0, 1, 20), "D")
    for h in w.take(nm, w.size >= 2, need_income=False):  # near miss: removed in the month of death
        p = w.mem(h)[np.argmax(age0[w.mem(h)])]
        t = int(w.rng.integers(0, K))
        w.death_t[p], w.removed_t[p] = t, t
        w.death_date[p] = np.datetime64(w.day(t, 1, 10), "D")
    # background deaths: elderly, registry and outsiders
    for t in range(K):
        dead = (age0 >= 70) & (w.death_t == 99) & ~w.no_bg[w.p_hh] & (w.rng.random(w.P) < 0.002)
        w.death_t[dead] = t
        w.death_date[dead] = w.days(t, int(dead.sum()), 1, 25).astype("datetime64[D]")
        w.removed_t[dead] = t + w.rng.choice([0, 1, 1, 2], int(dead.sum()))
    # R08: a monitored household enrolled into the registry in the last month
    if K >= 2:
        for h in w.take(max(1, n // 4), ~w.urban, need_income=False):
            w.first[h] = L
            w.enrolled[h] = np.datetime64(w.day(L), "D")
            w.cat[:, h] = C_MONITOR
            w.pc_ratio[h] = 2.0
            _rr_household(w, h, [False] * K, "因病")


def _pick_member(w: _World, h: int, ages: np.ndarray, lo: int, hi: int, rel=None) -> int | None:
    m = w.mem(h)
    ok = (ages[m] >= lo) & (ages[m] <= hi)
    if rel is not None:
        ok &= np.isin(w.rel[m], rel)
    return int(m[ok][0]) if ok.any() else None


def _has_member(w: _World, ages: np.ndarray, lo: int, hi: int, rel=None) -> np.ndarray:
    ok = (ages >= lo) & (ages <= hi) & (w.death_t == 99)
    if rel is not None:
        ok &= np.isin(w.rel, rel)
    return np.bincount(w.p_hh[ok], minlength=w.H) > 0


def _plant_rules(w: _World, n: int, nm: int) -> None:
    rng, K = w.rng, w.K
    L, tb = K - 1, min(1, K - 1)
    allt = range(K)
    age0 = w.age_at(np.arange(w.P), w.months[0])
    n_disp = max(1, n // 4)
    rural = ~w.urban

    def clear_grades(h):
        w.grade[w.mem(h)] = 0

    def setcat(h, c, ts=allt):
        for t in ts:
            w.cat[t, h] = c

    def any_cat(h, choices):
        c = int(rng.choice(choices))
        return C_EDGE if (c == C_MONITOR and w.urban[h]) else c

    # ---- R01 medical burden
    hs = w.take(n + nm, w.size <= 4)
    for i, h in enumerate(hs):
        c = any_cat(h, [C_EXPENSE, C_OTHER, C_MONITOR])
        setcat(h, c)
        w.set_pc(h, 1.7, allt)
        clear_grades(h)
        p = int(w.mem(h)[rng.integers(0, w.size[h])])
        inc = int(w.income[0, h])
        icd = ["C34.9", "I63.9", "S72.0", "K80.2", "N18.5", "J18.9"][i % 6]
        if i < n // 2:  # fires every month
            _hi_claim(w, 0, p, "住院", icd, round(inc * 1.2))
        elif i < n:  # fires, then income re-assessed upward in the last month
            oop = round(inc * 1.1)
            _hi_claim(w, 0, p, "住院", icd, oop)
            if K >= 2:
                w.income[L, h] = float(round(oop * 1.3 / 12 / w.size_deliv[L, h]) * 12 * w.size_deliv[L, h])
        else:  # near miss: out-of-pocket sum exactly equals the annual income
            if K >= 2:
                a = round(inc * 0.6)
                _hi_claim(w, 0, p, "住院", icd, a)
                _hi_claim(w, tb, p, "门诊慢特病", "I10", inc - a)
            else:
                _hi_claim(w, 0, p, "住院", icd, inc)

    # ---- R02 low income, not 低保/特困
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        c = any_cat(h, [C_EDGE, C_EXPENSE, C_OTHER, C_MONITOR])
        setcat(h, c)
        if i < n // 2:
            w.set_pc(h, rng.uniform(0.5, 0.95), allt)
        elif i < n - n_disp or K < 2:
            w.set_pc(h, 0.8, allt)
            if K >= 2:
                w.set_pc(h, 1.8, [L])
        elif i < n:  # 已纳入救助 disposition: 低保 from the last month
            setcat(h, C_EDGE)
            w.set_pc(h, 0.8, allt)
            w.cat[L, h] = C_DIBAO
            w.dispositions.append(("R02", h, "已纳入救助"))
        elif i < n + nm // 2:  # near miss: pc exactly S → R03, not R02
            setcat(h, C_EXPENSE)
            w.set_pc(h, 1.0, allt)
        else:  # planted size mismatch: delivered size one more than listed members
            setcat(h, C_OTHER)
            w.size_deliv[:, h] += 1
            w.set_pc(h, 0.9, allt)

    # ---- R03 edge not recognised
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        c = any_cat(h, [C_EXPENSE, C_OTHER, C_MONITOR])
        setcat(h, c)
        if i < n // 2:
            w.set_pc(h, rng.uniform(1.0, 1.45), allt)
        elif i < n - n_disp or K < 2:
            setcat(h, C_OTHER)
            w.set_pc(h, 1.2, allt)
            if K >= 2:
                w.cat[L, h] = C_EDGE  # recognised as 低保边缘 in the last month
        elif i < n:  # 核实不符: figures unchanged, suppressed in the last month
            w.set_pc(h, 1.3, allt)
            w.dispositions.append(("R03", h, "核实不符"))
        elif i < n + nm // 2:  # pc exactly 1.5 S: neither R02 nor R03
            setcat(h, C_OTHER)
            w.set_pc(h, 1.5, allt)
        else:  # already 低保边缘
            setcat(h, C_EDGE)
            w.set_pc(h, 1.2, allt)
            clear_grades(h)

    # ---- R04 single-person 低保 candidate
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        setcat(h, C_EDGE)
        w.set_pc(h, 1.25, allt)
        clear_grades(h)
        m = w.mem(h)
        p = int(m[rng.integers(0, len(m))])
        if i < n // 3:
            w.grade[p], w.dtype[p] = int(rng.choice([1, 2])), str(rng.choice(schema.DISABILITY_TYPES))
        elif i < 2 * n // 3:
            w.grade[p], w.dtype[p] = 3, str(rng.choice(["智力", "精神"]))
        elif i < n:
            _hi_claim(
                w,
                0,
                p,
                str(rng.choice(["住院", "门诊慢特病"])),
                MAJOR_ICD[i % len(MAJOR_ICD)],
                int(rng.integers(800, 3000)),
            )
            if K >= 2 and i % 2 == 0:
                w.cat[L, h] = C_DIBAO  # 单人保 granted in the last month
                w.set_pc(h, 0.9, [L])
        else:
            j = i - n
            if j % 3 == 0:
                w.grade[p], w.dtype[p] = 3, "肢体"
            elif j % 3 == 1:
                w.grade[p], w.dtype[p] = 1, "视力"
                setcat(h, C_DIBAO)
                w.set_pc(h, 0.7, allt)
            else:
                _hi_claim(w, 0, p, "门诊慢特病", NEAR_ICD[j % len(NEAR_ICD)], int(rng.integers(500, 2000)))

    # ---- R05 unemployment / contributions stopped (working age 16..59 on the last day of M)
    end_tb = _month_end(w.months[tb])
    hs = w.take(n + nm, _has_member(w, age0, 25, 50))
    for i, h in enumerate(hs):
        setcat(h, int(rng.choice([C_OTHER, C_EXPENSE])))
        w.set_pc(h, 2.0, allt)
        p = _pick_member(w, h, age0, 25, 50)
        wage = float(rng.integers(25, 50) * 100)
        if i < n // 3:  # contributions stop after month tb-1 (fires tb, cleared tb+1)
            for t in range(tb):
                _hr(w, t, p, "社保缴费", wage=wage)
        elif i < n // 2:  # contributions stop in the last month
            for t in range(L):
                _hr(w, t, p, "社保缴费", wage=wage)
        elif i < n:  # unemployment registered
            for t in [tb, L] if i % 2 else [tb]:
                _hr(w, t, p, "失业登记")
        elif i < n + nm // 2:  # stopped contributing but registered employment
            for t in range(tb):
                _hr(w, t, p, "社保缴费", wage=wage)
            _hr(w, tb, p, "就业登记")
        else:  # 失业登记 by someone aged 60 on the last day of M
            q = int(w.mem(h)[0])
            w.birth[q] = np.datetime64(_years_before(end_tb, 60), "D")
            _hr(w, tb, q, "失业登记")
    # age boundaries: 16 and 59 fire, 15 and 60 do not
    kids = w.take(max(2, n // 3), _has_member(w, age0, 13, 18, ["子女", "孙子女"]))
    for i, h in enumerate(kids):
        setcat(h, C_OTHER)
        w.set_pc(h, 2.0, allt)
        p = _pick_member(w, h, age0, 13, 18, ["子女", "孙子女"])
        if i % 2 == 0:
            w.birth[p] = np.datetime64(_years_before(end_tb, 16), "D")
        else:
            w.birth[p] = np.datetime64(_years_before(end_tb + dt.timedelta(days=1), 16), "D")
        _hr(w, tb, p, "失业登记")
    olds = w.take(max(2, n // 3), _has_member(w, age0, 57, 62, ["户主", "配偶"]))
    for i, h in enumerate(olds):
        setcat(h, C_OTHER)
        w.set_pc(h, 2.0, allt)
        p = _pick_member(w, h, age0, 57, 62, ["户主", "配偶"])
        if i % 2 == 0:
            w.birth[p] = np.datetime64(_years_before(end_tb + dt.timedelta(days=1), 60), "D")  # 59 on the last day
        else:
            w.birth[p] = np.datetime64(_years_before(end_tb, 60), "D")  # 60 on the last day
        _hr(w, tb, p, "失业登记")

    # ---- R07 stopped but still poor
    hs = w.take(n + nm, w.size <= 4)
    for i, h in enumerate(hs):
        head = int(w.mem(h)[0])
        if i < n // 2 or w.size[h] > 1:
            setcat(h, C_DIBAO, range(tb))
            w.set_pc(h, 0.8, range(tb))
            if i < n:
                setcat(h, C_EDGE, range(tb, K))
                w.set_pc(h, 1.2, range(tb, K))
            else:  # near miss: pc exactly 1.5 S after the stop
                setcat(h, C_OTHER, range(tb, K))
                w.set_pc(h, 1.5, range(tb, K))
            _ca(w, tb, head, "低保停发", None)
        else:
            setcat(h, C_TEKUN, range(tb))
            w.set_pc(h, 0.3, range(tb))
            setcat(h, C_OTHER, range(tb, K))
            w.set_pc(h, 1.3, range(tb, K))
            _ca(w, tb, head, "特困终止", None)
        clear_grades(h)

    # ---- R08 monitored but not in the registry
    out_rural = ~w.is_reg & rural & ~w.planted
    cand = rng.permutation(np.flatnonzero(out_rural))
    k8 = n + nm * 2
    chosen = cand[:k8]
    w.planted[chosen] = True
    reg_by_town = _registry_by_township(w)
    for i, h in enumerate(chosen):
        if i < n * 3 // 4:
            _rr_household(w, h, [False] * K, str(rng.choice(["因病", "因残", "因学", "因务工就业不稳"])))
            if i % 2 == 0:  # head shares a name with a registry person of the township
                src = reg_by_town.get(w.township[h])
                if src is not None and len(src):
                    q = int(rng.choice(src))
                    p = int(w.mem(h)[0])
                    w.name[p], w.male[p] = w.name[q], w.male[q]
        elif i < n:
            _rr_household(w, h, [False] * (K - 1) + [K < 2], "因病")
        else:
            _rr_household(w, h, [True] * K, "因学")
    for h in w.take(nm, rural):  # a registry household listed with one extra outsider member
        extra = int(w.mem(int(cand[k8]))[0]) if len(cand) > k8 else None
        _rr_household(w, h, [False] * K, "因病", extra=[extra] if extra is not None else [])
        setcat(h, C_MONITOR)
        w.set_pc(h, 2.0, allt)

    # ---- R09 income above the standard while on 低保
    hs = w.take(n + nm, _has_member(w, age0, 25, 50) & (w.size >= 2) & (w.size <= 5))
    for i, h in enumerate(hs):
        p = _pick_member(w, h, age0, 25, 50)
        setcat(h, C_DIBAO)
        w.set_pc(h, 0.8, allt)
        clear_grades(h)
        for t in allt:
            sz = w.size_deliv[t, h]
            if i < n:
                wage = (np.floor(w.S[h] * sz / 100) + 2) * 100
            elif i < n + nm // 2:
                wage = w.S[h] * sz  # exactly S per person: does not fire
            else:
                wage = (np.floor(w.S[h] * sz / 100) + 3) * 100
                w.cat[t, h] = C_EDGE
                w.set_pc(h, 1.2, [t])
            _hr(w, t, p, "社保缴费", wage=wage)
        if n // 2 <= i < n and K >= 2:  # 渐退 ended in the last month
            w.cat[L, h] = C_OTHER
            w.set_pc(h, 1.8, [L])

    # ---- R10 repeated temporary assistance
    rep = w.params.get("temp_assistance_repeat", {}) or {}
    cnt = int(rep.get("count", 2))
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        c = any_cat(h, [C_EDGE, C_EXPENSE, C_OTHER])
        setcat(h, c)
        w.set_pc(h, {C_EDGE: 1.2, C_EXPENSE: 1.8, C_OTHER: 2.0}[c], allt)
        clear_grades(h)
        m = w.mem(h)
        if i < n // 2 and K >= 2:
            for j in range(cnt):
                _ca(w, 0 if j < cnt - 1 else tb, int(m[j % len(m)]), "临时救助", int(rng.integers(5, 30)) * 100)
            if i % 2 == 0 and L > tb:
                w.cat[L, h] = C_DIBAO
                w.set_pc(h, 0.8, [L])
        elif i < n:
            for j in range(cnt):
                _ca(w, 0, int(m[j % len(m)]), "临时救助", int(rng.integers(5, 30)) * 100)
        elif i < n + nm // 2:
            for j in range(cnt - 1):
                _ca(w, 0, int(m[j % len(m)]), "临时救助", 1000)
        else:
            setcat(h, C_DIBAO)
            w.set_pc(h, 0.8, allt)
            for j in range(cnt):
                _ca(w, 0, int(m[j % len(m)]), "临时救助", 800)

    # ---- R11 disaster / accident
    hs = w.take(n + nm, rural)
    for i, h in enumerate(hs):
        head = int(w.mem(h)[0])
        if i < n // 2:
            _ca(w, tb, head, "受灾救助", int(rng.integers(10, 50)) * 100)
        elif i < n:
            setcat(h, C_MONITOR)
            w.set_pc(h, 2.0, allt)
            _rr_household(w, h, [False] * (K - 1) + [K >= 2], str(rng.choice(["因灾", "因意外事故"])))
        else:
            setcat(h, C_MONITOR)
            w.set_pc(h, 2.0, allt)
            if i % 2:
                _rr_household(w, h, [False] * K, "因病")
            else:
                _rr_household(w, h, [True] * K, "因灾")
    for j, h in enumerate(cand[k8 + 1 : k8 + 1 + nm]):  # disaster relief to outsiders
        w.planted[h] = True
        p = int(w.mem(int(h))[0])
        src = reg_by_town.get(w.township[h])
        if j % 2 == 0 and src is not None and len(src):
            # namesake of a registry person of the same village (else township), delivered
            # without an ID: name + region alone must not link it (no R11 for the namesake)
            near = src[w.region[w.p_hh[src]] == w.region[h]]
            q = int(rng.choice(near if len(near) else src))
            w.name[p], w.male[p] = w.name[q], w.male[q]
            w.no_id[p] = True
        _ca(w, tb, p, "受灾救助", 2000)


def _registry_by_township(w: _World) -> dict[str, np.ndarray]:
    reg_p = np.flatnonzero(w.is_reg[w.p_hh] & (w.death_t == 99))
    town = w.township[w.p_hh[reg_p]]
    order = np.argsort(town, kind="stable")
    town_s, reg_s = town[order], reg_p[order]
    u, idx = np.unique(town_s, return_index=True)
    return dict(zip(u.tolist(), np.split(reg_s, idx[1:])))


def _same_names(w: _World) -> None:
    """Namesakes: a share of outsiders and of registry persons (rates `namesakes`) take the
    name of a registry person of another household in their village, township or county."""
    rng = w.rng
    reg_p = np.flatnonzero(w.is_reg[w.p_hh])
    share = w.rates["namesakes"]
    levels = (("village", 12), ("township", 9), ("county", 6))
    for group, mask in (("outsiders", ~w.is_reg[w.p_hh]), ("registry", w.is_reg[w.p_hh])):
        for level, width in levels:
            rate = float(share[group].get(level, 0.0))
            if not rate:
                continue
            area = (
                np.asarray([r[:width] for r in w.region[w.p_hh[reg_p]].tolist()])
                if width < 12
                else w.region[w.p_hh[reg_p]]
            )
            order = np.argsort(area, kind="stable")
            area_s, reg_s = area[order], reg_p[order]
            u, start, count = np.unique(area_s, return_index=True, return_counts=True)
            pick = mask & (rng.random(w.P) < rate) & (w.rel != "户主")
            pick = np.flatnonzero(pick & ~w.planted[w.p_hh])
            mine = w.region[w.p_hh[pick]]
            mine = np.asarray([r[:width] for r in mine.tolist()]) if width < 12 else mine
            ti = np.searchsorted(u, mine)
            ok = (ti < len(u)) & (u[np.clip(ti, 0, len(u) - 1)] == mine)
            pick, ti = pick[ok], ti[ok]
            src = reg_s[start[ti] + (rng.random(len(pick)) * count[ti]).astype(int)]
            keep = w.p_hh[src] != w.p_hh[pick]
            pick, src = pick[keep], src[keep]
            w.name[pick] = w.name[src]
            w.male[pick] = w.male[src]


# ---------------------------------------------------------------- background records
def _background(w: _World) -> None:
    rng, K, P = w.rng, w.K, w.P
    hh = w.p_hh
    reg_p = w.is_reg[hh]
    risky_ok = ~w.no_bg[hh] & ~w.planted[hh]
    is_head = w.rel == "户主"
    # persistent person traits for human_resources
    age0 = w.age_at(np.arange(P), w.months[0])
    working = (age0 >= 18) & (age0 <= 57)
    dibao_hh = (w.cat == C_DIBAO).any(axis=0)[hh]
    ss = working & risky_ok & (rng.random(P) < np.where(reg_p, np.where(dibao_hh, 0.0, 0.14), 0.25))
    ss_stop = np.where(ss & (rng.random(P) < 0.02), rng.integers(1, max(2, K), P), 99)
    ss_wage = (rng.integers(20, 60, P) * 100).astype(float)
    public_job = working & risky_ok & reg_p & (rng.random(P) < 0.03)
    pension = (age0 >= 60) & (rng.random(P) < 0.75)
    pension_amt = np.where(
        w.urban[hh] & (rng.random(P) < 0.3), rng.integers(2000, 4200, P), rng.integers(120, 320, P)
    ).astype(float)
    extra_ss = np.zeros(P, bool)  # outsiders employed in the prefecture's firms (volume > 1)
    if w.shape.volume > 1:
        extra_ss = working & ~reg_p & ~ss & (rng.random(P) < min(1.0, 0.1 * (w.shape.volume - 1)))
    for t in range(K):
        alive = w.death_t > t
        alive_in = w.death_t >= t  # still alive for part of the month
        in_reg = w.in_reg[t]
        cat_p = w.cat[t, hh]
        # civil affairs
        pay = in_reg & is_head & (cat_p == C_DIBAO)
        pidx = np.flatnonzero(pay)
        h = hh[pidx]
        with np.errstate(invalid="ignore", divide="ignore"):
            pc = w.income[t, h] / np.maximum(w.size_deliv[t, h], 1) / 12
            amt = np.where(np.isnan(pc), 300.0, np.maximum(60.0, np.round((w.S[h] - pc) * w.size_deliv[t, h])))
        w.add(
            "civil_affairs",
            t,
            pidx,
            event_type=np.full(len(pidx), "低保金发放", object),
            amount=amt,
            event_date=w.days(t, len(pidx), 5, 12),
        )
        pidx = np.flatnonzero(in_reg & (cat_p == C_TEKUN))
        w.add(
            "civil_affairs",
            t,
            pidx,
            event_type=np.full(len(pidx), "特困供养金发放", object),
            amount=np.round(w.S[hh[pidx]] * 1.3),
            event_date=w.days(t, len(pidx), 5, 12),
        )
        for ev, p_reg, p_out, lo, hi in (
            ("临时救助", 0.004, 0.004, 5, 40),
            ("受灾救助", 0.0006, 0.003, 10, 60),
            ("低保停发", 0.0, 0.002, 0, 0),
        ):
            sel = alive & ((reg_p & risky_ok & (rng.random(P) < p_reg)) | (~reg_p & (rng.random(P) < p_out)))
            pidx = np.flatnonzero(sel)
            amount = (rng.integers(lo, hi, len(pidx)) * 100).astype(float) if hi else np.full(len(pidx), None, object)
            w.add(
                "civil_affairs",
                t,
                pidx,
                event_type=np.full(len(pidx), ev, object),
                amount=amount,
                event_date=w.days(t, len(pidx), 1, 28),
            )
        pidx = np.flatnonzero(w.death_t == t)
        ed = np.minimum(
            w.death_date[pidx] + rng.integers(0, 3, len(pidx)).astype("timedelta64[D]"),
            np.datetime64(_month_end(w.months[t]), "D"),
        )
        w.add(
            "civil_affairs",
            t,
            pidx,
            event_type=np.full(len(pidx), "死亡火化", object),
            amount=np.full(len(pidx), None, object),
            event_date=ed.astype(object),
        )
        # health insurance
        u = rng.random(P)
        elderly = age0 >= 60
        base = alive_in & risky_ok
        for visit, prob, icds, lo, hi, share in (
            ("普通门诊", 0.06, ["J06.9", "K29.7", "M54.5", "J20.9", "I10"], 50, 400, 0.35),
            ("门诊慢特病", 0.0, ["I10", "E11.9", "J44.9", "I25.1", "N18.5", "E11.9"], 300, 2000, 0.2),
            (
                "住院",
                0.012,
                ["J18.9", "I63.9", "K80.2", "S72.0", "C16.9", "I21.9", "K35.8", "J44.1"],
                3000,
                40000,
                0.22,
            ),
        ):
            p_ = np.where(elderly, prob + (0.05 if visit == "门诊慢特病" else prob * 0.5), prob)
            sel = base & (u < p_)
            u = np.where(sel, 2.0, u - p_)
            pidx = np.flatnonzero(sel)
            m = len(pidx)
            total = np.round(rng.uniform(lo, hi, m), 2)
            oop = np.round(total * share * rng.uniform(0.7, 1.3, m), 2)
            crit = np.where((visit == "住院") & (total > 20000), np.round(total * 0.1, 2), 0.0)
            assist = np.where(reg_p[pidx], np.round(total * 0.05, 2), 0.0)
            basic = np.round(total - oop - crit - assist, 2)
            w.add(
                "health_insurance",
                t,
                pidx,
                visit_type=np.full(m, visit, object),
                settled_on=w.days(t, m),
                provider=np.asarray(PROVIDERS, object)[rng.integers(0, len(PROVIDERS), m)],
                icd=np.asarray(icds, object)[rng.integers(0, len(icds), m)],
                total=total,
                basic=basic,
                critical=crit,
                assistance=assist,
                oop=oop,
            )
        # human resources
        ms, me = w.months[t], _month_end(w.months[t])
        emp = np.asarray(EMPLOYERS, object)
        for rtype, sel, wage, amount in (
            ("社保缴费", ss & alive & (ss_stop > t), ss_wage, None),
            ("公益性岗位", public_job & alive, (rng.integers(8, 16, P) * 100).astype(float), None),
            ("养老金发放", pension & alive, None, pension_amt),
            ("失业登记", working & risky_ok & alive & (rng.random(P) < 0.003), None, None),
            ("就业登记", working & risky_ok & alive & (rng.random(P) < 0.006), None, None),
        ):
            pidx = np.flatnonzero(sel)
            m = len(pidx)
            monthly = rtype in ("社保缴费", "养老金发放", "公益性岗位")
            w.add(
                "human_resources",
                t,
                pidx,
                record_type=np.full(m, rtype, object),
                employer=emp[rng.integers(0, len(emp), m)]
                if rtype != "养老金发放" and rtype != "失业登记"
                else np.full(m, None, object),
                wage=wage[pidx] if wage is not None else np.full(m, None, object),
                amount=amount[pidx] if amount is not None else np.full(m, None, object),
                start_date=np.full(m, ms, object) if monthly else w.days(t, m),
                end_date=np.full(m, me, object) if rtype in ("社保缴费", "养老金发放") else np.full(m, None, object),
            )
        if w.shape.volume > 1:
            _volume_records(
                w, t, alive_in & risky_ok, in_reg & (cat_p == C_DIBAO) & ~is_head, age0, extra_ss & alive, ss_wage
            )
    # background monitored households (rural)
    rural = ~w.urban
    listed = {r["hh"] for r in w.rr_households}
    bg_reg = (
        w.is_reg
        & rural
        & ~w.planted
        & ((w.cat[0] == C_MONITOR) | (np.isin(w.cat[0], [C_DIBAO, C_EDGE]) & (rng.random(w.H) < 0.08)))
    )
    bg_out = ~w.is_reg & rural & ~w.planted & (rng.random(w.H) < 0.12)
    risks = list(schema.RISK_TYPES)
    rp = np.array([0.36, 0.2, 0.15, 0.02, 0.01, 0.15, 0.06, 0.05])
    for h in np.flatnonzero(bg_reg | bg_out):
        if h in listed:
            continue
        cl = bool(rng.random() < (0.2 if w.is_reg[h] else 0.85))
        _rr_household(w, int(h), [cl] * K, str(rng.choice(risks, p=rp)))


ORDINARY_ICD = ["J06.9", "K29.7", "M54.5", "J20.9", "I10", "K02.9", "L30.9", "H10.9"]
CHRONIC_ICD = ["I10", "E11.9", "J44.9", "I25.1"]  # none is a configured major disease


def _volume_records(
    w: _World,
    t: int,
    active: np.ndarray,
    dibao_member: np.ndarray,
    age0: np.ndarray,
    contributing: np.ndarray,
    wage: np.ndarray,
) -> None:
    """The extra delivery volume of a prefecture (Shape.volume > 1), none of it planted:
    repeated ordinary and chronic outpatient settlements per person (no major diagnoses;
    medical assistance covers most of a registry person's share), 低保金 paid per enrolled
    member (分类施保) besides the household payment to the head, and contributions of
    employed outsiders."""
    rng, e = w.rng, w.shape.volume - 1
    reg_p = w.is_reg[w.p_hh]
    pidx = np.flatnonzero(contributing)
    m = len(pidx)
    w.add(
        "human_resources",
        t,
        pidx,
        record_type=np.full(m, "社保缴费", object),
        employer=np.asarray(EMPLOYERS, object)[rng.integers(0, len(EMPLOYERS), m)],
        wage=wage[pidx],
        amount=np.full(m, None, object),
        start_date=np.full(m, w.months[t], object),
        end_date=np.full(m, _month_end(w.months[t]), object),
    )
    for visit, lam, icds, lo, hi in (
        ("普通门诊", 0.4 * e, ORDINARY_ICD, 30, 300),
        ("门诊慢特病", 0.06 * e * (age0 >= 60), CHRONIC_ICD, 200, 1500),
    ):
        cnt = rng.poisson(lam * active)
        pidx = np.repeat(np.arange(w.P), cnt)
        m = len(pidx)
        total = np.round(rng.uniform(lo, hi, m), 2)
        reg = reg_p[pidx]
        assist = np.where(reg, np.round(total * 0.2, 2), 0.0)
        oop = np.round(total * np.where(reg, 0.12, 0.35) * rng.uniform(0.7, 1.3, m), 2)
        basic = np.round(total - oop - assist, 2)
        w.add(
            "health_insurance",
            t,
            pidx,
            visit_type=np.full(m, visit, object),
            settled_on=w.days(t, m),
            provider=np.asarray(PROVIDERS, object)[rng.integers(0, len(PROVIDERS), m)],
            icd=np.asarray(icds, object)[rng.integers(0, len(icds), m)],
            total=total,
            basic=basic,
            critical=np.zeros(m),
            assistance=assist,
            oop=oop,
        )
    pidx = np.flatnonzero(dibao_member & (rng.random(w.P) < min(1.0, 0.25 * e)))
    m = len(pidx)
    w.add(
        "civil_affairs",
        t,
        pidx,
        event_type=np.full(m, "低保金发放", object),
        amount=(rng.integers(3, 20, m) * 10).astype(float),
        event_date=w.days(t, m, 5, 12),
    )


def _rr_records(w: _World) -> None:
    """One row per member of each monitored household present in month t."""
    rng = w.rng
    for i, r in enumerate(w.rr_households):
        r["rr_hid"] = f"JC{w.region[r['hh']][:9]}{i:05d}"
    for t in range(w.K):
        pids, cols = [], {k: [] for k in ("rr_hid", "rr_relation", "monitor", "risk", "pcni", "cleared", "identified")}
        for r in w.rr_households:
            if not r["present"][t]:
                continue
            m = w.mem(r["hh"])
            m = m[w.death_t[m] > t]
            mm = list(m) + r["extra"]
            pids += mm
            rel = list(w.rel[m]) + ["其他"] * len(r["extra"])
            cols["rr_relation"] += rel
            for k, v in (
                ("rr_hid", r["rr_hid"]),
                ("monitor", r["monitor"]),
                ("risk", r["risk"]),
                ("pcni", r["pcni"]),
                ("cleared", r["cleared"][t]),
                ("identified", r["identified"]),
            ):
                cols[k] += [v] * len(mm)
        n = len(pids)
        if n:
            w.add(
                "rural_revitalization", t, np.asarray(pids), **{k: np.asarray(v, dtype=object) for k, v in cols.items()}
            )
    del rng


def build_world(
    n_households: int, months: list[dt.date], params: dict, seed: int, shape: Shape = Shape(), rates: dict | None = None
) -> _World:
    rng = np.random.default_rng(seed)
    w = _World(n_households, months, params, rng, shape)
    w.rates = rates if rates is not None else load_rates()
    n = max(3, round(n_households * 0.0065))
    nm = max(2, n // 2)
    _plant_before_membership(w, n, nm)
    w.finalize_membership()
    _plant_rules(w, n, nm)
    _same_names(w)
    _background(w)
    _rr_records(w)
    # ID numbers last: planted birth dates are final now
    age_now = w.age_at(np.arange(w.P), months[0])
    by = w.birth.astype("datetime64[Y]").astype(int) + 1970
    region6 = np.where((by < 1985) & (rng.random(w.P) < 0.35), RETIRED_COUNTY, w.county[w.p_hh])
    w.id18 = _make_ids(region6, w.birth, w.male, rng)
    w.sex = np.where(w.male, "男", "女")
    del age_now
    # junk registry rows: outsiders with a blank 户编号 in some CSV registry deliveries
    outs = np.flatnonzero(~w.is_reg[w.p_hh] & ~w.planted[w.p_hh])
    w.junk_registry_pids = list(rng.choice(outs, min(len(outs), w.K), replace=False))
    return w


# ---------------------------------------------------------------- clean frames
_REC_TYPES = {
    "civil_affairs": {"event_type": pl.Utf8, "amount": pl.Float64, "event_date": pl.Date},
    "health_insurance": {
        "visit_type": pl.Utf8,
        "settled_on": pl.Date,
        "provider": pl.Utf8,
        "icd": pl.Utf8,
        "total": pl.Float64,
        "basic": pl.Float64,
        "critical": pl.Float64,
        "assistance": pl.Float64,
        "oop": pl.Float64,
    },
    "human_resources": {
        "record_type": pl.Utf8,
        "employer": pl.Utf8,
        "wage": pl.Float64,
        "amount": pl.Float64,
        "start_date": pl.Date,
        "end_date": pl.Date,
    },
    "rural_revitalization": {
        "rr_hid": pl.Utf8,
        "rr_relation": pl.Utf8,
        "monitor": pl.Utf8,
        "risk": pl.Utf8,
        "pcni": pl.Float64,
        "cleared": pl.Boolean,
        "identified": pl.Date,
    },
}


def _typed_series(k: str, arr, typ) -> pl.Series:
    """One chunk of a record column as a typed polars Series (typed numpy arrays stay off Python objects)."""
    arr = np.asarray(arr)
    if typ == pl.Int64:
        return pl.Series(k, arr.astype(np.int64), dtype=typ)
    if typ == pl.Float64 and arr.dtype != object:
        return pl.Series(k, arr.astype(float), dtype=typ)
    if typ == pl.Date and np.issubdtype(arr.dtype, np.datetime64):
        return pl.Series(k, arr.astype("datetime64[D]")).cast(pl.Date)
    vals = arr.astype(object).tolist()
    if typ == pl.Date:
        vals = [v.date() if isinstance(v, dt.datetime) else v for v in vals]
    return pl.Series(k, vals, dtype=typ)


def _record_frame(w: _World, source: str) -> pl.DataFrame:
    """All clean records of one source; releases the world's record chunks."""
    chunks = [c for c in w.recs[source] if len(c["pid"])]
    w.recs[source] = []
    cols = {"t": pl.Int64, "pid": pl.Int64, **_REC_TYPES[source]}
    if not chunks:
        return pl.DataFrame(schema=cols)
    parts = [pl.DataFrame([_typed_series(k, c[k], typ) for k, typ in cols.items()]) for c in chunks]
    return pl.concat(parts, rechunk=True)


def _registry_frame(w: _World, t: int) -> pl.DataFrame:
    p = np.flatnonzero(w.in_reg[t])
    h = w.p_hh[p]
    cat = w.cat[t, h]
    cat_txt = np.asarray(CATS)[cat]
    cat_render = np.where((cat == C_EXPENSE) & w.alias[h], "刚性支出困难", cat_txt)
    return pl.DataFrame(
        {
            "t": np.full(len(p), t, dtype=np.int64),
            "pid": p.astype(np.int64),
            "hh": h.astype(np.int64),
            "household_id": w.hh_id[h],
            "category": cat_txt,
            "category_render": cat_render,
            "household_size": w.size_deliv[t, h].astype(np.int64),
            "income": w.income[t, h],
            "S": w.S[h],
            "county": w.county[h],
            "birth": w.birth[p],
            "grade": w.grade[p].astype(np.int64),
            "dtype": w.dtype[p],
        }
    ).with_columns(pl.col("income").fill_nan(None))


# ---------------------------------------------------------------- ground truth flags
# the record columns compute_truth reads (the delivered frames are kept only with these)
_TRUTH_COLS = {
    "civil_affairs": ["t", "pid", "source_row", "event_type"],
    "health_insurance": ["t", "pid", "source_row", "icd", "oop"],
    "human_resources": ["t", "pid", "source_row", "record_type", "wage"],
    "rural_revitalization": ["t", "pid", "source_row", "rr_hid", "cleared", "risk"],
}


def compute_truth(
    w: _World, reg: pl.DataFrame, recs: dict[str, pl.DataFrame], delivered: set[tuple[int, str]]
) -> pl.DataFrame:
    """Every (month, household, rule) whose condition holds, from the world model (true links and values)."""
    K, params = w.K, w.params
    edge = w.edge
    ratio = float(params.get("medical_burden_ratio", 1.0))
    prefixes = [str(p).upper() for p in params.get("major_disease_icd10_prefixes", [])]
    rep = params.get("temp_assistance_repeat", {}) or {}
    rep_count, rep_months = int(rep.get("count", 2)), int(rep.get("months", 6))
    hhm = (
        reg.group_by("t", "household_id")
        .agg(pl.col("category", "income", "household_size", "S").first())
        .with_columns(pc=pl.col("income") / pl.col("household_size") / 12)
    )
    key = ["t", "pid"]
    lk = {s: df.join(reg.select("t", "pid", "household_id", "birth"), on=key, how="inner") for s, df in recs.items()}
    out = []

    def emit(M: int, rule: str, hids) -> None:
        for h in sorted(set(hids)):
            out.append((M, h, rule))

    for M in range(K):
        if (M, "registry") not in delivered:
            continue
        ok = {s: (M, s) in delivered for s in schema.AGENCY_SOURCES}
        hm = hhm.filter(pl.col("t") == M)
        if ok["health_insurance"]:
            hi = lk["health_insurance"].filter(pl.col("t").is_between(M - 11, M))
            s = hi.group_by("household_id").agg(pl.col("oop").sum()).join(hm, on="household_id")
            emit(M, "R01", s.filter(pl.col("oop") > ratio * pl.col("income"))["household_id"])
        emit(
            M,
            "R02",
            hm.filter((pl.col("pc") < pl.col("S")) & ~pl.col("category").is_in(["低保", "特困"]))["household_id"],
        )
        emit(
            M,
            "R03",
            hm.filter(
                (pl.col("pc") >= pl.col("S"))
                & (pl.col("pc") < edge * pl.col("S"))
                & ~pl.col("category").is_in(["低保", "特困", "低保边缘"])
            )["household_id"],
        )
        if ok["health_insurance"]:
            rm = reg.filter(pl.col("t") == M)
            dis = rm.filter(
                pl.col("grade").is_in([1, 2]) | ((pl.col("grade") == 3) & pl.col("dtype").is_in(["智力", "精神"]))
            )["household_id"]
            hi = lk["health_insurance"].filter(pl.col("t").is_between(M - 11, M))
            major = hi.filter(
                pl.any_horizontal([pl.col("icd").str.to_uppercase().str.starts_with(p) for p in prefixes])
                if prefixes
                else pl.lit(False)
            )["household_id"]
            cand = set(dis.to_list()) | set(major.to_list())
            emit(
                M,
                "R04",
                hm.filter((pl.col("category") == "低保边缘") & pl.col("household_id").is_in(list(cand)))[
                    "household_id"
                ],
            )
        if (
            M >= 1
            and ok["human_resources"]
            and (M - 1, "human_resources") in delivered
            and (M - 1, "registry") in delivered
        ):
            hr = lk["human_resources"]
            now = hr.filter(pl.col("t") == M)
            unemp = set(now.filter(pl.col("record_type") == "失业登记")["pid"].to_list())
            keep = set(now.filter(pl.col("record_type").is_in(["社保缴费", "就业登记"]))["pid"].to_list())
            prev = set(hr.filter((pl.col("t") == M - 1) & (pl.col("record_type") == "社保缴费"))["pid"].to_list())
            cand = unemp | (prev - keep)
            end = _month_end(w.months[M])
            rm = reg.filter((pl.col("t") == M) & pl.col("pid").is_in(list(cand)))
            if rm.height:
                age = w.age_at(rm["pid"].to_numpy(), end)
                emit(M, "R05", rm.filter(pl.Series((age >= 16) & (age <= 59)))["household_id"])
        if ok["civil_affairs"]:
            ca = lk["civil_affairs"]
            dead = set(ca.filter((pl.col("t") <= M) & (pl.col("event_type") == "死亡火化"))["pid"].to_list())
            emit(M, "R06", reg.filter((pl.col("t") == M) & pl.col("pid").is_in(list(dead)))["household_id"])
            stop = ca.filter((pl.col("t") == M) & pl.col("event_type").is_in(["低保停发", "特困终止"]))["household_id"]
            emit(
                M,
                "R07",
                hm.filter(pl.col("household_id").is_in(stop.to_list()) & (pl.col("pc") < edge * pl.col("S")))[
                    "household_id"
                ],
            )
            tmp = (
                ca.filter(pl.col("t").is_between(M - rep_months + 1, M) & (pl.col("event_type") == "临时救助"))
                .group_by("household_id")
                .len()
            )
            emit(
                M,
                "R10",
                tmp.join(hm, on="household_id").filter(
                    (pl.col("len") >= rep_count) & ~pl.col("category").is_in(["低保", "特困"])
                )["household_id"],
            )
        if ok["human_resources"]:
            ss = (
                lk["human_resources"]
                .filter((pl.col("t") == M) & (pl.col("record_type") == "社保缴费"))
                .group_by("household_id")
                .agg(pl.col("wage").sum())
            )
            emit(
                M,
                "R09",
                ss.join(hm, on="household_id").filter(
                    (pl.col("category") == "低保") & (pl.col("wage") / pl.col("household_size") > pl.col("S"))
                )["household_id"],
            )
        if ok["rural_revitalization"]:
            rr = recs["rural_revitalization"].filter(pl.col("t") == M)
            linked = set(lk["rural_revitalization"].filter(pl.col("t") == M)["rr_hid"].to_list())
            open_ = set(rr.filter(~pl.col("cleared"))["rr_hid"].to_list())
            emit(M, "R08", ["RR:" + h for h in sorted(open_ - linked)])
        if ok["civil_affairs"] and ok["rural_revitalization"]:
            a = (
                lk["civil_affairs"]
                .filter((pl.col("t") == M) & (pl.col("event_type") == "受灾救助"))["household_id"]
                .to_list()
            )
            b = (
                lk["rural_revitalization"]
                .filter((pl.col("t") == M) & pl.col("risk").is_in(["因灾", "因意外事故"]) & ~pl.col("cleared"))[
                    "household_id"
                ]
                .to_list()
            )
            present = set(hm["household_id"].to_list())
            emit(M, "R11", [h for h in set(a) | set(b) if h in present])
    return pl.DataFrame(out, schema={"t": pl.Int64, "household_key": pl.Utf8, "rule_code": pl.Utf8}, orient="row")


def rule_ran(M: int, rule: str, delivered: set[tuple[int, str]]) -> bool:
    """A rule runs in M when the registry and every source it reads are delivered (R05: also
    human_resources and the registry of M-1)."""
    ok = (M, "registry") in delivered and all((M, s) in delivered for s in RULE_SOURCES[rule])
    if rule == "R05":
        ok = ok and M >= 1 and (M - 1, "human_resources") in delivered and (M - 1, "registry") in delivered
    return ok


def _flag_states(
    flags: pl.DataFrame, reg: pl.DataFrame, delivered: set[tuple[int, str]], K: int, closing: list[tuple[str, str, str]]
) -> pl.DataFrame:
    """What the caseworker should see per (month, household, rule), from the world model (rules.md
    lifecycle): every fired flag and every flag that stops being active, with `fired`,
    `suppressed` and `state` 新增 / 持续 / 已清零.

    `closing`: (rule, household, disposition) of 已纳入救助 / 核实不符 dispositions delivered in the
    last month for flags of the month before. Such a flag, still firing, is suppressed when its
    evidence is unchanged; the world model defines that for the registry-only rules (R02, R03:
    the household's registry figures are the same in both months) and plants closing
    dispositions on no other rule (checked here)."""
    fired = {(t, r): set() for t in range(K) for r in RULES}
    for t, h, r in flags.select("t", "household_key", "rule_code").iter_rows():
        fired[(t, r)].add(h)
    L = K - 1
    figures = {}
    if closing:
        cols = ["household_id", "income", "household_size", "category", "S"]
        for t in (L - 1, L):
            f = reg.filter(pl.col("t") == t).group_by("household_id").agg(pl.col(cols[1:]).first())
            figures[t] = {row[0]: row[1:] for row in f.select(cols).iter_rows()}
    close = {}
    for r, h, d in closing:
        if r not in ("R02", "R03"):
            raise ValueError(f"no world evidence model for a closing disposition on {r}")
        close[(h, r)] = d
    rows = []
    active: dict[str, set] = {r: set() for r in RULES}  # per rule: active after the last month it ran
    for M in range(K):
        for r in RULES:
            if not rule_ran(M, r, delivered):
                continue
            now = fired[(M, r)]
            sup = set()
            if M == L and L >= 1:
                for h in now:
                    if (h, r) in close and h in active[r]:
                        same = figures[L - 1].get(h) == figures[L].get(h) and figures[L].get(h) is not None
                        if same:
                            sup.add(h)
            new_active = now - sup
            for h in sorted(now | active[r]):
                if h in new_active:
                    state = "持续" if h in active[r] else "新增"
                else:
                    state = "已清零"
                rows.append((M, h, r, int(h in now), int(h in sup), state))
            active[r] = new_active
    return pl.DataFrame(
        rows,
        schema={
            "t": pl.Int64,
            "household_key": pl.Utf8,
            "rule_code": pl.Utf8,
            "fired": pl.Int64,
            "suppressed": pl.Int64,
            "state": pl.Utf8,
        },
        orient="row",
    )


# ---------------------------------------------------------------- rendering (messy values)
FORMATS = ("csv_utf8", "csv_bom", "csv_gb18030", "xlsx", "parquet")
DATE_FORMS = ("%Y-%m-%d", "%Y/%-m/%-d", "%Y%m%d", "%Y年%-m月%-d日", "%Y.%m.%d")
_FW = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


@dataclass
class _Style:
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


def _assign_formats(
    rng: np.random.Generator, K: int, omit: set, csv_only: bool = False
) -> dict[tuple[int, str], _Style]:
    """Format and messiness of every (month, source) file. csv_only: the three CSV encodings
    only (GB18030 and UTF-8 with and without BOM each occur among the first months' files)."""
    slots = [(t, s) for t in range(K) for s in schema.EXTRACT_SOURCES]
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
        st = _Style(f)
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


def _ids(w: _World, pids: np.ndarray, st: _Style, rng, rates: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rendered ID strings (object array) + mask of values to store as numbers in xlsx."""
    ids = w.id18[pids].astype(object)
    n = len(ids)
    born19 = np.char.startswith(w.id18[pids].astype("U18"), "19", start=6)
    names = ["clean", "lower", "space", "full", "legacy", "excel", "blank", "typo", "num"]
    p = np.array([rates.get(k, 0.0) for k in names])
    p[0] = 0
    p[0] = max(0.0, 1 - p.sum())
    code = rng.choice(len(names), n, p=p / p.sum())
    code[(code == 5) & ~st.via_excel] = 0
    code[(code == 8) & (st.fmt != "xlsx")] = 0
    code[(code == 4) & ~born19] = 0
    endx = np.char.endswith(w.id18[pids].astype("U18"), "X")
    code[(code == 1) & ~endx] = 0
    code[(code == 0) & endx & (rng.random(n) < rates.get("lower", 0) * 8)] = 1
    code[(code == 5) & endx] = 0
    out = ids.copy()
    for i in np.flatnonzero(code == 1):
        out[i] = ids[i].lower()
    for j, i in enumerate(np.flatnonzero(code == 2)):
        s = ids[i]
        out[i] = f"{s[:6]} {s[6:14]} {s[14:]}" if j % 3 else f"{s[:6]}-{s[6:14]}-{s[14:]}"
    for i in np.flatnonzero(code == 3):
        out[i] = ids[i].translate(_FW)
    for i in np.flatnonzero(code == 4):
        out[i] = ids[i][:6] + ids[i][8:17]
    for i in np.flatnonzero(code == 5):
        out[i] = f"{float(ids[i]):.8E}"
    out[code == 6] = ""
    for i in np.flatnonzero(code == 7):
        s = list(ids[i])
        pos = int(rng.choice([14, 15, 17]))
        if pos == 17:
            s[17] = str(rng.choice([c for c in "0123456789X" if c != s[17]]))
        else:
            s[pos] = str((int(s[pos]) + int(rng.integers(1, 10))) % 10)
        out[i] = "".join(s)
    num = (code == 8) & ~endx
    if st.fmt == "xlsx":  # legacy 15-digit numbers are often stored as numbers too
        num |= (code == 4) & (rng.random(n) < 0.5)
    return out, num


_TRAD = None


def _names(w: _World, pids: np.ndarray, rng, rates: dict) -> np.ndarray:
    global _TRAD
    if _TRAD is None:
        _TRAD = str.maketrans(_traditional_map())
    names = w.name[pids].astype(object)
    n = len(names)
    out = names.copy()
    pv = [rates["space"], rates["fw"], rates["trad"], rates["homo"]]
    code = rng.choice(5, n, p=[1 - sum(pv)] + pv)
    for i in np.flatnonzero(code == 1):
        s = names[i]
        out[i] = s[0] + " " + s[1:] if rng.random() < 0.7 else s + " "
    for i in np.flatnonzero(code == 2):
        s = names[i]
        out[i] = s[0] + "\u3000" + s[1:]
    for i in np.flatnonzero(code == 3):
        out[i] = names[i].translate(_TRAD)
    homo = str.maketrans(HOMOPHONES)
    for i in np.flatnonzero(code == 4):
        s = names[i]
        out[i] = s[0] + s[1:].translate(homo)
    dot = np.flatnonzero(np.char.find(w.name[pids].astype("U16"), "·") >= 0)
    var = dot[rng.random(len(dot)) < rates["dot"]]
    for i in var:
        out[i] = out[i].replace("·", DOT_VARIANTS[int(rng.integers(0, len(DOT_VARIANTS)))])
    return out


def _dates_str(values: pl.Series, st: _Style, rng, other: float = 0.12) -> np.ndarray:
    n = len(values)
    code = np.where(rng.random(n) < other, rng.integers(0, 5, n), st.date_main)
    out = np.empty(n, dtype=object)
    for f, form in enumerate(DATE_FORMS):  # each text form rendered only where it is used
        idx = np.flatnonzero(code == f)
        if len(idx):
            out[idx] = values.gather(idx).dt.strftime(form).fill_null("").to_numpy().astype(object)
    return out


def _money_str(values: pl.Series, st: _Style, rng, blank: float = 0.0) -> np.ndarray:
    n = len(values)
    cents = (values * 100).round(0).cast(pl.Int64)
    ip = (cents // 100).cast(pl.Utf8)
    fr = (cents % 100).cast(pl.Utf8).str.zfill(2)
    whole = (cents % 100) == 0
    s = pl.select(pl.when(pl.lit(st.money_int) & whole).then(ip).otherwise(ip + "." + fr)).to_series()
    out = s.fill_null("").to_numpy().astype(object)
    u = rng.random(n)
    vals = values.to_numpy()
    for i in np.flatnonzero(u < 0.015):
        if out[i]:
            out[i] = f"{vals[i]:,.2f}"
    for i in np.flatnonzero((u >= 0.015) & (u < 0.03)):
        if out[i]:
            out[i] = out[i] + "元"
    if blank:
        out[rng.random(n) < blank] = ""
    return out


class _Col:
    """One delivered column: header (canonical), string values for CSV, typed values for xlsx/parquet."""

    def __init__(self, canonical: str, text: np.ndarray, kind: str = "text", typed=None, numeric_mask=None):
        self.canonical, self.text, self.kind, self.typed, self.numeric_mask = canonical, text, kind, typed, numeric_mask


def _render(w: _World, source: str, df: pl.DataFrame, st: _Style, rng) -> list[_Col]:
    """Render a clean frame (already in delivery order) into messy delivered columns."""
    pids = df["pid"].to_numpy()
    n = len(pids)
    rates = w.rates[source]
    cols: list[_Col] = []
    hh = w.p_hh[pids]

    def date_col(name, series, other=0.12):
        return _Col(name, _dates_str(series, st, rng, other), "date", series.to_list())

    def money_col(name, series, blank=0.0):
        return _Col(name, _money_str(series, st, rng, blank), "money", series.to_list())

    def region_col(codes, county_share=0.0):
        codes = codes.astype(object)
        if county_share:
            sel = rng.random(n) < county_share
            codes[sel] = np.asarray([c[:6] for c in codes[sel]], dtype=object)
        return _Col("region_code", codes, "region")

    if source == "registry":
        # per-person fixed messiness: values identical across months (own stream, computed once)
        if getattr(w, "registry_messy", None) is None:
            prng = np.random.default_rng([int(w.seed), 7])
            all_ids, _ = _ids(w, np.arange(w.P), _Style("csv_utf8"), prng, rates["id"])
            all_names = _names(w, np.arange(w.P), prng, rates["name"])
            birth_blank = (prng.random(w.P) < rates["birth_blank"]) & (all_ids == w.id18.astype(object))
            w.registry_messy = (all_ids, all_names, birth_blank, prng.bit_generator.state)
        all_ids, all_names, birth_blank, state = w.registry_messy
        prng = np.random.Generator(np.random.PCG64())
        prng.bit_generator.state = state  # the stream continues where the fixed messiness ended
        junk = df["household_id"].is_null().to_numpy()
        cols.append(_Col("household_id", df["household_id"].fill_null("").to_numpy().astype(object)))
        cols.append(_Col("name", all_names[pids]))
        rid = all_ids[pids]
        as_num = np.zeros(n, bool)
        if st.fmt == "xlsx":  # legacy 15-digit numbers typed into Excel end up as numbers
            as_num = (np.asarray([len(x) for x in rid]) == 15) & (prng.random(n) < 0.5)
        cols.append(_Col("id_number", rid, "id", None, as_num))
        cols.append(_Col("sex", w.sex[pids].astype(object)))
        b = pl.Series(w.birth[pids].astype("datetime64[D]").astype(object).tolist(), dtype=pl.Date)
        b = pl.select(pl.when(pl.Series(birth_blank[pids])).then(None).otherwise(b)).to_series()
        cols.append(date_col("birth_date", b, 0.05))
        cols.append(_Col("relation", w.rel[pids].astype(object)))
        cols.append(region_col(w.region[hh]))
        cols.append(_Col("urban_rural", np.where(w.urban[hh], "城市", "农村").astype(object)))
        cols.append(_Col("category", df["category_render"].fill_null("").to_numpy().astype(object)))
        hs = df["household_size"]
        cols.append(
            _Col("household_size", hs.cast(pl.Utf8).fill_null("").to_numpy().astype(object), "int", hs.to_list())
        )
        cols.append(money_col("household_annual_income", df["income"]))
        g = w.grade[pids]
        gz = np.asarray(["", "一级", "二级", "三级", "四级"], dtype=object)[g]
        gd = np.asarray(["", "1", "2", "3", "4"], dtype=object)[g]
        cols.append(_Col("disability_grade", gd if st.grade_digit else gz))
        cols.append(_Col("disability_type", w.dtype[pids].astype(object)))
        enr = pl.Series(w.enrolled[hh].astype(object).tolist(), dtype=pl.Date)
        cols.append(date_col("enrolled_on", enr))
        cols.append(_Col("phone", w.phone[pids].astype(object)))
        if junk.any():
            for c in cols:
                if c.canonical in ("category", "household_size", "household_annual_income"):
                    c.text[junk] = ""
        return cols

    ids, num = _agency_ids(w, pids, st, rng, rates["id"])
    names = _names(w, pids, rng, rates["name"])
    # name-only records: the name alone, no ID, no region, no birth date
    name_only = rng.random(n) < float(rates.get("name_only", 0.0))
    ids[name_only], num[name_only] = "", False
    cols.append(_Col("name", names))
    cols.append(_Col("id_number", ids, "id", None, num))
    if source == "civil_affairs":
        cols.append(region_col(w.region[hh], rates.get("region_county", 0.0)))
        cols[-1].text[name_only] = ""
        cols.append(_Col("event_type", df["event_type"].to_numpy().astype(object)))
        cols.append(money_col("amount", df["amount"]))
        cols.append(date_col("event_date", df["event_date"]))
    elif source == "health_insurance":
        cols.append(_Col("sex", w.sex[pids].astype(object)))
        b = pl.Series(w.birth[pids].astype(object).tolist(), dtype=pl.Date)
        b = pl.select(pl.when(pl.Series(name_only)).then(None).otherwise(b)).to_series()
        cols.append(date_col("birth_date", b))
        cols.append(_Col("insured_region", w.county[hh].astype(object), "region"))
        cols.append(_Col("visit_type", df["visit_type"].to_numpy().astype(object)))
        cols.append(date_col("settled_on", df["settled_on"]))
        cols.append(_Col("provider", df["provider"].to_numpy().astype(object)))
        cols.append(_Col("diagnosis_icd10", df["icd"].to_numpy().astype(object)))
        cols.append(money_col("total_cost", df["total"]))
        cols.append(money_col("basic_paid", df["basic"], 0.01))
        cols.append(money_col("critical_illness_paid", df["critical"], 0.02))
        cols.append(money_col("assistance_paid", df["assistance"], 0.02))
        cols.append(money_col("out_of_pocket", df["oop"]))
    elif source == "human_resources":
        cols.append(_Col("record_type", df["record_type"].to_numpy().astype(object)))
        cols.append(_Col("employer", df["employer"].fill_null("").to_numpy().astype(object)))
        cols.append(money_col("monthly_wage", df["wage"]))
        cols.append(money_col("amount", df["amount"]))
        cols.append(date_col("start_date", df["start_date"]))
        cols.append(date_col("end_date", df["end_date"]))
    elif source == "rural_revitalization":
        cols.insert(0, _Col("rr_household_id", df["rr_hid"].to_numpy().astype(object)))
        cols.append(_Col("relation", df["rr_relation"].to_numpy().astype(object)))
        cols.append(region_col(w.region[hh]))
        cols.append(_Col("monitor_type", df["monitor"].to_numpy().astype(object)))
        cols.append(_Col("risk_type", df["risk"].to_numpy().astype(object)))
        cols.append(money_col("per_capita_net_income", df["pcni"]))
        cols.append(_Col("risk_cleared", np.where(df["cleared"].to_numpy(), "是", "否").astype(object)))
        cols.append(date_col("identified_on", df["identified"]))
    return cols


def _agency_ids(w: _World, pids: np.ndarray, st: _Style, rng, rates: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rendered IDs of an agency delivery: the source's rates, registry persons and outsiders
    alike; outsiders planted without an ID (w.no_id) never carry one."""
    ids, num = _ids(w, pids, st, rng, rates)
    gone = w.no_id[pids]
    ids[gone], num[gone] = "", False
    return ids, num


def _ids_linkable(rendered: np.ndarray, true18: np.ndarray) -> np.ndarray:
    """Which rendered IDs still give ID evidence: after normalisation (spaces, hyphens, case,
    full-width digits) the true ID or one character off it, or its legacy 15-digit form."""
    r = pl.Series(rendered.astype(str).tolist(), dtype=pl.Utf8)
    s = (
        r.str.replace_all(r"[ \-]", "")
        .str.to_uppercase()
        .str.replace_many(list("０１２３４５６７８９Ｘ"), list("0123456789X"))
    )
    t = pl.Series(true18.astype(str).tolist(), dtype=pl.Utf8)
    legacy = (s.str.len_chars() == 15) & s.str.contains(r"^[0-9]{15}$")
    legacy_ok = s == (t.str.slice(0, 6) + t.str.slice(8, 9))
    n = len(s)
    sb = np.zeros((n, 18), dtype=np.uint32)
    tb = np.zeros((n, 18), dtype=np.uint32)
    full18 = (s.str.len_chars() == 18).to_numpy()
    if full18.any():
        sa = np.asarray(s.filter(pl.Series(full18)).to_list(), dtype="U18")
        ta = np.asarray(t.filter(pl.Series(full18)).to_list(), dtype="U18")
        sb[full18] = sa.view(np.uint32).reshape(-1, 18)
        tb[full18] = ta.view(np.uint32).reshape(-1, 18)
    close = full18 & ((sb != tb).sum(axis=1) <= 1)
    return np.where(legacy.to_numpy(), legacy_ok.to_numpy(), close)


# ---------------------------------------------------------------- writing
def _headers(source: str, cols: list[_Col], st: _Style, rng) -> list[str]:
    spec = schema.SOURCES[source]
    zh = [spec.column(c.canonical).chinese if c.canonical in spec.header_map else c.canonical for c in cols]
    en = [c.canonical for c in cols]
    if st.header_mode == "en":
        return en
    if st.header_mode == "mixed":
        pick = set(rng.choice(len(cols), min(2, len(cols)), replace=False).tolist())
        return [en[i] if i in pick else zh[i] for i in range(len(cols))]
    return zh


def _malform(source: str, cols: list[_Col], rng) -> tuple[list[int], list[int]]:
    """Plant unparseable required values on any rows (registry persons' and planted ones
    too): returns (rows with a destroyed value, rows to make ragged), 0-based. The truth
    treats these records as not delivered: nobody can read them."""
    n = len(cols[0].text)
    if n < 3:
        return [], []
    chosen = rng.choice(n, 3, replace=False)
    by = {c.canonical: c for c in cols}
    target = {
        "health_insurance": ("settled_on", "未知"),
        "civil_affairs": ("event_date", "不详"),
        "human_resources": ("record_type", ""),
        "rural_revitalization": ("rr_household_id", ""),
    }[source]
    c = by[target[0]]
    c.text[chosen[0]] = target[1]
    if c.typed is not None:
        c.typed[chosen[0]] = None
    bad = [int(chosen[0])]
    if source == "health_insurance":
        c2 = by["out_of_pocket"]
        c2.text[chosen[1]] = "待结算"
        c2.typed[chosen[1]] = None
        bad.append(int(chosen[1]))
    return bad, [int(chosen[2])]


CSV_CHUNK_ROWS = 200_000


def _write_csv(
    path: Path, headers: list[str], cols: list[_Col], st: _Style, ragged: list[int], first: bool = True
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


def _cell_values(c: _Col, st: _Style, rng) -> list:
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


def _write_parquet(path: Path, headers: list[str], cols: list[_Col]) -> None:
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


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _norm_omit(omit, months: list[dt.date]) -> set[tuple[int, str]]:
    out = set()
    for m, s in omit or ():
        if isinstance(m, int):
            t = m
        else:
            if isinstance(m, dt.date):
                d = m
            else:
                y, mo = str(m).split("-")[:2]
                d = dt.date(int(y), int(mo), 1)
            t = months.index(dt.date(d.year, d.month, 1))
        out.add((t, s))
    return out


def generate(
    out_dir: Path,
    households: int = 2000,
    months: int = 3,
    start_month: str = "2026-07",
    seed: int = 20261129,
    params_path: Path = DEFAULT_PARAMS,
    omit: set | None = None,
    shape: Shape = Shape(),
    csv_only: bool = False,
    hard: bool = False,
    rates: dict | str | Path | None = None,
) -> GenerationSummary:
    """Write K monthly deliveries under out_dir/inbox and the ground truth under out_dir/truth.

    shape: counties / townships / villages / outsiders / volume (default: the demo county set;
    PREFECTURE for a prefecture's deliveries); csv_only: every extract as CSV; hard: the
    `hard` corruption profile of corruption.yaml; rates: overrides of the corruption rates
    (dict or YAML file, corruption.yaml layout)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8"))
    mlist = _month_list(start_month, months)
    K = len(mlist)
    omit_t = _norm_omit(omit, mlist)
    w = build_world(households, mlist, params, seed, shape, load_rates(rates, hard))
    w.seed = seed
    rng = np.random.default_rng([seed, 1])
    styles = _assign_formats(rng, K, omit_t, csv_only)
    inbox, truth_dir = out_dir / "inbox", out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    summary = GenerationSummary(out_dir, inbox, truth_dir, [f"{m:%Y-%m}" for m in mlist])
    created = dt.datetime(2026, 1, 1, 8, 0, 0)
    delivered = {(t, s) for t in range(K) for s in schema.EXTRACT_SOURCES if (t, s) not in omit_t}
    rec_frames = {s: _record_frame(w, s) for s in schema.AGENCY_SOURCES}
    regs, links, recs_delivered = [], [], {s: [] for s in schema.AGENCY_SOURCES}
    unusable: list[tuple[int, str, int]] = []  # (t, source, source_row) with a destroyed value
    manifests: dict[int, dict] = {t: {} for t in range(K)}
    for t, m in enumerate(mlist):
        mdir = inbox / f"{m:%Y-%m}"
        mdir.mkdir(parents=True, exist_ok=True)
        summary.files[f"{m:%Y-%m}"], summary.formats[f"{m:%Y-%m}"], summary.rows[f"{m:%Y-%m}"] = {}, {}, {}
        reg_t = _registry_frame(w, t)
        reg_t["pid"].to_numpy() if (t, "registry") in delivered else np.array([], dtype=np.int64)
        for source in schema.EXTRACT_SOURCES:
            st = styles[(t, source)]
            if source == "registry":
                df = reg_t.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(0, 2**31)))
                if st.fmt.startswith("csv") and w.junk_registry_pids:
                    j = int(w.junk_registry_pids[t % len(w.junk_registry_pids)])
                    junk = pl.DataFrame({"t": [t], "pid": [j]}).cast(pl.Int64)
                    pos = int(rng.integers(0, max(1, df.height)))
                    df = pl.concat([df.head(pos), junk, df.slice(pos)], how="diagonal_relaxed")
            else:
                full = rec_frames[source].filter(pl.col("t") == t)
                df = full.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(0, 2**31)))
            df = df.with_columns(source_row=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
            if (t, source) not in delivered:
                continue
            if source == "registry":
                real = df.filter(pl.col("household_id").is_not_null())
                regs.append(real.rename({"source_row": "registry_row"}))
            else:
                recs_delivered[source].append(df.select(_TRUTH_COLS[source]))
            path = mdir / f"{source}.{st.ext}"
            # CSV is rendered and written in row chunks (bounded memory at prefecture size); a
            # delivery of at most CSV_CHUNK_ROWS rows is one chunk, rendered as a whole. The
            # corruption rates are per record, so chunks do not change them.
            bounds = list(range(0, df.height, CSV_CHUNK_ROWS)) if st.fmt.startswith("csv") else [0]
            order, headers, pos = None, [], 0
            for ci, a in enumerate(bounds or [0]):
                part = df if len(bounds) <= 1 else df.slice(a, CSV_CHUNK_ROWS)
                cols = _render(w, source, part, st, rng)
                pids = part["pid"].to_numpy()
                ragged: list[int] = []
                if ci == 0 and st.malformed and source != "registry":  # planted in the first chunk only
                    bad, ragged = _malform(source, cols, rng)
                    rows = part["source_row"].to_numpy()
                    unusable.extend((t, source, int(rows[i])) for i in bad + ragged)
                if ci == 0 and st.shuffle_cols:
                    order = rng.permutation(len(cols))
                if order is not None:
                    cols = [cols[i] for i in order]
                if ci == 0:
                    headers = _headers(source, cols, st, rng)
                if st.extra_col:
                    note = (
                        np.where(rng.random(len(pids)) < 0.1, "复核中", "").astype(object)
                        if st.extra_col == "备注"
                        else np.full(len(pids), "业务系统导出", dtype=object)
                    )
                    if ci == 0:
                        pos = int(rng.integers(0, len(cols) + 1))
                        headers.insert(pos, st.extra_col)
                    cols.insert(pos, _Col(st.extra_col, note))
                if st.fmt.startswith("csv"):
                    _write_csv(path, headers, cols, st, ragged, first=ci == 0)
                elif st.fmt == "xlsx":
                    _write_xlsx(path, headers, [_cell_values(c, st, rng) for c in cols], created)
                else:
                    _write_parquet(path, headers, cols)
                del cols
            manifests[t][path.name] = {"rows": df.height, "sha256": _sha256(path)}
            summary.files[f"{m:%Y-%m}"][source] = path
            summary.formats[f"{m:%Y-%m}"][source] = st.fmt
            summary.rows[f"{m:%Y-%m}"][source] = df.height
            links.append(df.select(pl.lit(t, pl.Int64).alias("t"), pl.lit(source).alias("source"), "source_row", "pid"))
    reg = pl.concat(regs) if regs else _registry_frame(w, 0).with_columns(registry_row=pl.lit(0, pl.Int64)).head(0)
    recs = {
        s: (
            pl.concat(v)
            if v
            else rec_frames[s].head(0).with_columns(source_row=pl.lit(0, pl.Int64)).select(_TRUTH_COLS[s])
        )
        for s, v in recs_delivered.items()
    }
    del rec_frames, recs_delivered
    # records with a destroyed required value (or a ragged line) cannot be read by anyone
    bad = pl.DataFrame(unusable, schema={"t": pl.Int64, "source": pl.Utf8, "source_row": pl.Int64}, orient="row")
    recs = {
        s: df.join(bad.filter(pl.col("source") == s).drop("source"), on=["t", "source_row"], how="anti")
        for s, df in recs.items()
    }
    flags = compute_truth(w, reg, recs, delivered)
    # dispositions for the previous month's flags, delivered in the last month
    L = K - 1
    disp_rows, planned = [], []
    if K >= 2 and (L, "dispositions") not in omit_t:
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
        notes = {
            "已纳入救助": "已审批纳入低保",
            "核实不符": "入户核实，收入情况与登记不符",
            "已核实待救助": "已入户，待审批",
            "无法联系": "电话无人接听",
        }
        for r, k, d in planned:
            disp_rows.append(
                (
                    flag_id(mlist[L - 1], r, k),
                    d,
                    w.day(L, 1, 25),
                    CASEWORKERS[int(rng.integers(0, len(CASEWORKERS)))],
                    notes[d],
                )
            )
        mdir = inbox / f"{mlist[L]:%Y-%m}"
        path = mdir / "dispositions.xlsx"
        cols = list(zip(*disp_rows)) if disp_rows else [[], [], [], [], []]
        _write_xlsx(path, ["标记编号", "处置结果", "处置日期", "经办人", "备注"], [list(c) for c in cols], created)
        manifests[L][path.name] = {"rows": len(disp_rows), "sha256": _sha256(path)}
        summary.files[f"{mlist[L]:%Y-%m}"]["dispositions"] = path
        summary.formats[f"{mlist[L]:%Y-%m}"]["dispositions"] = "xlsx"
        summary.rows[f"{mlist[L]:%Y-%m}"]["dispositions"] = len(disp_rows)
    for t, m in enumerate(mlist):
        man = {"files": dict(sorted(manifests[t].items()))}
        (inbox / f"{m:%Y-%m}" / "_MANIFEST.json").write_text(
            json.dumps(man, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    # ground truth files
    month_of = {t: f"{m:%Y-%m-01}" for t, m in enumerate(mlist)}
    closing = [(r, k, d) for r, k, d in (planned if disp_rows else []) if d in ("已纳入救助", "核实不符")]
    flags_out = (
        _flag_states(flags, reg, delivered, K, closing)
        .with_columns(month=pl.col("t").replace_strict(month_of, return_dtype=pl.Utf8))
        .sort("t", "rule_code", "household_key")
        .select("month", "household_key", "rule_code", "fired", "suppressed", "state")
    )
    flags_out.write_csv(truth_dir / "flags.csv")
    rr = reg.select("t", "pid", "registry_row")
    lk = (
        pl.concat(links)
        .join(rr, on=["t", "pid"], how="left")
        .with_columns(
            pl.when(pl.col("source") == "registry")
            .then(pl.when(pl.col("registry_row").is_not_null()).then(pl.col("source_row")))
            .otherwise(pl.col("registry_row"))
            .alias("registry_row"),
            month=pl.col("t").replace_strict(month_of, return_dtype=pl.Utf8),
            person_id=pl.format("P{}", pl.col("pid").cast(pl.Utf8).str.zfill(7)),
        )
        .sort("t", "source", "source_row")
        .select("month", "source", "source_row", "registry_row", "person_id")
    )
    lk.write_csv(truth_dir / "links.csv")
    persons = pl.DataFrame(
        {
            "person_id": [f"P{i:07d}" for i in range(w.P)],
            "household": np.where(
                w.is_reg[w.p_hh], w.hh_id[w.p_hh], np.char.add("OUT", np.char.zfill(w.p_hh.astype(str), 6))
            ),
            "name": w.name,
            "sex": w.sex,
            "birth_date": w.birth.astype("datetime64[D]").astype(str),
            "id_number": w.id18,
            "relation": w.rel,
            "region_code": w.region[w.p_hh],
            "registry_household": w.is_reg[w.p_hh].astype(np.int8),
        }
    )
    persons.write_csv(truth_dir / "persons.csv")
    if disp_rows:
        pl.DataFrame({"flag_id": [d[0] for d in disp_rows], "disposition": [d[1] for d in disp_rows]}).write_csv(
            truth_dir / "dispositions.csv"
        )
    counts = flags_out.filter(pl.col("fired") == 1).group_by("rule_code").len()
    summary.flags_per_rule = dict.fromkeys(RULES, 0) | dict(zip(counts["rule_code"].to_list(), counts["len"].to_list()))
    pm = flags_out.filter(pl.col("fired") == 1).group_by("month", "rule_code").len()
    for mo, r, c in pm.iter_rows():
        summary.flags_per_month_rule.setdefault(mo, {})[r] = c
    # Synthetic region names (代码,名称) at the inbox root (a standing table), read by the exports.
    stems = ["东岗", "西湖", "南山", "北坪", "青石", "白水", "红柳", "金川", "柳泉", "石门", "安宁", "和平"]
    urban = {c[:9] for c in w.region[w.urban]}
    codes = sorted(set(w.county) | set(w.township) | set(w.region))
    names = [
        stems[(int(c[-3:]) * 5 + len(c)) % 12]
        + {6: "区", 9: "街道" if c in urban else "镇"}.get(len(c), "社区" if c[:9] in urban else "村")
        for c in codes
    ]
    pl.DataFrame({"代码": codes, "名称": names}).write_csv(inbox / "regions.csv")
    summary.seconds = time.perf_counter() - t0
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate synthetic monthly deliveries + ground truth.")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--start", default="2026-07")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    ap.add_argument("--omit", action="append", default=[], help="YYYY-MM:source to leave out (repeatable)")
    ap.add_argument(
        "--prefecture",
        action="store_true",
        help=f"prefecture shape {PREFECTURE} (the options below override its fields)",
    )
    ap.add_argument("--counties", type=int, help="number of counties (default 4; 12 with --prefecture)")
    ap.add_argument("--townships", type=int, help="townships per county (default 5)")
    ap.add_argument("--villages", type=int, help="villages per township (default 6)")
    ap.add_argument("--outsiders", type=float, help="outsider households per registry household (default 0.6)")
    ap.add_argument(
        "--volume", type=float, help="agency volume multiplier, >= 1 (default 1; 5 ≈ 5 agency rows per registry person)"
    )
    ap.add_argument("--csv-only", action="store_true", help="write every extract as CSV (GB18030 / UTF-8 / UTF-8-BOM)")
    ap.add_argument(
        "--hard",
        action="store_true",
        help="the hard corruption profile (corruption.yaml `hard`): ~8%% blank IDs in civil_affairs and "
        "human_resources, name-only records, more Excel-mangled and numeric IDs, namesakes in "
        "village, township and county",
    )
    ap.add_argument("--rates", type=Path, help="YAML of corruption-rate overrides (corruption.yaml layout)")
    a = ap.parse_args(argv)
    omit = {tuple(x.split(":", 1)) for x in a.omit}
    shape = PREFECTURE if a.prefecture else Shape()
    over = {
        k: getattr(a, k)
        for k in ("counties", "townships", "villages", "outsiders", "volume")
        if getattr(a, k) is not None
    }
    shape = dataclasses.replace(shape, **over)
    s = generate(
        a.out,
        a.households,
        a.months,
        a.start,
        a.seed,
        a.params,
        omit=omit,
        shape=shape,
        csv_only=a.csv_only,
        hard=a.hard,
        rates=a.rates,
    )
    print(f"generated {len(s.months)} months into {s.inbox_dir} in {s.seconds:.1f}s")
    for mo in s.months:
        print(mo, {k: f"{v} ({s.formats[mo][k]})" for k, v in s.rows[mo].items()})
    print("truth flags per rule:", s.flags_per_rule)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
