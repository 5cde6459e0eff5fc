"""The ground truth, computed from the world model alone (true persons, links and values of
the records anyone can read), never from pipeline code: which (month, household, rule)
fires, the caseworker's view of each flag (新增 / 持续 / 已清零, suppressed), and the files
written under `<out>/truth/`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from data_samples.generate.rules import RULES, rule_ran
from data_samples.generate.world import World, month_end

# the record columns the truth reads (the delivered frames are kept only with these)
TRUTH_COLS = {
    "civil_affairs": ["t", "pid", "source_row", "event_type"],
    "health_insurance": ["t", "pid", "source_row", "icd", "oop"],
    "human_resources": ["t", "pid", "source_row", "record_type", "wage"],
    "rural_revitalization": ["t", "pid", "source_row", "rr_hid", "cleared", "risk"],
}


@dataclass
class _Facts:
    """What the rule conditions read: the delivered registry persons (`reg`), the readable
    records (`recs`), the records linked to their true registry household (`lk`) and the
    household figures per month (`hhm`: category, income, size, standard, per-capita income)."""

    w: World
    reg: pl.DataFrame
    recs: dict[str, pl.DataFrame]
    lk: dict[str, pl.DataFrame]
    hhm: pl.DataFrame

    def param(self, key: str, default):
        return self.w.params.get(key, default)


HouseholdIds = Iterable[str]
_CONDITIONS: dict[str, Callable[[_Facts, int, pl.DataFrame], HouseholdIds]] = {}


def _condition(code: str):
    def register(fn):
        _CONDITIONS[code] = fn
        return fn

    return register


def compute_truth(
    w: World, reg: pl.DataFrame, recs: dict[str, pl.DataFrame], delivered: set[tuple[int, str]]
) -> pl.DataFrame:
    """Every (month, household, rule) whose condition holds, from the world model (true links
    and values), for the rules that can run in the month (rules.rule_ran)."""
    hhm = (
        reg.group_by("t", "household_id")
        .agg(pl.col("category", "income", "household_size", "S").first())
        .with_columns(pc=pl.col("income") / pl.col("household_size") / 12)
    )
    key = ["t", "pid"]
    lk = {s: df.join(reg.select("t", "pid", "household_id", "birth"), on=key, how="inner") for s, df in recs.items()}
    facts = _Facts(w, reg, recs, lk, hhm)
    out = []
    for M in range(w.K):
        hm = hhm.filter(pl.col("t") == M)
        for rule, condition in _CONDITIONS.items():
            if rule_ran(M, rule, delivered):
                out.extend((M, h, rule) for h in sorted(set(condition(facts, M, hm))))
    return pl.DataFrame(out, schema={"t": pl.Int64, "household_key": pl.Utf8, "rule_code": pl.Utf8}, orient="row")


@_condition("R01")
def _medical_burden(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    ratio = float(f.param("medical_burden_ratio", 1.0))
    hi = f.lk["health_insurance"].filter(pl.col("t").is_between(M - 11, M))
    s = hi.group_by("household_id").agg(pl.col("oop").sum()).join(hm, on="household_id")
    return s.filter(pl.col("oop") > ratio * pl.col("income"))["household_id"]


@_condition("R02")
def _low_income_not_dibao(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    return hm.filter((pl.col("pc") < pl.col("S")) & ~pl.col("category").is_in(["低保", "特困"]))["household_id"]


@_condition("R03")
def _edge_not_recognised(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    return hm.filter(
        (pl.col("pc") >= pl.col("S"))
        & (pl.col("pc") < f.w.edge * pl.col("S"))
        & ~pl.col("category").is_in(["低保", "特困", "低保边缘"])
    )["household_id"]


@_condition("R04")
def _single_person_dibao(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    prefixes = [str(p).upper() for p in f.param("major_disease_icd10_prefixes", [])]
    rm = f.reg.filter(pl.col("t") == M)
    dis = rm.filter(pl.col("grade").is_in([1, 2]) | ((pl.col("grade") == 3) & pl.col("dtype").is_in(["智力", "精神"])))[
        "household_id"
    ]
    hi = f.lk["health_insurance"].filter(pl.col("t").is_between(M - 11, M))
    major = hi.filter(
        pl.any_horizontal([pl.col("icd").str.to_uppercase().str.starts_with(p) for p in prefixes])
        if prefixes
        else pl.lit(False)
    )["household_id"]
    cand = set(dis.to_list()) | set(major.to_list())
    return hm.filter((pl.col("category") == "低保边缘") & pl.col("household_id").is_in(list(cand)))["household_id"]


@_condition("R05")
def _unemployment_or_lapse(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    hr = f.lk["human_resources"]
    now = hr.filter(pl.col("t") == M)
    unemp = set(now.filter(pl.col("record_type") == "失业登记")["pid"].to_list())
    keep = set(now.filter(pl.col("record_type").is_in(["社保缴费", "就业登记"]))["pid"].to_list())
    prev = set(hr.filter((pl.col("t") == M - 1) & (pl.col("record_type") == "社保缴费"))["pid"].to_list())
    cand = unemp | (prev - keep)
    end = month_end(f.w.months[M])
    rm = f.reg.filter((pl.col("t") == M) & pl.col("pid").is_in(list(cand)))
    if not rm.height:
        return []
    age = f.w.age_at(rm["pid"].to_numpy(), end)
    return rm.filter(pl.Series((age >= 16) & (age <= 59)))["household_id"]


@_condition("R06")
def _death_not_removed(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    ca = f.lk["civil_affairs"]
    dead = set(ca.filter((pl.col("t") <= M) & (pl.col("event_type") == "死亡火化"))["pid"].to_list())
    return f.reg.filter((pl.col("t") == M) & pl.col("pid").is_in(list(dead)))["household_id"]


@_condition("R07")
def _stopped_still_poor(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    ca = f.lk["civil_affairs"]
    stop = ca.filter((pl.col("t") == M) & pl.col("event_type").is_in(["低保停发", "特困终止"]))["household_id"]
    return hm.filter(pl.col("household_id").is_in(stop.to_list()) & (pl.col("pc") < f.w.edge * pl.col("S")))[
        "household_id"
    ]


@_condition("R08")
def _monitored_not_in_registry(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    rr = f.recs["rural_revitalization"].filter(pl.col("t") == M)
    linked = set(f.lk["rural_revitalization"].filter(pl.col("t") == M)["rr_hid"].to_list())
    open_ = set(rr.filter(~pl.col("cleared"))["rr_hid"].to_list())
    return ["RR:" + h for h in sorted(open_ - linked)]


@_condition("R09")
def _income_above_standard(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    ss = (
        f.lk["human_resources"]
        .filter((pl.col("t") == M) & (pl.col("record_type") == "社保缴费"))
        .group_by("household_id")
        .agg(pl.col("wage").sum())
    )
    return ss.join(hm, on="household_id").filter(
        (pl.col("category") == "低保") & (pl.col("wage") / pl.col("household_size") > pl.col("S"))
    )["household_id"]


@_condition("R10")
def _repeated_temp_assistance(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    rep = f.param("temp_assistance_repeat", {}) or {}
    rep_count, rep_months = int(rep.get("count", 2)), int(rep.get("months", 6))
    tmp = (
        f.lk["civil_affairs"]
        .filter(pl.col("t").is_between(M - rep_months + 1, M) & (pl.col("event_type") == "临时救助"))
        .group_by("household_id")
        .len()
    )
    return tmp.join(hm, on="household_id").filter(
        (pl.col("len") >= rep_count) & ~pl.col("category").is_in(["低保", "特困"])
    )["household_id"]


@_condition("R11")
def _disaster_or_accident(f: _Facts, M: int, hm: pl.DataFrame) -> HouseholdIds:
    ca, rr = f.lk["civil_affairs"], f.lk["rural_revitalization"]
    a = ca.filter((pl.col("t") == M) & (pl.col("event_type") == "受灾救助"))["household_id"].to_list()
    b = rr.filter((pl.col("t") == M) & pl.col("risk").is_in(["因灾", "因意外事故"]) & ~pl.col("cleared"))[
        "household_id"
    ].to_list()
    present = set(hm["household_id"].to_list())
    return [h for h in set(a) | set(b) if h in present]


def flag_states(
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
    figures = _closing_figures(reg, L) if closing else {}
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


def _closing_figures(reg: pl.DataFrame, L: int) -> dict[int, dict[str, tuple]]:
    """Per month (the last two), household -> its registry figures (income, size, category, standard)."""
    cols = ["household_id", "income", "household_size", "category", "S"]
    figures = {}
    for t in (L - 1, L):
        f = reg.filter(pl.col("t") == t).group_by("household_id").agg(pl.col(cols[1:]).first())
        figures[t] = {row[0]: row[1:] for row in f.select(cols).iter_rows()}
    return figures


# ---------------------------------------------------------------- truth files
def write_flags(
    truth_dir: Path,
    flags: pl.DataFrame,
    reg: pl.DataFrame,
    delivered: set[tuple[int, str]],
    K: int,
    closing: list[tuple[str, str, str]],
    month_of: dict[int, str],
) -> pl.DataFrame:
    """truth/flags.csv (month, household_key, rule_code, fired, suppressed, state); returns it."""
    flags_out = (
        flag_states(flags, reg, delivered, K, closing)
        .with_columns(month=pl.col("t").replace_strict(month_of, return_dtype=pl.Utf8))
        .sort("t", "rule_code", "household_key")
        .select("month", "household_key", "rule_code", "fired", "suppressed", "state")
    )
    flags_out.write_csv(truth_dir / "flags.csv")
    return flags_out


def write_links(truth_dir: Path, links: list[pl.DataFrame], reg: pl.DataFrame, month_of: dict[int, str]) -> None:
    """truth/links.csv: the true person and registry row of every delivered row of every source
    (the registry's own rows too; empty registry_row: not in that month's registry)."""
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


def write_persons(truth_dir: Path, w: World) -> None:
    """truth/persons.csv: every synthetic person."""
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


def write_dispositions(truth_dir: Path, disp_rows: list[tuple]) -> None:
    """truth/dispositions.csv: flag_id, disposition of every delivered disposition."""
    pl.DataFrame({"flag_id": [d[0] for d in disp_rows], "disposition": [d[1] for d in disp_rows]}).write_csv(
        truth_dir / "dispositions.csv"
    )
