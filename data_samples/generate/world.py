"""The world model: regions, households, persons (names, ID numbers, disabilities),
registry membership per month and namesakes. Everything is synthetic: names are drawn
from character pools, ID numbers are built from random birth dates and sequence numbers
(valid GB 11643 check digits); no real person is represented.

The clean agency records of the world are added by `records` (background) and
`planting` (the planted rule cases).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from data_samples.generate.contract import AGENCY_SOURCES, CATEGORIES, DISABILITY_TYPES

COUNTIES = ("620102", "620103", "620104", "620105")  # the demo's four counties
RETIRED_COUNTY = "620101"  # only inside ID numbers of people born before 1985
CATS = CATEGORIES  # 低保 特困 低保边缘 支出型困难 防返贫监测 其他
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


def make_ids(region6: np.ndarray, birth: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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


# ---------------------------------------------------------------- months
def month_list(start: str, k: int) -> list[dt.date]:
    y, m = (int(x) for x in start.split("-")[:2])
    out = []
    for i in range(k):
        yy, mm = divmod(m - 1 + i, 12)
        out.append(dt.date(y + yy, mm + 1, 1))
    return out


def month_end(d: dt.date) -> dt.date:
    nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def years_before(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 Feb
        return d.replace(year=d.year - years, day=28)


# ---------------------------------------------------------------- world model
class World:
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
        self.recs: dict[str, list[dict]] = {s: [] for s in AGENCY_SOURCES}
        self.rr_households: list[dict] = []  # dicts of arrays, concatenated later
        self.dispositions: list[dict] = []  # planned: (rule, hh, disposition)
        self.junk_registry_pids: list[int] = []
        self.registry_messy = None  # per-person registry messiness, fixed across months (see render)

    # ---------------- households
    def _build_households(self, n_reg: int) -> None:
        rng = self.rng
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
        self._registry_attributes(county_i)
        self._enrolments()
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

    def _registry_attributes(self, county_i: np.ndarray) -> None:
        """Category per month, income ratio to the standard, the standard itself."""
        rng, K, H, shape, size = self.rng, self.K, self.H, self.shape, self.size
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

    def _enrolments(self) -> None:
        """First registry month (new enrolments in later months) and enrolment dates."""
        rng, K, H = self.rng, self.K, self.H
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
        rel = self._relations(P, p_hh, slot)
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
        self._draw_names()
        self._traits()

    def _relations(self, P: int, p_hh: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Relation to the household head of every person."""
        rng, size = self.rng, self.size
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
        return rel

    def _draw_names(self) -> None:
        """Han names (surname inherited by children of a male head) and Uyghur names
        (own name · father's name) in minority households."""
        rng, P, p_hh, rel, male, starts = self.rng, self.P, self.p_hh, self.rel, self.male, self._starts
        head_male = male[starts][p_hh]
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

    def _traits(self) -> None:
        """Disability (registry persons mostly), phone, and the planted-later states."""
        rng, P, p_hh = self.rng, self.P, self.p_hh
        reg = self.is_reg[p_hh]
        dis = rng.random(P) < np.where(reg, 0.07, 0.02)
        self.grade = np.where(dis, rng.choice([1, 2, 3, 4], P, p=[0.12, 0.25, 0.33, 0.3]), 0)
        types = np.asarray(DISABILITY_TYPES)
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


def same_names(w: World) -> None:
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


def region_names(w: World) -> pl.DataFrame:
    """Synthetic names (代码, 名称) of every county, township and village code of the world: the
    standing table at the inbox root, read by the exports."""
    stems = ["东岗", "西湖", "南山", "北坪", "青石", "白水", "红柳", "金川", "柳泉", "石门", "安宁", "和平"]
    urban = {c[:9] for c in w.region[w.urban]}
    codes = sorted(set(w.county) | set(w.township) | set(w.region))
    names = [
        stems[(int(c[-3:]) * 5 + len(c)) % 12]
        + {6: "区", 9: "街道" if c in urban else "镇"}.get(len(c), "社区" if c[:9] in urban else "村")
        for c in codes
    ]
    return pl.DataFrame({"代码": codes, "名称": names})
