"""Rules R01–R11, lifecycle, dispositions and skipped sources, on small hand-built
warehouses (tests/rules_fixtures.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from rules_fixtures import M1, M2, M3, PARAMS, Fixture, month_end, years_before

from lowincome.params import ParamsError, load_params, params_from_dict
from lowincome.rules import RULES, _set_variables, _setup_context, run_rules
from lowincome.schema import flag_id
from lowincome.warehouse import Warehouse, query_pl

S, EDGE = 560, 840  # rural standard of 620102 in PARAMS, and 1.5 × S


@pytest.fixture()
def wh(tmp_path):
    return Warehouse(tmp_path / "w.duckdb")


def flags(con, month, fired_only=True):
    where = "AND fired" if fired_only else ""
    frame = query_pl(con, f"SELECT * FROM flags.risk_flags WHERE month = ? {where}", [month])
    return {(r["household_key"], r["rule_code"]): r for r in frame.iter_rows(named=True)}


def fired_rules(con, month, household):
    return {rule for (hh, rule), r in flags(con, month).items() if hh == household}


def months_back(m: dt.date, n: int) -> dt.date:
    y, mm = divmod(m.year * 12 + m.month - 1 - n, 12)
    return dt.date(y, mm + 1, 1)


# ---------------------------------------------------------------- parameters
def test_load_params_sample_and_validation(tmp_path):
    p = load_params("data_samples/params.yaml")
    assert p.standard("620102", urban=False) == 560 and p.standard("620199", urban=True) == 700
    assert p.edge_multiplier == 1.5 and p.temp_assistance_count == 2 and "N18.5" in p.major_disease_icd10_prefixes
    with pytest.raises(ParamsError, match="default"):
        params_from_dict({"dibao_standard": {"620102": {"urban": 1, "rural": 1}}})
    with pytest.raises(ParamsError, match="edge_multiplier"):
        params_from_dict({"dibao_standard": {"default": {"urban": 700, "rural": 520}}, "edge_multiplier": 0.5})
    with pytest.raises(ParamsError, match="unknown"):
        params_from_dict({"dibao_standard": {"default": {"urban": 700, "rural": 520}}, "edgemultiplier": 2})
    bad = tmp_path / "p.yaml"
    bad.write_text("dibao_standard: [", encoding="utf-8")
    with pytest.raises(ParamsError):
        load_params(bad)


# ---------------------------------------------------------------- R01
def test_r01_fires_above_income_not_at_equality_and_window(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        a, b, c, d = fx.person("甲一"), fx.person("乙二"), fx.person("丙三"), fx.person("丁四")
        m12, m11 = months_back(M1, 12), months_back(M1, 11)
        for m in (m12, m11, M1):
            fx.loaded(m)
            fx.household(m, "H1", [a], income=21600)
            fx.household(m, "H2", [b], income=21600)
            fx.household(m, "H3", [c], income=21600)
            fx.household(m, "H4", [d], income=21600)
        fx.claim(M1, a, 21601)  # > income: fires
        fx.claim(m11, b, 12000)
        fx.claim(M1, b, 9600)  # = income over 12 months: no
        fx.claim(m12, c, 30000)  # outside the window: no
        fx.claim(m11, d, 20000)
        fx.claim(M1, d, 1601.5)  # M-11 is inside the window: fires
        run_rules(con, M1, PARAMS)
        got = flags(con, M1)
        assert ("H1", "R01") in got and ("H4", "R01") in got
        assert ("H2", "R01") not in got and ("H3", "R01") not in got
        r = got[("H1", "R01")]
        assert (
            "近12个月个人自付医疗费用 21,601 元" in r["evidence_text"] and "家庭年收入 21,600 元" in r["evidence_text"]
        )
        assert r["recommended_action"] == "医疗救助；评估支出型困难或单人保" and r["severity"] == "高"
        ev = json.loads(got[("H4", "R01")]["evidence"])
        assert {(x["source"], x["month"]) for x in ev["records"]} == {
            ("health_insurance", str(m11)),
            ("health_insurance", str(M1)),
            ("registry", str(M1)),
        }
        assert ev["figures"]["out_of_pocket_12m"] == 21601.5


def test_r01_amount_is_the_same_whatever_order_the_claims_are_summed_in(wh):
    """12000.7 + 6000.1 + 3600.2 is 21601.000000000004 in floating point, in that order: the
    sum is rounded to the fen, so the text says 21,601 元, as it would in any other order (a
    parallel sum adds in any order, and a rerun must write the same flag)."""
    with wh.writer() as con:
        fx = Fixture(con)
        a = fx.person("甲一")
        fx.loaded(M1)
        fx.household(M1, "H1", [a], income=21600)
        for oop in (12000.7, 6000.1, 3600.2):
            fx.claim(M1, a, oop)
        run_rules(con, M1, PARAMS)
        r = flags(con, M1)[("H1", "R01")]
        assert "近12个月个人自付医疗费用 21,601 元（3 笔结算）" in r["evidence_text"], r["evidence_text"]
        assert json.loads(r["evidence"])["figures"]["out_of_pocket_12m"] == 21601.0


def test_r01_claims_in_the_review_band_hold_a_household_they_would_take_over_the_line(wh):
    """The linked claims alone within the line, with the pending ones over it: held back
    (待核实) with both sums, naming every claim, not flagged. Over the line on linked claims
    alone: flagged, on those claims. Pending claims that keep the sum within: nothing."""
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b, c = fx.person("待核"), fx.person("已超"), fx.person("未超")
        for key, person in (("H1", a), ("H2", b), ("H3", c)):
            fx.household(M1, key, [person], income=21600)
        fx.claim(M1, a, 20000)
        held_claim = fx.claim(M1, a, 5000, decision="review")
        fx.claim(M1, b, 22000)
        fx.claim(M1, b, 5000, decision="review")
        fx.claim(M1, c, 10000)
        fx.claim(M1, c, 5000, decision="review")
        run_rules(con, M1, PARAMS)
        assert {k for k in flags(con, M1, fired_only=False) if k[1] == "R01"} == {("H2", "R01")}
        assert "近12个月个人自付医疗费用 22,000 元（1 笔结算）" in flags(con, M1)[("H2", "R01")]["evidence_text"]
        held = query_pl(con, "SELECT * FROM flags.held_back WHERE month = ? AND rule_code = 'R01'", [M1])
        assert held["household_key"].to_list() == ["H1"], held
        assert held["reason"][0] == (
            "医疗支出待核实：近12个月已匹配个人自付 20,000 元，另有 1 笔结算待人工核对匹配，计入后 25,000 元，"
            "超过家庭年收入 21,600 元"
        )
        assert {"source": "health_insurance", "month": str(M1), "source_row": held_claim} in json.loads(
            held["records"][0]
        )


def test_review_and_unmatched_links_raise_nothing(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b = fx.person("甲一"), fx.person("乙二")
        fx.household(M1, "H1", [a], income=12000)
        fx.household(M1, "H2", [b], income=12000)
        fx.claim(M1, a, 50000, decision="review")
        fx.claim(M1, b, 50000, decision="none")
        fx.civil(M1, a, "受灾救助", 2000, decision="review")
        run_rules(con, M1, PARAMS)
        assert not {k for k in flags(con, M1) if k[1] in ("R01", "R11")}


# ---------------------------------------------------------------- R02 / R03
@pytest.mark.parametrize(
    "pc, category, expected",
    [
        (S - 1, "其他", {"R02"}),
        (S, "其他", {"R03"}),  # pc = S: R03, not R02
        (EDGE - 1, "支出型困难", {"R03"}),
        (EDGE, "其他", set()),  # pc = edge × S: neither
        (S - 1, "低保", set()),
        (S - 1, "特困", set()),
        (S - 1, "低保边缘", {"R02"}),
        (S + 1, "低保边缘", set()),
    ],
)
def test_r02_r03_boundaries(wh, pc, category, expected):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        fx.household(
            M1, "H1", [fx.person("甲"), fx.person("乙"), fx.person("丙")], income=pc * 3 * 12, category=category
        )
        run_rules(con, M1, PARAMS)
        assert fired_rules(con, M1, "H1") == expected


def test_r02_uses_urban_standard_and_default_county(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        fx.household(M1, "U1", [fx.person("甲")], income=750 * 12, urban_rural="城市")  # 620102 urban S = 760
        fx.household(M1, "U2", [fx.person("乙")], income=750 * 12, urban_rural="城市", region="620104001001")  # S = 700
        run_rules(con, M1, PARAMS)
        assert fired_rules(con, M1, "U1") == {"R02"}
        assert fired_rules(con, M1, "U2") == {"R03"}
        assert "低于低保标准 760 元" in flags(con, M1)[("U1", "R02")]["evidence_text"]


# ---------------------------------------------------------------- R04
@pytest.mark.parametrize(
    "disability, icd, category, fires",
    [
        ((2, "肢体"), None, "低保边缘", True),
        ((1, "视力"), None, "低保边缘", True),
        ((3, "智力"), None, "低保边缘", True),
        ((3, "精神"), None, "低保边缘", True),
        ((3, "肢体"), None, "低保边缘", False),
        ((4, "智力"), None, "低保边缘", False),
        (None, "C34.9", "低保边缘", True),
        (None, "N18.5", "低保边缘", True),
        (None, "N18.4", "低保边缘", False),
        ((1, "视力"), None, "低保", False),
    ],
)
def test_r04(wh, disability, icd, category, fires):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b = fx.person("甲"), fx.person("乙")
        fx.household(
            M1,
            "H1",
            [a, b],
            income=1.25 * S * 2 * 12,
            category=category,
            disability={1: disability} if disability else None,
        )
        if icd:
            fx.claim(M1, b, 900, icd=icd)
        run_rules(con, M1, PARAMS)
        assert (("H1", "R04") in flags(con, M1)) is fires
        if fires:
            assert flags(con, M1)[("H1", "R04")]["evidence_text"].startswith("救助类别为低保边缘；成员乙")


def test_r04_major_disease_claim_in_the_review_band_is_held_not_flagged(wh):
    """A major-disease claim whose link waits in review is not yet evidence: a 低保边缘
    household with no other reason is held back (待核实) with the reason, also in the later
    months of the 12-month window; beside a severe disability it is named in the flag's text;
    a pending claim of another diagnosis holds nothing."""
    with wh.writer() as con:
        fx = Fixture(con)
        a, b, c, d = fx.person("待核"), fx.person("重残"), fx.person("同户"), fx.person("感冒")
        for m in (M1, M2):
            fx.loaded(m)
            fx.household(m, "H1", [a], income=1.25 * S * 12, category="低保边缘")
            fx.household(m, "H2", [b, c], income=1.25 * S * 24, category="低保边缘", disability={0: (1, "肢体")})
            fx.household(m, "H3", [d], income=1.25 * S * 12, category="低保边缘")
        fx.claim(M1, a, 900, icd="C34.9", decision="review")
        fx.claim(M1, c, 900, icd="N18.5", decision="review")
        fx.claim(M1, d, 900, icd="J18.9", decision="review")
        for m in (M1, M2):
            run_rules(con, m, PARAMS)
            assert ("H1", "R04") not in flags(con, m, fired_only=False)
            held = query_pl(con, "SELECT * FROM flags.held_back WHERE month = ? AND rule_code = 'R04'", [m])
            assert held["household_key"].to_list() == ["H1"], held
            assert held["reason"][0].startswith("单人保待核实：成员待核的近12个月重病就诊记录 C34.9")
            text = flags(con, m)[("H2", "R04")]["evidence_text"]
            assert "成员重残残疾等级一级（肢体）" in text and "成员同户的近12个月重病就诊记录 N18.5" in text


# ---------------------------------------------------------------- R05
def test_r05_working_age_boundaries_and_lapse(wh):
    end = month_end(M2)
    with wh.writer() as con:
        fx = Fixture(con)
        people = {
            "age16": fx.person("十六", years_before(end, 16)),  # 16 on the last day
            "age15": fx.person("十五", years_before(end + dt.timedelta(days=1), 16)),  # turns 16 the day after
            "age59": fx.person("五九", years_before(end + dt.timedelta(days=1), 60)),  # still 59
            "age60": fx.person("六十", years_before(end, 60)),
            "lapsed": fx.person("断缴"),
            "employed": fx.person("就业"),
            "paying": fx.person("续缴"),
        }
        for m in (M1, M2):
            fx.loaded(m)
            for k, p in people.items():
                fx.household(m, f"H_{k}", [p], income=2 * S * 12)
        for k in ("age16", "age15", "age59", "age60"):
            fx.hr(M2, people[k], "失业登记")
        for k in ("lapsed", "employed", "paying"):
            fx.hr(M1, people[k], "社保缴费", wage=3000)
        fx.hr(M2, people["employed"], "就业登记")
        fx.hr(M2, people["paying"], "社保缴费", wage=3000)
        res1 = run_rules(con, M1, PARAMS)
        assert "R05" in res1.skipped and "human_resources 2026-06" in res1.skipped["R05"]
        run_rules(con, M2, PARAMS)
        got = {hh for hh, rule in flags(con, M2) if rule == "R05"}
        assert got == {"H_age16", "H_age59", "H_lapsed"}
        assert (
            "2026年7月有社保缴费，2026年8月无社保缴费或就业登记" in flags(con, M2)[("H_lapsed", "R05")]["evidence_text"]
        )
        assert "（16岁）2026年8月失业登记" in flags(con, M2)[("H_age16", "R05")]["evidence_text"]


def test_r05_lapse_after_a_link_the_next_month_shows_to_be_someone_elses_is_held(wh):
    """A 社保缴费 of M-1 linked on no whole ID (an Excel-mangled ID's digits, a name) whose
    account -- same name and base -- comes in M under a valid ID outside the registry was
    most likely that other person's: the member's absence in M is no lapse. The household is
    held back (待核实, with the reason), not flagged. The same absence after a link on the
    member's own ID (exact, or one typo away: the other holder is a namesake with the same
    contribution base), or after a link whose account nobody else holds, is a lapse."""
    with wh.writer() as con:
        fx = Fixture(con)
        names = ("赵贵平", "钱贵平", "孙贵平", "李贵平")
        moved, exact, typo, kept = (fx.person(n) for n in names)
        households = {"H_moved": moved, "H_exact": exact, "H_typo": typo, "H_kept": kept}
        for m in (M1, M2):
            fx.loaded(m)
            for key, p in households.items():
                fx.household(m, key, [p], income=2 * S * 12)
        prefix, d1 = '{"id":"prefix","name":"exact"}', '{"id":"d1","name":"exact"}'
        fx.hr(M1, moved, "社保缴费", wage=3000, method="probabilistic", detail=prefix)
        fx.hr(M1, exact, "社保缴费", wage=3000)
        fx.hr(M1, typo, "社保缴费", wage=3000, method="probabilistic", detail=d1)
        fx.hr(M1, kept, "社保缴费", wage=3000, method="probabilistic", detail=prefix)
        # M: three of the accounts (same name and base) under IDs not in the registry, linked to nobody
        for member in (moved, exact, typo):
            outsider = fx.person(member.name, dt.date(1990, 1, 1))
            fx.record(
                "human_resources",
                M2,
                None,
                name=member.name,
                id_number=outsider.id_number,
                record_type="社保缴费",
                monthly_wage=3000.0,
            )
        run_rules(con, M2, PARAMS)
        got = {hh for hh, rule in flags(con, M2) if rule == "R05"}
        assert got == {"H_exact", "H_typo", "H_kept"}
        held = query_pl(
            con, "SELECT household_key, reason FROM flags.held_back WHERE month = ? AND rule_code = 'R05'", [M2]
        )
        assert held["household_key"].to_list() == ["H_moved"]
        assert "2026年7月的社保缴费未凭身份证号匹配，该缴费记录2026年8月以他人身份证号出现" in held["reason"][0]


def test_r05_lapse_while_the_same_account_comes_unplaced_without_an_id_is_held(wh):
    """At a prefecture a name-only contribution of a common name scores below the review band
    and links to nobody. When M delivers such a record of the member's M-1 account (same name
    and contribution base, which a job change keeps; no valid ID), the member may well have
    paid: the household is held back (待核实), not flagged. Another base under the name is
    another account: the lapse stands."""
    with wh.writer() as con:
        fx = Fixture(con)
        same, other = fx.person("周贵平"), fx.person("吴贵平")
        for m in (M1, M2):
            fx.loaded(m)
            fx.household(m, "H_same", [same], income=2 * S * 12)
            fx.household(m, "H_other", [other], income=2 * S * 12)
        for person in (same, other):
            fx.record(
                "human_resources", M1, person, record_type="社保缴费", monthly_wage=3000.0, employer="某某食品加工厂"
            )
        for name, wage in (("周贵平", 3000.0), ("吴贵平", 4500.0)):
            # delivered without an ID, from a new employer; linkage placed it nowhere (decision none)
            fx.record(
                "human_resources",
                M2,
                None,
                name=name,
                record_type="社保缴费",
                monthly_wage=wage,
                employer="某某商贸有限公司",
            )
        run_rules(con, M2, PARAMS)
        assert {hh for hh, rule in flags(con, M2) if rule == "R05"} == {"H_other"}
        held = query_pl(
            con, "SELECT household_key, reason FROM flags.held_back WHERE month = ? AND rule_code = 'R05'", [M2]
        )
        assert held["household_key"].to_list() == ["H_same"]
        assert "2026年8月有同名、同缴费基数的社保缴费记录（无有效身份证号）未能匹配" in held["reason"][0]


# ---------------------------------------------------------------- R06
def test_r06_death_until_removed_with_payments_after_death(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        a, b, c = fx.person("逝者"), fx.person("家属"), fx.person("别户")
        for m in (M1, M2, M3):
            fx.loaded(m)
        fx.household(M1, "H1", [a, b], income=S * 0.8 * 24, category="低保")
        fx.household(M1, "H2", [c], income=S * 0.8 * 12, category="低保")
        fx.civil(M1, a, "死亡火化", date=dt.date(2026, 7, 3))
        fx.civil(M1, c, "死亡火化", date=dt.date(2026, 7, 9))
        fx.household(M2, "H1", [a, b], income=S * 0.8 * 24, category="低保")
        fx.civil(M2, a, "低保金发放", 600, date=dt.date(2026, 8, 5))
        fx.household(M3, "H1", [b], income=S * 0.8 * 24, category="低保")  # removed in M3
        for m in (M1, M2, M3):
            run_rules(con, m, PARAMS)
        assert ("H1", "R06") in flags(con, M1) and ("H2", "R06") in flags(con, M1)
        r = flags(con, M2)[("H1", "R06")]
        assert r["state"] == "持续" and "死亡后仍发放低保金/特困供养金 1 笔共 600 元" in r["evidence_text"]
        assert r["recommended_action"].startswith("核实销户并停发")
        assert ("H1", "R06") not in flags(con, M3)
        assert flags(con, M3, fired_only=False)[("H1", "R06")]["state"] == "已清零"
        assert ("H2", "R06") not in flags(con, M2)  # H2 left the registry


def test_rules_read_every_month_of_civil_affairs_and_twelve_of_the_other_sources(wh):
    """A death 14 months back, with a payment after it 13 months back, still flags its person
    (R06 reads 民政 of every month); a claim 12 months back is no longer read: the rules'
    inputs are bounded by the longest window, not by the history."""
    with wh.writer() as con:
        fx = Fixture(con)
        a, b = fx.person("逝者"), fx.person("病人")
        m14, m13, m12 = months_back(M1, 14), months_back(M1, 13), months_back(M1, 12)
        for m in (m14, m13, m12, M1):
            fx.loaded(m)
            fx.household(m, "H1", [a], income=S * 0.8 * 12, category="低保")
            fx.household(m, "H2", [b], income=21600)
        fx.civil(m14, a, "死亡火化", date=m14 + dt.timedelta(days=2))
        fx.civil(m13, a, "低保金发放", 600, date=m13 + dt.timedelta(days=4))
        fx.claim(m12, b, 30000)
        run_rules(con, M1, PARAMS)
        r = flags(con, M1)[("H1", "R06")]
        assert "死亡后仍发放低保金/特困供养金 1 笔共 600 元" in r["evidence_text"]
        assert ("H2", "R01") not in flags(con, M1)
        # what the rules were given (run_rules drops its context when it is done)
        _set_variables(con, {"month": M1, "params_path": PARAMS.source_path})
        _setup_context(con, PARAMS, RULES)
        read = con.sql("SELECT DISTINCT source, month FROM rule_links ORDER BY ALL").fetchall()
        assert ("civil_affairs", m14) in read and ("civil_affairs", m13) in read
        assert ("health_insurance", m12) not in read


def test_r06_death_in_the_review_band_is_held_not_flagged(wh):
    """A 死亡火化 record whose link waits in review is not evidence of a death: the household
    is held back with the reason (待核实), in the month of the record and after it, until
    a clerk's decision links it; a linked death of another member still flags."""
    with wh.writer() as con:
        fx = Fixture(con)
        a, b, c = fx.person("待核"), fx.person("逝者"), fx.person("同户")
        for m in (M1, M2):
            fx.loaded(m)
            fx.household(m, "H1", [a], income=S * 0.8 * 12, category="低保")
            fx.household(m, "H2", [b, c], income=S * 0.8 * 24, category="低保")
        fx.civil(M1, a, "死亡火化", date=dt.date(2026, 7, 3), decision="review")
        fx.civil(M1, b, "死亡火化", date=dt.date(2026, 7, 4))
        fx.civil(M1, c, "死亡火化", date=dt.date(2026, 7, 5), decision="review")
        for m in (M1, M2):
            run_rules(con, m, PARAMS)
            assert ("H1", "R06") not in flags(con, m, fired_only=False)
            held = query_pl(con, "SELECT * FROM flags.held_back WHERE month = ? AND rule_code = 'R06'", [m])
            assert held["household_key"].to_list() == ["H1"], held
            assert "待核" in held["reason"][0] and "待人工核对匹配" in held["reason"][0]
            r = flags(con, m)[("H2", "R06")]  # a linked death flags; the pending one is named beside it
            assert "逝者已死亡火化" in r["evidence_text"] and "同户的死亡火化记录" in r["evidence_text"]


# ---------------------------------------------------------------- R07
@pytest.mark.parametrize(
    "pc, event, fires",
    [
        (EDGE - 1, "低保停发", True),
        (EDGE, "低保停发", False),
        (1.3 * S, "特困终止", True),
        (1.3 * S, "低保金发放", False),
    ],
)
def test_r07(wh, pc, event, fires):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a = fx.person("甲")
        fx.household(M1, "H1", [a], income=pc * 12, category="低保边缘")
        fx.civil(M1, a, event, 500 if event == "低保金发放" else None)
        run_rules(con, M1, PARAMS)
        assert (("H1", "R07") in flags(con, M1)) is fires


def test_r07_stop_in_the_review_band_is_held_not_flagged(wh):
    """A 低保停发 / 特困终止 record whose link waits in review is not yet evidence that support
    stopped: a household still below the edge line is held back with the reason (待核实);
    a linked stop of another member flags, the pending one named beside it; above the edge
    line nothing is held."""
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b, c, d = fx.person("待核"), fx.person("停保"), fx.person("同户"), fx.person("富足")
        fx.household(M1, "H1", [a], income=(EDGE - 1) * 12, category="特困")
        fx.household(M1, "H2", [b, c], income=(EDGE - 1) * 24, category="低保")
        fx.household(M1, "H3", [d], income=(EDGE + 1) * 12, category="低保")
        fx.civil(M1, a, "特困终止", decision="review")
        fx.civil(M1, b, "低保停发")
        fx.civil(M1, c, "低保停发", decision="review")
        fx.civil(M1, d, "低保停发", decision="review")
        run_rules(con, M1, PARAMS)
        assert ("H1", "R07") not in flags(con, M1, fired_only=False)
        held = query_pl(con, "SELECT * FROM flags.held_back WHERE month = ? AND rule_code = 'R07'", [M1])
        assert held["household_key"].to_list() == ["H1"], held
        assert (
            held["reason"][0].startswith("停保待核实：成员待核的特困终止记录") and "待人工核对匹配" in held["reason"][0]
        )
        r = flags(con, M1)[("H2", "R07")]
        assert "成员停保低保停发" in r["evidence_text"] and "成员同户的低保停发记录" in r["evidence_text"]


# ---------------------------------------------------------------- R08
def test_r08_unlinked_open_monitored_households(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        reg = fx.person("在册")
        fx.household(M1, "H1", [reg], income=2 * S * 12, category="防返贫监测")
        out1, out2, out3, out4, out5 = (fx.person(n) for n in ("外一", "外二", "外三", "外四", "外五"))
        fx.rr(M1, out1, "RR001", cleared=False, region="620103002004")  # fires
        fx.rr(M1, out2, "RR001", cleared=False, region="620103002004")
        fx.rr(M1, out3, "RR002", cleared=True)  # cleared: no
        fx.rr(M1, reg, "RR003", cleared=False)  # one member linked: no
        fx.rr(M1, out4, "RR003", cleared=False)
        fx.rr(M1, out5, "RR004", cleared=False, decision="review")  # review is not a link: fires
        run_rules(con, M1, PARAMS)
        got = {hh: r for (hh, rule), r in flags(con, M1).items() if rule == "R08"}
        assert set(got) == {"RR:RR001", "RR:RR004"}
        r = got["RR:RR001"]
        assert (r["county_code"], r["township_code"], r["village_code"]) == ("620103", "620103002", "620103002004")
        assert r["flag_id"] == f"202607-R08-{hashlib.sha1(b'RR:RR001').hexdigest()[:8].upper()}"
        assert "2 人" in r["evidence_text"]


# ---------------------------------------------------------------- R09
@pytest.mark.parametrize(
    "wage, category, fires", [(S * 3 + 1, "低保", True), (S * 3, "低保", False), (S * 3 + 100, "低保边缘", False)]
)
def test_r09(wh, wage, category, fires):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b, c = fx.person("甲"), fx.person("乙"), fx.person("丙")
        fx.household(M1, "H1", [a, b, c], income=0.8 * S * 3 * 12, category=category)
        fx.hr(M1, a, "社保缴费", wage=wage - 1000)
        fx.hr(M1, b, "社保缴费", wage=1000)
        fx.hr(M1, c, "养老金发放")
        run_rules(con, M1, PARAMS)
        assert (("H1", "R09") in flags(con, M1)) is fires
        if fires:
            assert flags(con, M1)[("H1", "R09")]["recommended_action"] == "启动救助渐退期（6个月）"


# ---------------------------------------------------------------- R10
@pytest.mark.parametrize("first_back, category, fires", [(5, "其他", True), (6, "其他", False), (0, "特困", False)])
def test_r10_six_month_window(wh, first_back, category, fires):
    with wh.writer() as con:
        fx = Fixture(con)
        a, b = fx.person("甲"), fx.person("乙")
        first = months_back(M1, first_back)
        for m in {first, M1}:
            fx.loaded(m)
            fx.household(m, "H1", [a, b], income=2 * S * 24, category=category)
        fx.civil(first, a, "临时救助", 1000)
        fx.civil(M1, b, "临时救助", 1500)
        run_rules(con, M1, PARAMS)
        assert (("H1", "R10") in flags(con, M1)) is fires
        if fires:
            assert "近6个月临时救助 2 次（共 2,500 元）" in flags(con, M1)[("H1", "R10")]["evidence_text"]


def test_r10_count_reached_only_with_a_record_in_review_is_held(wh):
    """Two 临时救助 are needed: one linked and one waiting in the review band leave the count
    unknown: the household is held back (待核实, with the reason), not flagged and not silently
    dropped; a clerk's link (the record accepted) then flags it."""
    with wh.writer() as con:
        fx = Fixture(con)
        a, b = fx.person("甲"), fx.person("乙")
        for m in (M1, M2):
            fx.loaded(m)
            fx.household(m, "H1", [a, b], income=2 * S * 24, category="其他")
        fx.civil(M1, a, "临时救助", 1000)
        fx.civil(M1, b, "临时救助", 1500, decision="review")
        fx.civil(M2, a, "低保金发放", 300)
        run_rules(con, M1, PARAMS)
        assert ("H1", "R10") not in flags(con, M1, fired_only=False)
        held = query_pl(con, "SELECT * FROM flags.held_back WHERE month = ? AND rule_code = 'R10'", [M1])
        assert held["household_key"].to_list() == ["H1"], held
        assert "已匹配 1 次，另有成员乙的 1 条临时救助记录待人工核对匹配" in held["reason"][0]
        fx.civil(M2, b, "临时救助", 800)
        run_rules(con, M2, PARAMS)
        assert "近6个月临时救助 2 次（共 1,800 元）" in flags(con, M2)[("H1", "R10")]["evidence_text"]
        assert query_pl(con, "SELECT * FROM flags.held_back WHERE month = ? AND rule_code = 'R10'", [M2]).height == 0


# ---------------------------------------------------------------- R11
def test_r11_disaster_relief_or_rr_disaster_risk(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a, b, c, d = fx.person("甲"), fx.person("乙"), fx.person("丙"), fx.person("丁")
        for i, p in enumerate((a, b, c, d)):
            fx.household(M1, f"H{i}", [p], income=2 * S * 12, category="防返贫监测")
        fx.civil(M1, a, "受灾救助", 3000)  # fires
        fx.rr(M1, b, "RR1", risk="因意外事故")  # fires
        fx.rr(M1, c, "RR2", risk="因灾", cleared=True)  # cleared: no
        fx.rr(M1, d, "RR3", risk="因病")  # other risk: no
        run_rules(con, M1, PARAMS)
        got = {hh for hh, rule in flags(con, M1) if rule == "R11"}
        assert got == {"H0", "H1"}
        assert flags(con, M1)[("H0", "R11")]["recommended_action"] == "临时救助（急难）"


def test_r05_r11_evidence_waiting_in_review_is_held_not_flagged(wh):
    """A 失业登记 (R05) or a 受灾救助 / 乡村振兴 disaster risk (R11) whose link waits in the
    review band is no evidence yet: a household with nothing else is held back (待核实, with
    the reason), neither flagged nor dropped; beside linked evidence the pending record is named."""
    with wh.writer() as con:
        fx = Fixture(con)
        a, b, c, d, e = (fx.person(n) for n in ("待失业", "待受灾", "受灾", "同户待核", "待风险"))
        for m in (M1, M2):
            fx.loaded(m)
            fx.household(m, "H1", [a], income=2 * S * 12)
            fx.household(m, "H2", [b], income=2 * S * 12, category="防返贫监测")
            fx.household(m, "H3", [c, d], income=2 * S * 24, category="防返贫监测")
            fx.household(m, "H4", [e], income=2 * S * 12, category="防返贫监测")
        fx.hr(M2, a, "失业登记", decision="review")
        fx.civil(M2, b, "受灾救助", 3000, decision="review")
        fx.civil(M2, c, "受灾救助", 2000)
        fx.civil(M2, d, "受灾救助", 1000, decision="review")
        fx.rr(M2, e, "RR4", risk="因灾", decision="review")
        run_rules(con, M2, PARAMS)
        fired = flags(con, M2)
        assert ("H1", "R05") not in fired and ("H2", "R11") not in fired and ("H4", "R11") not in fired
        held = query_pl(
            con,
            "SELECT rule_code, household_key, reason FROM flags.held_back WHERE month = ? AND rule_code IN ('R05', 'R11')",
            [M2],
        )
        reasons = {(r["rule_code"], r["household_key"]): r["reason"] for r in held.iter_rows(named=True)}
        assert set(reasons) == {("R05", "H1"), ("R11", "H2"), ("R11", "H4")}, reasons
        assert "的2026年8月失业登记记录待人工核对匹配" in reasons[("R05", "H1")]
        assert "待受灾的受灾救助记录待人工核对匹配" in reasons[("R11", "H2")]
        assert "待风险的乡村振兴因灾/意外风险记录待人工核对匹配" in reasons[("R11", "H4")]
        text = fired[("H3", "R11")]["evidence_text"]
        assert "受灾救助 2,000 元" in text and "同户待核的受灾救助记录待人工核对匹配" in text, text


# ---------------------------------------------------------------- lifecycle
def _r02_household(fx, m, pc, category="其他", hid="H1"):
    return fx.household(m, hid, [fx_person_cache(fx, hid)], income=pc * 12, category=category)


def fx_person_cache(fx, hid):
    cache = fx.__dict__.setdefault("_people", {})
    if hid not in cache:
        cache[hid] = fx.person(f"户{hid}")
    return cache[hid]


def test_lifecycle_three_months_history_and_rerun(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        for m in (M1, M2, M3):
            fx.loaded(m)
        _r02_household(fx, M1, S - 100)
        _r02_household(fx, M2, S - 100)
        _r02_household(fx, M3, 2 * S)  # income re-assessed: stops firing
        _r02_household(fx, M2, S - 50, hid="H2")  # new in M2, continues in M3
        _r02_household(fx, M3, S - 50, hid="H2")
        for m in (M1, M2, M3):
            run_rules(con, m, PARAMS)
        assert flags(con, M1)[("H1", "R02")]["state"] == "新增"
        r2 = flags(con, M2)[("H1", "R02")]
        assert r2["state"] == "持续" and r2["episode_start"] == M1 and r2["months_open"] == 1
        r3 = flags(con, M3, fired_only=False)[("H1", "R02")]
        assert (r3["state"], r3["fired"], r3["closed_by"], r3["months_open"]) == ("已清零", False, "未再触发", 2)
        assert r3["flag_id"] == flag_id(M3, "R02", "H1")
        assert r3["evidence_text"].startswith("本月未再触发")
        assert flags(con, M3)[("H2", "R02")]["state"] == "持续"
        hist = query_pl(
            con,
            "SELECT month, household_key, to_state, reason, months_open FROM flags.flag_history "
            "WHERE rule_code = 'R02' ORDER BY month, household_key",
        )
        assert hist.rows() == [
            (M1, "H1", "新增", "触发", 0),
            (M2, "H2", "新增", "触发", 0),
            (M3, "H1", "已清零", "未再触发", 2),
        ]
        ttc = query_pl(
            con, "SELECT cleared, mean_months_open FROM flags.time_to_clear WHERE month = ? AND rule_code = 'R02'", [M3]
        )
        assert ttc.rows() == [(1, 2.0)]
        # a cleared flag is written once: nothing for H1 in M4
        M4 = dt.date(2026, 10, 1)
        fx.loaded(M4)
        _r02_household(fx, M4, 2 * S)
        _r02_household(fx, M4, S - 50, hid="H2")
        run_rules(con, M4, PARAMS)
        assert ("H1", "R02") not in flags(con, M4, fired_only=False)
        # reruns are identical, row for row
        tables = ("risk_flags", "flag_history", "rule_runs", "summary_village", "summary_township", "summary_county")
        before = {t: query_pl(con, f"SELECT * FROM flags.{t} ORDER BY ALL") for t in tables}
        ordered = query_pl(con, "SELECT flag_id FROM flags.risk_flags WHERE month = ?", [M2])
        for m in (M2, M3):
            run_rules(con, m, PARAMS)
        for t in tables:
            assert query_pl(con, f"SELECT * FROM flags.{t} ORDER BY ALL").equals(before[t]), t
        assert query_pl(con, "SELECT flag_id FROM flags.risk_flags WHERE month = ?", [M2]).equals(ordered)


def test_disposition_included_closes_and_mismatch_suppresses_until_evidence_changes(wh):
    M4 = dt.date(2026, 10, 1)
    with wh.writer() as con:
        fx = Fixture(con)
        for m in (M1, M2, M3, M4):
            fx.loaded(m)
        for m in (M1, M2, M3, M4):
            _r02_household(fx, m, S - 100, hid="INC")  # keeps firing (registry lags)
            _r02_household(fx, m, S - 100, hid="MIS")
            _r02_household(fx, m, S - 100, hid="WAIT")
        _r02_household(fx, M4, S - 90, hid="MIS0")  # unrelated
        run_rules(con, M1, PARAMS)
        run_rules(con, M2, PARAMS)
        fx.disposition(M3, flag_id(M2, "R02", "INC"), "已纳入救助")
        fx.disposition(M3, flag_id(M2, "R02", "MIS"), "核实不符")
        fx.disposition(M3, flag_id(M2, "R02", "WAIT"), "已核实待救助")
        run_rules(con, M3, PARAMS)
        got = flags(con, M3)
        inc, mis, wait = got[("INC", "R02")], got[("MIS", "R02")], got[("WAIT", "R02")]
        assert (inc["state"], inc["suppressed"], inc["closed_by"]) == ("已清零", True, "已纳入救助")
        assert (mis["state"], mis["suppressed"], mis["closed_by"]) == ("已清零", True, "核实不符")
        assert mis["disposition_flag_id"] == flag_id(M2, "R02", "MIS")
        assert (wait["state"], wait["suppressed"]) == ("持续", False)
        hist = query_pl(
            con,
            "SELECT household_key, reason FROM flags.flag_history WHERE month = ? AND to_state = '已清零' ORDER BY 1",
            [M3],
        )
        assert hist.rows() == [("INC", "已纳入救助"), ("MIS", "核实不符")]
        run_rules(con, M4, PARAMS)
        got = flags(con, M4)
        assert got[("MIS", "R02")]["suppressed"] and got[("MIS", "R02")]["state"] == "已清零"  # evidence unchanged
        # MIS's income changes in M5: evidence changed, the flag is raised again
        M5 = dt.date(2026, 11, 1)
        fx.loaded(M5)
        _r02_household(fx, M5, S - 200, hid="MIS")
        _r02_household(fx, M5, S - 100, hid="INC")
        run_rules(con, M5, PARAMS)
        got = flags(con, M5)
        assert (got[("MIS", "R02")]["state"], got[("MIS", "R02")]["suppressed"]) == ("新增", False)
        assert got[("INC", "R02")]["suppressed"]
        # the caseworker list (active flags) never shows the suppressed ones
        active = query_pl(
            con, "SELECT household_key FROM flags.risk_flags WHERE month = ? AND state IN ('新增','持续')", [M4]
        )
        assert set(active["household_key"]) == {"WAIT", "MIS0"}


def test_disposition_closing_a_flag_that_stopped(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        for m in (M1, M2):
            fx.loaded(m)
        _r02_household(fx, M1, S - 100)
        _r02_household(fx, M2, S - 100, category="低保")  # now enrolled: R02 stops
        run_rules(con, M1, PARAMS)
        fx.disposition(M2, flag_id(M1, "R02", "H1"), "已纳入救助")
        run_rules(con, M2, PARAMS)
        r = flags(con, M2, fired_only=False)[("H1", "R02")]
        assert (r["state"], r["fired"], r["closed_by"]) == ("已清零", False, "已纳入救助")


# ---------------------------------------------------------------- unusable sources
def test_absent_human_resources_skips_r05_r09_without_storm(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        people = [fx.person(f"人{i}") for i in range(6)]
        for m in (M1, M2, M3):
            fx.loaded(m)
            for i, p in enumerate(people):
                fx.household(m, f"H{i}", [p], income=0.8 * S * 12, category="低保")
        fx.con.execute("DELETE FROM ops.load_audit WHERE month = ? AND source = 'human_resources'", [M2])
        fx.loaded(M2, ["human_resources"], status="missing")
        for m in (M1, M3):
            for p in people:
                fx.hr(m, p, "社保缴费", wage=S + 100)  # R09 for every household in M1 and M3
        fx.hr(M2, people[0], "社保缴费", wage=S + 100)  # would-be record of a missing month (never loaded)
        run_rules(con, M1, PARAMS)
        res2 = run_rules(con, M2, PARAMS)
        assert set(res2.skipped) == {"R05", "R09"} and "missing" in res2.skipped["R05"]
        assert not [k for k in flags(con, M2, fired_only=False) if k[1] in ("R05", "R09")]  # no 已清零 storm either
        runs = query_pl(
            con, "SELECT rule_code, status, reason FROM flags.rule_runs WHERE month = ? AND status = 'skipped'", [M2]
        )
        assert set(runs["rule_code"]) == {"R05", "R09"} and all(runs["reason"])
        res3 = run_rules(con, M3, PARAMS)
        assert "R05" in res3.skipped  # needs human_resources of M-1
        assert res3.counts_by_rule["R09"] == 6
        assert {r["state"] for k, r in flags(con, M3).items() if k[1] == "R09"} == {"持续"}  # compared with M1


def test_critical_dq_failure_rejects_source(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        a = fx.person("甲")
        fx.household(M1, "H1", [a], income=12000)
        fx.claim(M1, a, 50000)
        fx.critical(M1, "health_insurance")
        res = run_rules(con, M1, PARAMS)
        assert {"R01", "R04"} <= set(res.skipped) and "critical" in res.skipped["R01"]
        assert ("H1", "R01") not in flags(con, M1)


def test_registry_unusable_withholds_the_month(wh):
    with wh.writer() as con:
        fx = Fixture(con)
        fx.loaded(M1)
        fx.household(M1, "H1", [fx.person("甲")], income=100 * 12)
        assert run_rules(con, M1, PARAMS).counts_by_rule["R02"] == 1
        fx.critical(M1, "registry")
        res = run_rules(con, M1, PARAMS)
        assert res.withheld and "registry" in res.withheld_reason and set(res.skipped) == set(RULES)
        assert not flags(con, M1, fired_only=False)
        status = query_pl(con, "SELECT published, reason FROM flags.month_status WHERE month = ?", [M1])
        assert status.rows()[0][0] is False and status.rows()[0][1]


def test_run_rules_leaves_no_context_on_the_connection(wh):
    """The writer connection is shared with what runs after the rules: none of the context's
    temp tables or views (rule_*, linked_*, pending_*) outlives run_rules."""
    with wh.writer() as con:
        fx = Fixture(con)
        a = fx.person("甲一")
        fx.loaded(M1)
        fx.household(M1, "H1", [a], income=10000)
        run_rules(con, M1, PARAMS)
        left = con.sql(
            "SELECT view_name FROM duckdb_views() WHERE temporary "
            "UNION ALL SELECT table_name FROM duckdb_tables() WHERE temporary"
        ).fetchall()
        assert not [n for (n,) in left if n.startswith(("rule_", "linked_", "pending_"))]
