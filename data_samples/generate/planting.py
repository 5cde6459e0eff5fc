"""Planting: the households the rules must flag (and the near misses they must not), one
function per rule, registered by rule code.

A planting picks households (`World.take`), sets their registry category and income and
adds the agency records that make the rule fire (or, for a near miss, almost fire) in
chosen months. The plantings draw from the world's seeded stream: they run in a fixed
order (registry-changing ones first, see `plant_membership`; then `plant_rules` in code
order), so the same seed gives the same world.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from data_samples.generate.records import ca_event, hi_claim, hr_record, rr_household
from data_samples.generate.world import (
    C_DIBAO,
    C_EDGE,
    C_EXPENSE,
    C_MONITOR,
    C_OTHER,
    C_TEKUN,
    DISABILITY_TYPES,
    World,
    month_end,
    years_before,
)

MAJOR_ICD = ["C34.9", "C16.9", "N18.5", "I21.0", "I63.9", "G12.2", "D61.9", "C50.9"]
NEAR_ICD = ["N18.4", "I20.0", "I25.1", "G12.9"]  # look serious, not in the configured prefixes


@dataclass
class Plot:
    """What the plantings of one world share: the counts, the months and the ages at the
    first month (fixed before any planting moves a birth date)."""

    w: World
    n: int  # planted cases per rule
    nm: int  # near misses per rule
    age0: np.ndarray = field(init=False)
    outsiders: np.ndarray = field(init=False)  # rural outsider households in drawn order (R08, R11)
    k8: int = 0  # how many of them R08 took

    def __post_init__(self) -> None:
        self.age0 = self.w.age_at(np.arange(self.w.P), self.w.months[0])

    @property
    def K(self) -> int:
        return self.w.K

    @property
    def L(self) -> int:  # the last month
        return self.w.K - 1

    @property
    def tb(self) -> int:  # the second month (the first when there is one)
        return min(1, self.w.K - 1)

    @property
    def allt(self) -> range:
        return range(self.w.K)

    @property
    def n_disp(self) -> int:  # planted cases closed by a disposition
        return max(1, self.n // 4)

    def clear_grades(self, h: int) -> None:
        self.w.grade[self.w.mem(h)] = 0

    def setcat(self, h: int, c: int, ts=None) -> None:
        for t in self.allt if ts is None else ts:
            self.w.cat[t, h] = c

    def any_cat(self, h: int, choices: list[int]) -> int:
        c = int(self.w.rng.choice(choices))
        return C_EDGE if (c == C_MONITOR and self.w.urban[h]) else c


Planter = Callable[[Plot], None]
MEMBERSHIP: dict[str, Planter] = {}  # plantings that change registry membership (before it is final)
PLANTERS: dict[str, Planter] = {}  # the others, run in code order once membership is final


def plants(code: str, membership: bool = False) -> Callable[[Planter], Planter]:
    """Register the planting of one rule."""

    def register(fn: Planter) -> Planter:
        (MEMBERSHIP if membership else PLANTERS)[code] = fn
        return fn

    return register


def plant_membership(w: World, n: int, nm: int) -> None:
    """Deaths (R06, then the background's) and late enrolments (R08), before membership is final."""
    plot = Plot(w, n, nm)
    MEMBERSHIP["R06"](plot)
    _background_deaths(plot)
    MEMBERSHIP["R08"](plot)


def plant_rules(w: World, n: int, nm: int) -> None:
    plot = Plot(w, n, nm)
    for code in sorted(PLANTERS):
        PLANTERS[code](plot)


def _pick_member(w: World, h: int, ages: np.ndarray, lo: int, hi: int, rel=None) -> int | None:
    m = w.mem(h)
    ok = (ages[m] >= lo) & (ages[m] <= hi)
    if rel is not None:
        ok &= np.isin(w.rel[m], rel)
    return int(m[ok][0]) if ok.any() else None


def _has_member(w: World, ages: np.ndarray, lo: int, hi: int, rel=None) -> np.ndarray:
    ok = (ages >= lo) & (ages <= hi) & (w.death_t == 99)
    if rel is not None:
        ok &= np.isin(w.rel, rel)
    return np.bincount(w.p_hh[ok], minlength=w.H) > 0


def _registry_by_township(w: World) -> dict[str, np.ndarray]:
    reg_p = np.flatnonzero(w.is_reg[w.p_hh] & (w.death_t == 99))
    town = w.township[w.p_hh[reg_p]]
    order = np.argsort(town, kind="stable")
    town_s, reg_s = town[order], reg_p[order]
    u, idx = np.unique(town_s, return_index=True)
    return dict(zip(u.tolist(), np.split(reg_s, idx[1:])))


# ---------------------------------------------------------------- before membership
@plants("R06", membership=True)
def _deaths_in_registry(p: Plot) -> None:
    """R06: deaths still in the registry (and near misses removed in the month of death)."""
    w, n, nm, K, tb, age0 = p.w, p.n, p.nm, p.K, p.tb, p.age0
    hs = w.take(n, w.size >= 2, need_income=False)
    for i, h in enumerate(hs):
        m = w.mem(h)
        if i % 2 == 0:
            q = m[0]  # the head of a 低保 household: payments continue after death
            w.cat[:, h] = C_DIBAO
            w.pc_ratio[h] = 0.7
            w.death_t[q], w.removed_t[q] = 0, min(2, K)
        else:
            q = m[np.argmax(age0[m])]
            w.death_t[q], w.removed_t[q] = tb, 99 if i % 4 == 1 else tb + 1
        w.death_date[q] = np.datetime64(w.day(w.death_t[q], 1, 20), "D")
    for h in w.take(max(1, n // 4), (w.size == 1) & (w.head_age >= 60), need_income=False):
        q = w.mem(h)[0]
        w.cat[:, h] = C_TEKUN
        w.pc_ratio[h] = 0.3
        w.death_t[q], w.removed_t[q] = 0, 1
        w.death_date[q] = np.datetime64(w.day(0, 1, 20), "D")
    for h in w.take(nm, w.size >= 2, need_income=False):  # near miss: removed in the month of death
        q = w.mem(h)[np.argmax(age0[w.mem(h)])]
        t = int(w.rng.integers(0, K))
        w.death_t[q], w.removed_t[q] = t, t
        w.death_date[q] = np.datetime64(w.day(t, 1, 10), "D")


def _background_deaths(p: Plot) -> None:
    """Unplanted deaths of elderly persons, registry and outsiders, most removed within two months."""
    w, age0 = p.w, p.age0
    for t in range(w.K):
        dead = (age0 >= 70) & (w.death_t == 99) & ~w.no_bg[w.p_hh] & (w.rng.random(w.P) < 0.002)
        w.death_t[dead] = t
        w.death_date[dead] = w.days(t, int(dead.sum()), 1, 25).astype("datetime64[D]")
        w.removed_t[dead] = t + w.rng.choice([0, 1, 1, 2], int(dead.sum()))


@plants("R08", membership=True)
def _monitored_enrolled_late(p: Plot) -> None:
    """R08: a monitored household enrolled into the registry in the last month."""
    w, K, L = p.w, p.K, p.L
    if K >= 2:
        for h in w.take(max(1, p.n // 4), ~w.urban, need_income=False):
            w.first[h] = L
            w.enrolled[h] = np.datetime64(w.day(L), "D")
            w.cat[:, h] = C_MONITOR
            w.pc_ratio[h] = 2.0
            rr_household(w, h, [False] * K, "因病")


# ---------------------------------------------------------------- once membership is final
@plants("R01")
def _medical_burden(p: Plot) -> None:
    """R01: a claim's out-of-pocket above the annual income (every month; until the income is
    re-assessed upward; near miss: exactly equal)."""
    w, n, K, L, tb, allt = p.w, p.n, p.K, p.L, p.tb, p.allt
    rng = w.rng
    hs = w.take(n + p.nm, w.size <= 4)
    for i, h in enumerate(hs):
        c = p.any_cat(h, [C_EXPENSE, C_OTHER, C_MONITOR])
        p.setcat(h, c)
        w.set_pc(h, 1.7, allt)
        p.clear_grades(h)
        q = int(w.mem(h)[rng.integers(0, w.size[h])])
        inc = int(w.income[0, h])
        icd = ["C34.9", "I63.9", "S72.0", "K80.2", "N18.5", "J18.9"][i % 6]
        if i < n // 2:  # fires every month
            hi_claim(w, 0, q, "住院", icd, round(inc * 1.2))
        elif i < n:  # fires, then income re-assessed upward in the last month
            oop = round(inc * 1.1)
            hi_claim(w, 0, q, "住院", icd, oop)
            if K >= 2:
                w.income[L, h] = float(round(oop * 1.3 / 12 / w.size_deliv[L, h]) * 12 * w.size_deliv[L, h])
        else:  # near miss: out-of-pocket sum exactly equals the annual income
            if K >= 2:
                a = round(inc * 0.6)
                hi_claim(w, 0, q, "住院", icd, a)
                hi_claim(w, tb, q, "门诊慢特病", "I10", inc - a)
            else:
                hi_claim(w, 0, q, "住院", icd, inc)


@plants("R02")
def _low_income_not_dibao(p: Plot) -> None:
    """R02: per-capita income below the standard, not 低保/特困."""
    w, n, nm, K, L, allt = p.w, p.n, p.nm, p.K, p.L, p.allt
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        c = p.any_cat(h, [C_EDGE, C_EXPENSE, C_OTHER, C_MONITOR])
        p.setcat(h, c)
        if i < n // 2:
            w.set_pc(h, w.rng.uniform(0.5, 0.95), allt)
        elif i < n - p.n_disp or K < 2:
            w.set_pc(h, 0.8, allt)
            if K >= 2:
                w.set_pc(h, 1.8, [L])
        elif i < n:  # 已纳入救助 disposition: 低保 from the last month
            p.setcat(h, C_EDGE)
            w.set_pc(h, 0.8, allt)
            w.cat[L, h] = C_DIBAO
            w.dispositions.append(("R02", h, "已纳入救助"))
        elif i < n + nm // 2:  # near miss: pc exactly S → R03, not R02
            p.setcat(h, C_EXPENSE)
            w.set_pc(h, 1.0, allt)
        else:  # planted size mismatch: delivered size one more than listed members
            p.setcat(h, C_OTHER)
            w.size_deliv[:, h] += 1
            w.set_pc(h, 0.9, allt)


@plants("R03")
def _edge_not_recognised(p: Plot) -> None:
    """R03: per-capita income from the standard to edge × standard, not recognised."""
    w, n, nm, K, L, allt = p.w, p.n, p.nm, p.K, p.L, p.allt
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        c = p.any_cat(h, [C_EXPENSE, C_OTHER, C_MONITOR])
        p.setcat(h, c)
        if i < n // 2:
            w.set_pc(h, w.rng.uniform(1.0, 1.45), allt)
        elif i < n - p.n_disp or K < 2:
            p.setcat(h, C_OTHER)
            w.set_pc(h, 1.2, allt)
            if K >= 2:
                w.cat[L, h] = C_EDGE  # recognised as 低保边缘 in the last month
        elif i < n:  # 核实不符: figures unchanged, suppressed in the last month
            w.set_pc(h, 1.3, allt)
            w.dispositions.append(("R03", h, "核实不符"))
        elif i < n + nm // 2:  # pc exactly 1.5 S: neither R02 nor R03
            p.setcat(h, C_OTHER)
            w.set_pc(h, 1.5, allt)
        else:  # already 低保边缘
            p.setcat(h, C_EDGE)
            w.set_pc(h, 1.2, allt)
            p.clear_grades(h)


@plants("R04")
def _single_person_dibao(p: Plot) -> None:
    """R04: a 低保边缘 household with a severely disabled or seriously ill member."""
    w, n, nm, K, L, allt = p.w, p.n, p.nm, p.K, p.L, p.allt
    rng = w.rng
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        p.setcat(h, C_EDGE)
        w.set_pc(h, 1.25, allt)
        p.clear_grades(h)
        m = w.mem(h)
        q = int(m[rng.integers(0, len(m))])
        if i < n // 3:
            w.grade[q], w.dtype[q] = int(rng.choice([1, 2])), str(rng.choice(DISABILITY_TYPES))
        elif i < 2 * n // 3:
            w.grade[q], w.dtype[q] = 3, str(rng.choice(["智力", "精神"]))
        elif i < n:
            visit = str(rng.choice(["住院", "门诊慢特病"]))
            hi_claim(w, 0, q, visit, MAJOR_ICD[i % len(MAJOR_ICD)], int(rng.integers(800, 3000)))
            if K >= 2 and i % 2 == 0:
                w.cat[L, h] = C_DIBAO  # 单人保 granted in the last month
                w.set_pc(h, 0.9, [L])
        else:
            j = i - n
            if j % 3 == 0:
                w.grade[q], w.dtype[q] = 3, "肢体"
            elif j % 3 == 1:
                w.grade[q], w.dtype[q] = 1, "视力"
                p.setcat(h, C_DIBAO)
                w.set_pc(h, 0.7, allt)
            else:
                hi_claim(w, 0, q, "门诊慢特病", NEAR_ICD[j % len(NEAR_ICD)], int(rng.integers(500, 2000)))


@plants("R05")
def _unemployment_or_lapse(p: Plot) -> None:
    """R05: unemployment registered or contributions stopped, working age 16..59 on the last
    day of M; then the age boundaries."""
    w, n, nm, L, tb, allt, age0 = p.w, p.n, p.nm, p.L, p.tb, p.allt, p.age0
    rng = w.rng
    end_tb = month_end(w.months[tb])
    hs = w.take(n + nm, _has_member(w, age0, 25, 50))
    for i, h in enumerate(hs):
        p.setcat(h, int(rng.choice([C_OTHER, C_EXPENSE])))
        w.set_pc(h, 2.0, allt)
        q = _pick_member(w, h, age0, 25, 50)
        wage = float(rng.integers(25, 50) * 100)
        if i < n // 3:  # contributions stop after month tb-1 (fires tb, cleared tb+1)
            for t in range(tb):
                hr_record(w, t, q, "社保缴费", wage=wage)
        elif i < n // 2:  # contributions stop in the last month
            for t in range(L):
                hr_record(w, t, q, "社保缴费", wage=wage)
        elif i < n:  # unemployment registered
            for t in [tb, L] if i % 2 else [tb]:
                hr_record(w, t, q, "失业登记")
        elif i < n + nm // 2:  # stopped contributing but registered employment
            for t in range(tb):
                hr_record(w, t, q, "社保缴费", wage=wage)
            hr_record(w, tb, q, "就业登记")
        else:  # 失业登记 by someone aged 60 on the last day of M
            q = int(w.mem(h)[0])
            w.birth[q] = np.datetime64(years_before(end_tb, 60), "D")
            hr_record(w, tb, q, "失业登记")
    _working_age_boundaries(p, end_tb)


def _working_age_boundaries(p: Plot, end_tb: dt.date) -> None:
    """16 and 59 on the last day of the month fire, 15 and 60 do not."""
    day_after = end_tb + dt.timedelta(days=1)
    _unemployed_aged(p, (13, 18), ["子女", "孙子女"], 16, (end_tb, day_after))  # 16, 15
    _unemployed_aged(p, (57, 62), ["户主", "配偶"], 60, (day_after, end_tb))  # 59, 60


def _unemployed_aged(p: Plot, ages: tuple[int, int], rels: list[str], years: int, born: tuple) -> None:
    """失业登记 by a member made `years` old on born[0] (even cases) or born[1] (odd) minus `years`."""
    w, age0 = p.w, p.age0
    hs = w.take(max(2, p.n // 3), _has_member(w, age0, *ages, rels))
    for i, h in enumerate(hs):
        p.setcat(h, C_OTHER)
        w.set_pc(h, 2.0, p.allt)
        q = _pick_member(w, h, age0, *ages, rels)
        w.birth[q] = np.datetime64(years_before(born[i % 2], years), "D")
        hr_record(w, p.tb, q, "失业登记")


@plants("R07")
def _stopped_still_poor(p: Plot) -> None:
    """R07: 低保 stopped / 特困 ended while per-capita income stays below edge × standard."""
    w, n, K, tb = p.w, p.n, p.K, p.tb
    hs = w.take(n + p.nm, w.size <= 4)
    for i, h in enumerate(hs):
        head = int(w.mem(h)[0])
        if i < n // 2 or w.size[h] > 1:
            p.setcat(h, C_DIBAO, range(tb))
            w.set_pc(h, 0.8, range(tb))
            if i < n:
                p.setcat(h, C_EDGE, range(tb, K))
                w.set_pc(h, 1.2, range(tb, K))
            else:  # near miss: pc exactly 1.5 S after the stop
                p.setcat(h, C_OTHER, range(tb, K))
                w.set_pc(h, 1.5, range(tb, K))
            ca_event(w, tb, head, "低保停发", None)
        else:
            p.setcat(h, C_TEKUN, range(tb))
            w.set_pc(h, 0.3, range(tb))
            p.setcat(h, C_OTHER, range(tb, K))
            w.set_pc(h, 1.3, range(tb, K))
            ca_event(w, tb, head, "特困终止", None)
        p.clear_grades(h)


@plants("R08")
def _monitored_not_in_registry(p: Plot) -> None:
    """R08: monitored households outside the registry (some heads namesakes of a registry
    person of the township), cleared ones, and a registry household listed with an outsider."""
    w, n, nm, K = p.w, p.n, p.nm, p.K
    rng = w.rng
    out_rural = ~w.is_reg & ~w.urban & ~w.planted
    cand = rng.permutation(np.flatnonzero(out_rural))
    p.outsiders, p.k8 = cand, n + nm * 2
    k8 = p.k8
    chosen = cand[:k8]
    w.planted[chosen] = True
    reg_by_town = _registry_by_township(w)
    for i, h in enumerate(chosen):
        if i < n * 3 // 4:
            rr_household(w, h, [False] * K, str(rng.choice(["因病", "因残", "因学", "因务工就业不稳"])))
            if i % 2 == 0:  # head shares a name with a registry person of the township
                src = reg_by_town.get(w.township[h])
                if src is not None and len(src):
                    q = int(rng.choice(src))
                    head = int(w.mem(h)[0])
                    w.name[head], w.male[head] = w.name[q], w.male[q]
        elif i < n:
            rr_household(w, h, [False] * (K - 1) + [K < 2], "因病")
        else:
            rr_household(w, h, [True] * K, "因学")
    for h in w.take(nm, ~w.urban):  # a registry household listed with one extra outsider member
        extra = int(w.mem(int(cand[k8]))[0]) if len(cand) > k8 else None
        rr_household(w, h, [False] * K, "因病", extra=[extra] if extra is not None else [])
        p.setcat(h, C_MONITOR)
        w.set_pc(h, 2.0, p.allt)


@plants("R09")
def _income_above_standard(p: Plot) -> None:
    """R09: a 低保 household whose contribution wages exceed the standard per person."""
    w, n, nm, K, L, allt, age0 = p.w, p.n, p.nm, p.K, p.L, p.allt, p.age0
    hs = w.take(n + nm, _has_member(w, age0, 25, 50) & (w.size >= 2) & (w.size <= 5))
    for i, h in enumerate(hs):
        q = _pick_member(w, h, age0, 25, 50)
        p.setcat(h, C_DIBAO)
        w.set_pc(h, 0.8, allt)
        p.clear_grades(h)
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
            hr_record(w, t, q, "社保缴费", wage=wage)
        if n // 2 <= i < n and K >= 2:  # 渐退 ended in the last month
            w.cat[L, h] = C_OTHER
            w.set_pc(h, 1.8, [L])


@plants("R10")
def _repeated_temp_assistance(p: Plot) -> None:
    """R10: temporary assistance `count` times within the window, not 低保/特困."""
    w, n, nm, K, L, tb, allt = p.w, p.n, p.nm, p.K, p.L, p.tb, p.allt
    rng = w.rng
    rep = w.params.get("temp_assistance_repeat", {}) or {}
    cnt = int(rep.get("count", 2))
    hs = w.take(n + nm)
    for i, h in enumerate(hs):
        c = p.any_cat(h, [C_EDGE, C_EXPENSE, C_OTHER])
        p.setcat(h, c)
        w.set_pc(h, {C_EDGE: 1.2, C_EXPENSE: 1.8, C_OTHER: 2.0}[c], allt)
        p.clear_grades(h)
        m = w.mem(h)
        if i < n // 2 and K >= 2:
            for j in range(cnt):
                ca_event(w, 0 if j < cnt - 1 else tb, int(m[j % len(m)]), "临时救助", int(rng.integers(5, 30)) * 100)
            if i % 2 == 0 and L > tb:
                w.cat[L, h] = C_DIBAO
                w.set_pc(h, 0.8, [L])
        elif i < n:
            for j in range(cnt):
                ca_event(w, 0, int(m[j % len(m)]), "临时救助", int(rng.integers(5, 30)) * 100)
        elif i < n + nm // 2:
            for j in range(cnt - 1):
                ca_event(w, 0, int(m[j % len(m)]), "临时救助", 1000)
        else:
            p.setcat(h, C_DIBAO)
            w.set_pc(h, 0.8, allt)
            for j in range(cnt):
                ca_event(w, 0, int(m[j % len(m)]), "临时救助", 800)


@plants("R11")
def _disaster_or_accident(p: Plot) -> None:
    """R11: disaster relief in M, or a monitored household at risk 因灾 / 因意外事故; then relief
    to outsiders, half of them namesakes delivered without an ID."""
    w, n, K, tb, allt = p.w, p.n, p.K, p.tb, p.allt
    rng = w.rng
    hs = w.take(n + p.nm, ~w.urban)
    for i, h in enumerate(hs):
        head = int(w.mem(h)[0])
        if i < n // 2:
            ca_event(w, tb, head, "受灾救助", int(rng.integers(10, 50)) * 100)
        elif i < n:
            p.setcat(h, C_MONITOR)
            w.set_pc(h, 2.0, allt)
            rr_household(w, h, [False] * (K - 1) + [K >= 2], str(rng.choice(["因灾", "因意外事故"])))
        else:
            p.setcat(h, C_MONITOR)
            w.set_pc(h, 2.0, allt)
            if i % 2:
                rr_household(w, h, [False] * K, "因病")
            else:
                rr_household(w, h, [True] * K, "因灾")
    _relief_to_outsiders(p)


def _relief_to_outsiders(p: Plot) -> None:
    """Disaster relief to outsiders (after those R08 took). Half are namesakes of a registry
    person of the same village (else township), delivered without an ID: name + region
    alone must not link them (no R11 for the namesake)."""
    w, k8 = p.w, p.k8
    rng = w.rng
    reg_by_town = _registry_by_township(w)
    for j, h in enumerate(p.outsiders[k8 + 1 : k8 + 1 + p.nm]):
        w.planted[h] = True
        q = int(w.mem(int(h))[0])
        src = reg_by_town.get(w.township[h])
        if j % 2 == 0 and src is not None and len(src):
            near = src[w.region[w.p_hh[src]] == w.region[h]]
            s = int(rng.choice(near if len(near) else src))
            w.name[q], w.male[q] = w.name[s], w.male[s]
            w.no_id[q] = True
        ca_event(w, p.tb, q, "受灾救助", 2000)
