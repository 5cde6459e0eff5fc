"""The clean agency records of the world: what each agency holds about the world's persons
in a month before anything is rendered (background payments, claims, contributions,
monitored households), the helpers that add one record (used by the planting too), and
the clean frames the deliveries are rendered from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from data_samples.generate.contract import MONITOR_TYPES, RISK_TYPES
from data_samples.generate.world import C_DIBAO, C_EDGE, C_EXPENSE, C_MONITOR, C_TEKUN, CATS, World, month_end

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


def hi_claim(w: World, t: int, pid: int, visit: str, icd: str, oop: int) -> None:
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


def ca_event(w: World, t: int, pid: int, event: str, amount) -> None:
    w.add(
        "civil_affairs",
        t,
        [pid],
        event_type=event,
        amount=None if amount is None else float(amount),
        event_date=w.day(t),
    )


def hr_record(w: World, t: int, pid: int, rtype: str, wage=None, amount=None) -> None:
    start = w.months[t] if rtype in ("社保缴费", "养老金发放", "公益性岗位") else w.day(t)
    end = month_end(w.months[t]) if rtype in ("社保缴费", "养老金发放") else None
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


def rr_household(w: World, h: int, cleared, risk: str, extra=(), present=None) -> None:
    K = w.K
    w.rr_households.append(
        dict(
            hh=h,
            extra=list(extra),
            cleared=list(cleared),
            present=list(present if present is not None else [True] * K),
            risk=risk,
            monitor=str(w.rng.choice(MONITOR_TYPES)),
            pcni=float(round(w.rng.uniform(4500, 12000))),
            identified=w.months[0] - dt.timedelta(days=int(w.rng.integers(60, 1500))),
        )
    )


# ---------------------------------------------------------------- background records
@dataclass
class _Traits:
    """Persistent person traits of the background records (drawn once for all months)."""

    age0: np.ndarray
    working: np.ndarray
    risky_ok: np.ndarray  # person of a household neither planted nor excluded from risky records
    ss: np.ndarray
    ss_stop: np.ndarray
    ss_wage: np.ndarray
    public_job: np.ndarray
    pension: np.ndarray
    pension_amt: np.ndarray
    extra_ss: np.ndarray
    employer: np.ndarray  # index into EMPLOYERS: the unit a person contributes through / works for
    public_wage: np.ndarray  # a public-welfare post's fixed monthly subsidy


def _traits(w: World) -> _Traits:
    rng, K, P = w.rng, w.K, w.P
    hh = w.p_hh
    reg_p = w.is_reg[hh]
    risky_ok = ~w.no_bg[hh] & ~w.planted[hh]
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
    # An agency's monthly lines of one person keep their unit and amount: contributions are
    # paid through the same employer month after month, and a public-welfare post pays a
    # fixed subsidy through its unit (drawn once, as the pension amount and contribution base are).
    employer = rng.integers(0, len(EMPLOYERS), P)
    public_wage = (rng.integers(8, 16, P) * 100).astype(float)
    return _Traits(
        age0, working, risky_ok, ss, ss_stop, ss_wage, public_job, pension, pension_amt, extra_ss, employer, public_wage
    )


def background(w: World) -> None:
    """Every month's unplanted records of every agency, then the background monitored households."""
    tr = _traits(w)
    is_head = w.rel == "户主"
    for t in range(w.K):
        alive_in = w.death_t >= t  # still alive for part of the month
        in_reg = w.in_reg[t]
        cat_p = w.cat[t, w.p_hh]
        _bg_civil_affairs(w, t, tr, in_reg & is_head & (cat_p == C_DIBAO), in_reg & (cat_p == C_TEKUN))
        _bg_health_insurance(w, t, tr, alive_in & tr.risky_ok)
        _bg_human_resources(w, t, tr)
        if w.shape.volume > 1:
            _volume_records(
                w,
                t,
                alive_in & tr.risky_ok,
                in_reg & (cat_p == C_DIBAO) & ~is_head,
                tr.age0,
                tr.extra_ss & (w.death_t > t),
                tr.ss_wage,
                tr.employer,
            )
    _bg_monitored(w)


def _bg_civil_affairs(w: World, t: int, tr: _Traits, pay: np.ndarray, tekun: np.ndarray) -> None:
    """低保金 to the heads of 低保 households, 特困供养金, occasional assistance and stops, deaths."""
    rng, P, hh = w.rng, w.P, w.p_hh
    reg_p = w.is_reg[hh]
    alive = w.death_t > t
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
    pidx = np.flatnonzero(tekun)
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
        sel = alive & ((reg_p & tr.risky_ok & (rng.random(P) < p_reg)) | (~reg_p & (rng.random(P) < p_out)))
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
        np.datetime64(month_end(w.months[t]), "D"),
    )
    w.add(
        "civil_affairs",
        t,
        pidx,
        event_type=np.full(len(pidx), "死亡火化", object),
        amount=np.full(len(pidx), None, object),
        event_date=ed.astype(object),
    )


def _add_settlements(w: World, t: int, pidx: np.ndarray, visit: str, icds: list[str], *amounts) -> None:
    """Settlements of one visit type (amounts: total, basic, critical, assistance, out-of-pocket);
    settlement date, provider and diagnosis drawn per record."""
    m, rng = len(pidx), w.rng
    total, basic, critical, assistance, oop = amounts
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
        critical=critical,
        assistance=assistance,
        oop=oop,
    )


_BG_VISITS = (
    ("普通门诊", 0.06, ["J06.9", "K29.7", "M54.5", "J20.9", "I10"], 50, 400, 0.35),
    ("门诊慢特病", 0.0, ["I10", "E11.9", "J44.9", "I25.1", "N18.5", "E11.9"], 300, 2000, 0.2),
    ("住院", 0.012, ["J18.9", "I63.9", "K80.2", "S72.0", "C16.9", "I21.9", "K35.8", "J44.1"], 3000, 40000, 0.22),
)


def _bg_health_insurance(w: World, t: int, tr: _Traits, base: np.ndarray) -> None:
    """At most one settlement per person and month: ordinary, chronic (elderly) or inpatient."""
    rng, P = w.rng, w.P
    reg_p = w.is_reg[w.p_hh]
    u = rng.random(P)
    elderly = tr.age0 >= 60
    for visit, prob, icds, lo, hi, share in _BG_VISITS:
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
        _add_settlements(w, t, pidx, visit, icds, total, basic, crit, assist, oop)


def _bg_human_resources(w: World, t: int, tr: _Traits) -> None:
    """Contributions, public-welfare jobs, pensions, (un)employment registrations."""
    rng, P = w.rng, w.P
    alive = w.death_t > t
    ms, me = w.months[t], month_end(w.months[t])
    emp = np.asarray(EMPLOYERS, object)
    working, risky_ok = tr.working, tr.risky_ok
    for rtype, sel, wage, amount in (
        ("社保缴费", tr.ss & alive & (tr.ss_stop > t), tr.ss_wage, None),
        ("公益性岗位", tr.public_job & alive, tr.public_wage, None),
        ("养老金发放", tr.pension & alive, None, tr.pension_amt),
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
            # a new job registration names its new employer; monthly lines keep the person's unit
            employer=emp[tr.employer[pidx]]
            if rtype in ("社保缴费", "公益性岗位")
            else emp[rng.integers(0, len(emp), m)]
            if rtype == "就业登记"
            else np.full(m, None, object),
            wage=wage[pidx] if wage is not None else np.full(m, None, object),
            amount=amount[pidx] if amount is not None else np.full(m, None, object),
            start_date=np.full(m, ms, object) if monthly else w.days(t, m),
            end_date=np.full(m, me, object) if rtype in ("社保缴费", "养老金发放") else np.full(m, None, object),
        )


def _bg_monitored(w: World) -> None:
    """Background monitored households (rural): registry 防返贫监测 households, some 低保 /
    低保边缘 ones and outsiders, mostly with their risk cleared."""
    rng, K = w.rng, w.K
    rural = ~w.urban
    listed = {r["hh"] for r in w.rr_households}
    bg_reg = (
        w.is_reg
        & rural
        & ~w.planted
        & ((w.cat[0] == C_MONITOR) | (np.isin(w.cat[0], [C_DIBAO, C_EDGE]) & (rng.random(w.H) < 0.08)))
    )
    bg_out = ~w.is_reg & rural & ~w.planted & (rng.random(w.H) < 0.12)
    risks = list(RISK_TYPES)
    rp = np.array([0.36, 0.2, 0.15, 0.02, 0.01, 0.15, 0.06, 0.05])
    for h in np.flatnonzero(bg_reg | bg_out):
        if h in listed:
            continue
        cl = bool(rng.random() < (0.2 if w.is_reg[h] else 0.85))
        rr_household(w, int(h), [cl] * K, str(rng.choice(risks, p=rp)))


ORDINARY_ICD = ["J06.9", "K29.7", "M54.5", "J20.9", "I10", "K02.9", "L30.9", "H10.9"]
CHRONIC_ICD = ["I10", "E11.9", "J44.9", "I25.1"]  # none is a configured major disease


def _volume_records(
    w: World,
    t: int,
    active: np.ndarray,
    dibao_member: np.ndarray,
    age0: np.ndarray,
    contributing: np.ndarray,
    wage: np.ndarray,
    employer: np.ndarray,
) -> None:
    """The extra delivery volume of a prefecture (Shape.volume > 1), none of it planted:
    repeated ordinary and chronic outpatient settlements per person (no major diagnoses;
    medical assistance covers most of a registry person's share), 低保金 paid per enrolled
    member (分类施保) besides the household payment to the head, and contributions of
    employed outsiders."""
    rng, e = w.rng, w.shape.volume - 1
    pidx = np.flatnonzero(contributing)
    m = len(pidx)
    w.add(
        "human_resources",
        t,
        pidx,
        record_type=np.full(m, "社保缴费", object),
        employer=np.asarray(EMPLOYERS, object)[employer[pidx]],
        wage=wage[pidx],
        amount=np.full(m, None, object),
        start_date=np.full(m, w.months[t], object),
        end_date=np.full(m, month_end(w.months[t]), object),
    )
    _volume_settlements(w, t, active, age0)
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


def _volume_settlements(w: World, t: int, active: np.ndarray, age0: np.ndarray) -> None:
    """Repeated ordinary and chronic outpatient settlements per person (Poisson counts)."""
    rng, e = w.rng, w.shape.volume - 1
    reg_p = w.is_reg[w.p_hh]
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
        _add_settlements(w, t, pidx, visit, icds, total, basic, np.zeros(m), assist, oop)


def rr_records(w: World) -> None:
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


def record_frame(w: World, source: str) -> pl.DataFrame:
    """All clean records of one source; releases the world's record chunks."""
    chunks = [c for c in w.recs[source] if len(c["pid"])]
    w.recs[source] = []
    cols = {"t": pl.Int64, "pid": pl.Int64, **_REC_TYPES[source]}
    if not chunks:
        return pl.DataFrame(schema=cols)
    parts = [pl.DataFrame([_typed_series(k, c[k], typ) for k, typ in cols.items()]) for c in chunks]
    return pl.concat(parts, rechunk=True)


def registry_frame(w: World, t: int) -> pl.DataFrame:
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
