"""Registry linkage on small hand-made Chinese data (seeded, built here)."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest

from lowincome.linkage import LINK_COLUMNS, LinkageSettings, link_source, read_review_decisions, write_review_list
from lowincome.linkage.clerical import person_token
from lowincome.linkage.explain import evidence_zh
from lowincome.normalize import make_id_number, normalize_id_numbers, normalize_names, split_region_codes

MONTH = dt.date(2026, 8, 1)
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红玉兰")
VILLAGES = [f"62010{c}{t:03d}{v:03d}" for c in (2, 3) for t in (1, 2, 3) for v in (1, 2)]


def _std(raw: dict, source: str) -> pl.DataFrame:
    n = len(raw["name"])
    cols = {
        "month": [MONTH] * n,
        "source": [source] * n,
        "source_file": [f"{source}.csv"] * n,
        "source_row": list(range(1, n + 1)),
    }
    df = pl.DataFrame(cols)
    df = pl.concat([df, normalize_names(pl.Series(raw["name"], dtype=pl.String))], how="horizontal")
    df = pl.concat([df, normalize_id_numbers(pl.Series(raw["id"], dtype=pl.String))], how="horizontal")
    if "region" in raw:
        df = pl.concat([df, split_region_codes(pl.Series(raw["region"], dtype=pl.String))], how="horizontal")
    for k in (
        "birth_date",
        "sex",
        "household_id",
        "rr_household_id",
        "event_type",
        "record_type",
        "category",
        "amount",
    ):
        if k in raw:
            df = df.with_columns(pl.Series(k, raw[k]))
    if source == "registry":
        df = df.with_columns(
            person_key=pl.coalesce(
                pl.col("id_number"), pl.concat_str([pl.col("household_id"), pl.lit("|"), pl.col("name")])
            )
        )
    return df


def _excel_shown(idv: str, plus: int = 0) -> str:
    """An ID as Excel shows it once it took it for a number: 9 significant digits, rounded
    (`plus` adds that many to the last one shown). The check character does not move them."""
    return f"{(int(idv[:17]) * 10 + plus * 10**9):.8E}"


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    reg = {"household_id": [], "name": [], "id": [], "region": [], "birth_date": [], "sex": []}
    seq = 100
    for h in range(150):
        village = VILLAGES[h % len(VILLAGES)]
        surname = SURNAMES[rng.integers(len(SURNAMES))]
        for _m in range(int(rng.integers(1, 5))):
            seq += 1
            given = "".join(rng.choice(GIVEN, int(rng.integers(1, 3))))
            birth = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 25000)))
            male = bool(rng.integers(2))
            s3 = (seq % 500) * 2 + (1 if male else 0)
            reg["household_id"].append(f"H{h:04d}")
            reg["name"].append(surname + given)
            reg["id"].append(make_id_number(village[:6], birth, s3 % 1000))
            reg["region"].append(village)
            reg["birth_date"].append(birth)
            reg["sex"].append("男" if male else "女")
    # two same-name people in one township (different villages), and one person without an ID
    for i, v in enumerate(("620102001001", "620102001002")):
        reg["household_id"].append(f"HS{i}")
        reg["name"].append("欧阳子墨")
        reg["id"].append(make_id_number("620102", dt.date(1970 + i, 3, 3), 11 + 2 * i))
        reg["region"].append(v)
        reg["birth_date"].append(dt.date(1970 + i, 3, 3))
        reg["sex"].append("男")
    registry = _std(reg, "registry")
    return rng, reg, registry


def _records(world):
    """Health-insurance-like records with known truth (registry_row or None)."""
    rng, reg, registry = world
    n = registry.height
    rec = {"name": [], "id": [], "region": [], "birth_date": [], "sex": []}
    truth = []

    def add(i, name=None, id_=None, region=None, birth="same"):
        rec["name"].append(name if name is not None else reg["name"][i])
        rec["id"].append(id_)
        rec["region"].append(region if region is not None else reg["region"][i])
        rec["birth_date"].append(reg["birth_date"][i] if birth == "same" else birth)
        rec["sex"].append(reg["sex"][i])
        truth.append(i + 1)

    people = rng.permutation(n - 2)
    for i in people[:200]:  # exact IDs, messy formats
        idv = reg["id"][i]
        fmt = int(rng.integers(4))
        idv = [
            idv,
            idv[:6] + " " + idv[6:],
            idv.lower(),
            "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in idv),
        ][fmt]
        add(i, id_=idv, name=reg["name"][i] if i % 3 else " " + reg["name"][i])
    for i in people[200:215]:  # one-digit typo (invalid check digit)
        idv = reg["id"][i]
        p = 8 + int(rng.integers(6))
        add(i, id_=idv[:p] + str((int(idv[p]) + 1) % 10) + idv[p + 1 :])
    for i in people[215:230]:  # adjacent transposition
        idv = reg["id"][i]
        p = next((k for k in range(10, 16) if idv[k] != idv[k + 1]), 10)
        add(i, id_=idv[:p] + idv[p + 1] + idv[p] + idv[p + 2 :])
    for i in people[
        230:250
    ]:  # ID lost (Excel-mangled: its own leading digits survive / blank), birth date and region kept
        idv = reg["id"][i]
        add(i, id_=[_excel_shown(idv), None][i % 2])
    for i in people[250:260]:  # traditional / homophone name with a valid ID
        nm = reg["name"][i].replace("陈", "陳").replace("国", "國").replace("华", "華")
        add(i, name=nm[:-1] + ("小" if nm[-1] != "小" else "晓"), id_=reg["id"][i])
    # a valid ID of a registry person, but a completely different name -> review
    i = int(people[260])
    add(i, name="司马相如", id_=reg["id"][i])
    conflict_row = len(truth)
    # outsiders with valid IDs (not in the registry)
    for k in range(8):
        rec["name"].append("诸葛" + GIVEN[k])
        rec["id"].append(make_id_number("620105", dt.date(1980, 1, 1 + k), 201 + 2 * k))
        rec["region"].append("620105001001")
        rec["birth_date"].append(dt.date(1980, 1, 1 + k))
        rec["sex"].append("男")
        truth.append(None)
    # same name, same township, no ID and no birth date -> not linked
    rec["name"].append("欧阳子墨")
    rec["id"].append(None)
    rec["region"].append("620102001000")
    rec["birth_date"].append(None)
    rec["sex"].append("男")
    truth.append(None)
    ambiguous_row = len(truth)
    records = _std(rec, "health_insurance")
    return records, truth, conflict_row, ambiguous_row


def test_chinese_linkage_end_to_end(world, tmp_path):
    _, _, registry = world
    records, truth, conflict_row, ambiguous_row = _records(world)
    res = link_source(registry, records, "health_insurance", LinkageSettings())
    links = res.links
    assert links.columns == list(LINK_COLUMNS)
    assert links.height == records.height
    assert links["match_score"].is_between(0, 1).all()
    assert set(links["method"].unique()) <= {"exact_id", "probabilistic", "clerical"}

    t = pl.DataFrame(
        {"source_row": list(range(1, len(truth) + 1)), "truth": truth},
        schema={"source_row": pl.Int32, "truth": pl.Int32},
    )
    j = links.join(t, on="source_row")
    acc = j.filter(pl.col("decision") == "accept")
    tp = int((acc["registry_row"] == acc["truth"]).fill_null(False).sum())
    precision = tp / max(acc.height, 1)
    recall = tp / int(t["truth"].is_not_null().sum() - 1)  # the conflict record goes to review by design
    assert precision == 1.0, acc.filter(pl.col("registry_row") != pl.col("truth"))
    assert recall >= 0.98, j.filter(pl.col("truth").is_not_null() & (pl.col("decision") != "accept"))

    conflict = links.filter(pl.col("source_row") == conflict_row).row(0, named=True)
    assert (conflict["method"], conflict["decision"]) == ("exact_id", "review")
    amb = links.filter(pl.col("source_row") == ambiguous_row).row(0, named=True)
    assert amb["decision"] != "accept"
    # typo'd and transposed IDs are found probabilistically
    typo = j.filter(pl.col("source_row").is_between(201, 230))
    assert (typo["method"] == "probabilistic").all()
    assert (typo["registry_row"] == typo["truth"]).all()

    m = res.metrics
    assert m["exact"] + m["probabilistic"] + m["clerical"] + m["review"] + m["unmatched"] == records.height
    assert m["exact"] >= 200 and m["candidate_pairs"] > 0
    # candidates stay few per record that needed the probabilistic stage
    assert m["candidate_pairs"] / max(records.height - m["exact"], 1) < 50

    # review list round trip -> clerical decisions applied on rerun
    path = write_review_list(links, registry, records, tmp_path / "2026-08" / "review_decisions_health_insurance.xlsx")
    assert path is not None
    sheet = pl.read_excel(path, sheet_name="待复核匹配")
    assert "人工判定" in sheet.columns and "记录身份证号" in sheet.columns
    ids = sheet["记录身份证号"].drop_nulls()
    assert ids.str.contains(r"^\w{6}\*+\w{4}$").all()
    # the clerk says the conflict record is the same person
    import openpyxl

    wb = openpyxl.load_workbook(path)
    ws = wb["待复核匹配"]
    hdr = [c.value for c in ws[1]]
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, hdr.index("来源行号") + 1).value == conflict_row:
            ws.cell(r, hdr.index("人工判定") + 1).value = "同一人"
    wb.save(path)
    decisions = read_review_decisions(tmp_path)
    assert decisions.height == 1 and decisions["decision"][0] == "match"
    res2 = link_source(registry, records, "health_insurance", LinkageSettings(), clerical=decisions)
    row = res2.links.filter(pl.col("source_row") == conflict_row).row(0, named=True)
    assert (row["method"], row["decision"]) == ("clerical", "accept")
    assert res2.metrics["clerical"] == 1

    # a later month: same record (other source_row) still takes the clerical decision
    later = records.with_columns(month=pl.lit(dt.date(2026, 9, 1)), source_row=pl.col("source_row") + 1000)
    res3 = link_source(registry, later, "health_insurance", LinkageSettings(), clerical=decisions)
    row = res3.links.filter(pl.col("source_row") == conflict_row + 1000).row(0, named=True)
    assert (row["method"], row["decision"]) == ("clerical", "accept")


def test_non_match_decision_removes_the_pair(world, tmp_path):
    """A clerk's 非同一人 removes the pair: the record is never again linked to, or offered for
    review with, the person the clerk rejected; both for the exact-ID conflict record (in
    review without a decision) and for a record accepted without one (a typo'd ID)."""
    _, _, registry = world
    records, _, conflict_row, _ = _records(world)
    links = link_source(registry, records, "health_insurance", LinkageSettings()).links
    conflict = links.filter(pl.col("source_row") == conflict_row).row(0, named=True)
    nm = pl.DataFrame(
        {
            "month": [MONTH],
            "source": ["health_insurance"],
            "source_row": [conflict_row],
            "registry_person_key": [person_token(conflict["registry_person_key"])],
            "decision": ["non_match"],
            "record_key": [None],
        },
        schema_overrides={"record_key": pl.String},
    )
    res4 = link_source(registry, records, "health_insurance", LinkageSettings(), clerical=nm)
    row = res4.links.filter(pl.col("source_row") == conflict_row).row(0, named=True)
    assert (
        row["registry_person_key"] is None or person_token(row["registry_person_key"]) != nm["registry_person_key"][0]
    ), row
    typo_row = 201
    before = links.filter(pl.col("source_row") == typo_row).row(0, named=True)
    assert before["decision"] == "accept" and before["registry_person_key"] is not None
    reject = nm.with_columns(
        source_row=pl.lit(typo_row, dtype=nm["source_row"].dtype),
        registry_person_key=pl.lit(person_token(before["registry_person_key"])),
    )
    res5 = link_source(registry, records, "health_insurance", LinkageSettings(), clerical=reject)
    after = res5.links.filter(pl.col("source_row") == typo_row).row(0, named=True)
    assert after["registry_person_key"] != before["registry_person_key"], after


def test_household_context_strengthens_weak_member(world):
    """A member whose ID is lost and whose region is only the township (weak
    evidence: name + township) scores higher, and is linked, because the rest of
    its 监测户 links to the same registry household."""
    _, reg, registry = world
    frame = pl.DataFrame(reg).with_row_index("i")
    sizes = frame.group_by("household_id").agg(pl.col("i"), pl.len().alias("n")).sort("household_id")
    target = sizes.filter(pl.col("n") >= 3).row(0, named=True)
    rec = {"name": [], "id": [], "region": [], "rr_household_id": []}
    for h in sizes.filter(pl.col("household_id") != target["household_id"]).head(60).iter_rows(named=True):
        for i in h["i"]:
            rec["name"].append(reg["name"][i])
            rec["id"].append(reg["id"][i])
            rec["region"].append(reg["region"][i])
            rec["rr_household_id"].append("RR" + h["household_id"])
    idx = target["i"]
    for k, i in enumerate(idx):
        weak = k == len(idx) - 1
        nm = reg["name"][i]
        rec["name"].append(nm)
        rec["id"].append(None if weak else reg["id"][i])
        rec["region"].append(reg["region"][i][:9] + "000" if weak else reg["region"][i])
        rec["rr_household_id"].append("RR-TARGET")
    records = _std(rec, "rural_revitalization")
    weak_row_no = records.height
    res = link_source(registry, records, "rural_revitalization", LinkageSettings())
    with_ctx = res.links.filter(pl.col("source_row") == weak_row_no).row(0, named=True)
    assert with_ctx["registry_row"] == idx[-1] + 1
    assert with_ctx["decision"] == "accept"
    assert '"household":2' in with_ctx["detail"]
    no_ctx = link_source(registry, records, "rural_revitalization", LinkageSettings(household_factor=1.0))
    row = no_ctx.links.filter(pl.col("source_row") == weak_row_no).row(0, named=True)
    assert with_ctx["match_score"] > row["match_score"]


def test_empty_records(world):
    _, _, registry = world
    empty = registry.head(0).select(
        "month",
        "source",
        "source_file",
        "source_row",
        "name",
        "name_raw",
        "name_pinyin",
        "id_number",
        "id_number_raw",
        "id_invalid_reason",
        "id_birth_date",
        "id_sex",
    )
    res = link_source(registry, empty, "human_resources", LinkageSettings())
    assert res.links.height == 0 and res.links.columns == list(LINK_COLUMNS)
    assert res.metrics["unmatched"] == 0


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("LINKAGE_ACCEPT", "0.95")
    monkeypatch.setenv("LINKAGE_CLASSIFIER", "ecm")
    s = LinkageSettings.from_env()
    assert s.accept == 0.95 and s.classifier == "ecm" and s.review == LinkageSettings().review


def _namesakes_in_one_village(world):
    """Two registered 上官婉儿 in one village; civil_affairs records: ordinary
    exact-ID ones, one 上官婉儿 without ID, one with the first's ID one digit off."""
    _, reg, _ = world
    reg = {k: list(v) for k, v in reg.items()}
    village = "620103002001"
    births = {"HTWIN": dt.date(1966, 5, 17), "HTWIN2": dt.date(1971, 2, 3)}
    ids = {h: make_id_number(village[:6], b, 37 + i) for i, (h, b) in enumerate(births.items())}
    for h in births:
        reg["household_id"].append(h)
        reg["name"].append("上官婉儿")
        reg["id"].append(ids[h])
        reg["region"].append(village)
        reg["birth_date"].append(births[h])
        reg["sex"].append("女")
    registry = _std(reg, "registry")
    twin_row = registry.height - 1  # HTWIN
    rec = {"name": [], "id": [], "region": []}
    for i in range(len(reg["name"]) - 2):  # ordinary exact-ID records: the classifier's training seeds
        rec["name"].append(reg["name"][i])
        rec["id"].append(reg["id"][i])
        rec["region"].append(reg["region"][i])
    own_id = ids["HTWIN"]
    typo = own_id[:10] + str((int(own_id[10]) + 3) % 10) + own_id[11:]
    cases = {
        "namesake_blank": (None, village),  # two 上官婉儿 in the village: undecidable
        "typo": (typo, village),
    }
    rows = {}
    for key, (idv, region) in cases.items():
        rec["name"].append("上官婉儿")
        rec["id"].append(idv)
        rec["region"].append(region)
        rows[key] = len(rec["name"])
    return registry, _std(rec, "civil_affairs"), rows, twin_row


def test_name_and_village_alone_link_only_a_unique_name(world):
    """Name + village make a link only when the name is unique in the village (in
    the registry and among the delivery's records with other IDs): with a namesake
    registered in the same village, a record without ID and birth date (civil_affairs
    has no birth-date field) goes to review; the registry person's own record with
    a one-digit typo in the ID is accepted on the ID evidence."""
    registry, records, rows, twin_row = _namesakes_in_one_village(world)
    links = link_source(registry, records, "civil_affairs", LinkageSettings()).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    blank = by_row[rows["namesake_blank"]]
    assert blank["decision"] == "review" and blank["method"] == "probabilistic", blank
    assert json.loads(blank["detail"])["evidence"] == []
    t = by_row[rows["typo"]]
    assert (t["decision"], t["registry_row"], t["method"]) == ("accept", twin_row, "probabilistic")
    assert "id" in json.loads(t["detail"])["evidence"]


def test_unique_name_partial_id_and_enrolled_events_are_evidence(world):
    """Evidence the engine reads besides ID and birth date: a name unique in the
    village links a 低保金 payment without ID (paid only to enrolled persons: its
    population is the registry), not a disaster-relief payment that anyone can
    receive; an Excel-mangled ID whose surviving digits agree links with the exact
    name, one whose digits disagree does not; the payment carries the enrolled-only
    prior and shows it in its waterfall."""
    _, reg, _ = world
    reg = {k: list(v) for k, v in reg.items()}
    village = "620104003002"
    birth = dt.date(1958, 9, 9)
    own_id = make_id_number(village[:6], birth, 41)
    reg["household_id"].append("HSOLO")
    reg["name"].append("欧阳修竹")
    reg["id"].append(own_id)
    reg["region"].append(village)
    reg["birth_date"].append(birth)
    reg["sex"].append("男")
    registry = _std(reg, "registry")
    solo_row = registry.height
    rec = {"name": [], "id": [], "region": [], "event_type": []}
    for i in range(len(reg["name"]) - 1):
        rec["name"].append(reg["name"][i])
        rec["id"].append(reg["id"][i])
        rec["region"].append(reg["region"][i])
        rec["event_type"].append("临时救助")
    cases = {
        "blank_payment": (None, "低保金发放"),
        "blank_relief": (None, "受灾救助"),
        "mangled_wrong": ("6.20104199E+17", "受灾救助"),  # born 199x: not the 1958 欧阳修竹
        "mangled_right": (_excel_shown(own_id), "受灾救助"),  # as Excel shows it: 9 digits, rounded
        # one less in the last digit (6.20104195E+17: born 1945-1954), what cutting the digits
        # instead of rounding them would show: someone else, not this 1958 ID
        "mangled_next": (_excel_shown(own_id, -1), "受灾救助"),
        # an ID stored as an xlsx number, read back through a double: 16 digits, the last one
        # off by one (a double holds ~16 digits), still this ID
        "xlsx_number": (f"{own_id[0]}.{str(int(own_id[:16]) + 1)[1:]}E+17", "受灾救助"),
    }
    rows = {}
    for key, (idv, event) in cases.items():
        rec["name"].append("欧阳修竹")
        rec["id"].append(idv)
        rec["region"].append(village)
        rec["event_type"].append(event)
        rows[key] = len(rec["name"])
    records = _std(rec, "civil_affairs")
    links = link_source(registry, records, "civil_affairs", LinkageSettings()).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    for key, kind in (("blank_payment", "unique_name"), ("mangled_right", "id_prefix"), ("xlsx_number", "id_prefix")):
        r = by_row[rows[key]]
        assert (r["decision"], r["registry_row"]) == ("accept", solo_row), (key, r)
        assert kind in json.loads(r["detail"])["evidence"]
    relief = by_row[rows["blank_relief"]]
    assert (relief["decision"], relief["registry_row"]) == ("review", solo_row), relief
    assert by_row[rows["mangled_wrong"]]["decision"] != "accept"
    assert json.loads(by_row[rows["mangled_wrong"]]["detail"])["id"] == "disagree"
    nxt = by_row[rows["mangled_next"]]
    assert nxt["decision"] != "accept" and json.loads(nxt["detail"])["id"] == "disagree", nxt
    pay = json.loads(by_row[rows["blank_payment"]]["detail"])
    relief = json.loads(relief["detail"])
    assert pay["weights"]["enrolled_only_event"] == 3.0 and relief["weights"]["enrolled_only_event"] == 0.0
    assert pay["name_rarity"].startswith("unique_")


def _with_people(world, people):
    """The world's registry (no category) plus `people`: (household, name, village, birth, category)."""
    _, reg, _ = world
    reg = {k: list(v) for k, v in reg.items()}
    reg["category"] = [None] * len(reg["name"])
    rows = {}
    for k, (hh, name, village, birth, category) in enumerate(people):
        reg["household_id"].append(hh)
        reg["name"].append(name)
        reg["id"].append(make_id_number(village[:6], birth, 301 + 2 * k))
        reg["region"].append(village)
        reg["birth_date"].append(birth)
        reg["sex"].append("男")
        reg["category"].append(category)
        rows[hh] = len(reg["name"])
    return reg, _std(reg, "registry"), rows


def test_what_a_payment_implies_separates_namesakes(world):
    """A 低保金 payment delivered with the name alone (no ID, no region) whose name two
    registry persons hold: the payment goes to a 低保 household, so the 特困 namesake is
    ruled out (category_mismatch) and the 低保 one is the only namesake the event fits
    (sole_namesake): linked, and the 特困供养金 payment to the other. Two namesakes of the
    same category stay in review; a 临时救助 (anyone can receive it) is not linked."""
    reg, registry, rows = _with_people(
        world,
        [
            ("HD1", "司马相如", "620102001001", dt.date(1950, 5, 5), "低保"),
            ("HT1", "司马相如", "620103002001", dt.date(1948, 6, 6), "特困"),
            ("HD2", "诸葛孔明", "620102001002", dt.date(1951, 7, 7), "低保"),
            ("HD3", "诸葛孔明", "620103001001", dt.date(1960, 8, 8), "低保"),
        ],
    )
    rec = {"name": [], "id": [], "region": [], "event_type": []}
    for i in range(len(reg["name"]) - 4):  # the month's exact-ID records: the classifier's seeds
        rec["name"].append(reg["name"][i])
        rec["id"].append(reg["id"][i])
        rec["region"].append(reg["region"][i])
        rec["event_type"].append("临时救助")
    cases = {
        "dibao": ("司马相如", "低保金发放"),
        "tekun": ("司马相如", "特困供养金发放"),
        "relief": ("司马相如", "临时救助"),
        "twins": ("诸葛孔明", "低保金发放"),
    }
    at = {}
    for key, (name, event) in cases.items():
        rec["name"].append(name)
        rec["id"].append(None)
        rec["region"].append(None)
        rec["event_type"].append(event)
        at[key] = len(rec["name"])
    links = link_source(registry, _std(rec, "civil_affairs"), "civil_affairs", LinkageSettings()).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    for key, hh in (("dibao", "HD1"), ("tekun", "HT1")):
        r = by_row[at[key]]
        assert (r["decision"], r["registry_row"]) == ("accept", rows[hh]), (key, r)
        d = json.loads(r["detail"])
        assert "sole_namesake" in d["evidence"] and d["weights"]["sole_namesake"] > 0, d
        assert d["name_rarity"] == "shared" and not d["category_mismatch"], d
    assert by_row[at["relief"]]["decision"] != "accept"
    twins = by_row[at["twins"]]
    assert twins["decision"] == "review" and twins["registry_row"] in (rows["HD2"], rows["HD3"]), twins
    assert json.loads(twins["detail"])["ambiguous"] is True


def test_pension_to_a_child_is_ruled_out(world):
    """A pension needs retirement age: a pension delivered with the name alone is not a
    candidate link to a child namesake (age_implausible: not even reviewed), and beside an
    elderly namesake the child is no rival. The elderly one is reviewed, not linked: the
    name is not evidence for a record anyone in the population can have."""
    reg, registry, rows = _with_people(
        world,
        [
            ("HC1", "慕容复", "620102002001", dt.date(2016, 1, 1), None),
            ("HE1", "东方不败", "620102002002", dt.date(1950, 2, 2), None),
            ("HC2", "东方不败", "620103002002", dt.date(2018, 3, 3), None),
        ],
    )
    rec = {"name": [], "id": [], "record_type": []}
    for i in range(len(reg["name"]) - 3):
        rec["name"].append(reg["name"][i])
        rec["id"].append(reg["id"][i])
        rec["record_type"].append("养老金发放")
    at = {}
    for key, name in (("child", "慕容复"), ("elder", "东方不败")):
        rec["name"].append(name)
        rec["id"].append(None)
        rec["record_type"].append("养老金发放")
        at[key] = len(rec["name"])
    links = link_source(registry, _std(rec, "human_resources"), "human_resources", LinkageSettings()).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    child = by_row[at["child"]]
    assert child["decision"] == "none" and child["registry_row"] is None, child
    assert json.loads(child["detail"])["age_implausible"] is True
    elder = by_row[at["elder"]]
    assert (elder["decision"], elder["registry_row"]) == ("review", rows["HE1"]), elder
    d = json.loads(elder["detail"])
    assert d["ambiguous"] is False and not d["age_implausible"] and d["runner_up_score"] < 0.4, d


def test_pension_account_history_links_a_name_only_pension(world):
    """Link history by the agency's record key: a pension linked by ID last month is the same
    account this month when name and monthly amount agree, so the pension delivered with the
    name alone is linked on that history; one of another amount (another account) is not."""
    reg, registry, rows = _with_people(world, [("HP1", "欧阳锋", "620102003001", dt.date(1950, 4, 4), None)])
    seeds = len(reg["name"]) - 1
    first = link_source(
        registry, _pensions(reg, seeds, [("欧阳锋", reg["id"][-1], 239.0)]), "human_resources", LinkageSettings()
    )
    assert first.links.filter(pl.col("source_row") == seeds + 1)["decision"].to_list() == ["accept"]
    second = _pensions(reg, seeds, [("欧阳锋", None, 239.0), ("欧阳锋", None, 3020.0)])
    links = link_source(registry, second, "human_resources", LinkageSettings(), history=first.record_keys).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    same, other = by_row[seeds + 1], by_row[seeds + 2]
    assert (same["decision"], same["registry_row"]) == ("accept", rows["HP1"]), same
    assert json.loads(same["detail"])["evidence"] == ["history"]
    assert other["decision"] == "review" and json.loads(other["detail"])["history"] == "missing", other


def _pensions(reg, seeds: int, extra) -> pl.DataFrame:
    """A 人社 delivery: the first `seeds` registry persons' pensions by ID, then `extra`
    (name, ID or None, amount)."""
    rec = {"name": [], "id": [], "record_type": [], "amount": []}
    rows = [(reg["name"][i], reg["id"][i], 200.0 + i) for i in range(seeds)] + list(extra)
    for name, idv, amount in rows:
        rec["name"].append(name)
        rec["id"].append(idv)
        rec["record_type"].append("养老金发放")
        rec["amount"].append(amount)
    return _std(rec, "human_resources")


def test_history_key_also_held_by_someone_outside_the_registry_is_no_evidence(world):
    """A flat pension amount and a common name: last month both the registry person (by ID)
    and a namesake outside the registry (valid ID, linked to nobody) were paid 239 yuan. This
    month's name-only 239-yuan pension may be either: the key is not evidence, it is reviewed."""
    reg, registry, _ = _with_people(world, [("HP1", "欧阳锋", "620102003001", dt.date(1950, 4, 4), None)])
    seeds = len(reg["name"]) - 1
    outsider = make_id_number("620103", dt.date(1952, 6, 6), 517)
    first = link_source(
        registry,
        _pensions(reg, seeds, [("欧阳锋", reg["id"][-1], 239.0), ("欧阳锋", outsider, 239.0)]),
        "human_resources",
        LinkageSettings(),
    )
    decisions = first.links.filter(pl.col("source_row") > seeds)["decision"].to_list()
    assert decisions == ["accept", "none"]
    owners = first.record_keys.group_by("record_key").len().filter(pl.col("len") > 1)
    assert owners.height == 1  # the key of 欧阳锋 / 养老金发放 / 239: two persons
    links = link_source(
        registry,
        _pensions(reg, seeds, [("欧阳锋", None, 239.0)]),
        "human_resources",
        LinkageSettings(),
        history=first.record_keys,
    ).links
    row = links.filter(pl.col("source_row") == seeds + 1).row(0, named=True)
    assert row["decision"] == "review" and json.loads(row["detail"])["history"] == "missing", row


def test_a_person_who_enters_the_registry_keeps_the_history_of_their_own_id(world):
    """Last month 欧阳锋 was not in the registry: the pension paid on his valid ID linked to
    nobody, and its key was left to `other:<his ID>`. This month he is enrolled and the same
    239-yuan pension comes with the name alone: the key's last holder is this person (the
    same ID), not someone else -- linked on that history, not held against him."""
    reg, registry, rows = _with_people(world, [("HP1", "欧阳锋", "620102003001", dt.date(1950, 4, 4), None)])
    seeds = len(reg["name"]) - 1
    before = registry.head(registry.height - 1)  # the registry without him
    first = link_source(before, _pensions(reg, seeds, [("欧阳锋", reg["id"][-1], 239.0)]), "human_resources")
    assert first.links.filter(pl.col("source_row") == seeds + 1)["decision"].to_list() == ["none"]
    assert first.record_keys["person_key"].str.starts_with("other:").sum() == 1
    links = link_source(
        registry, _pensions(reg, seeds, [("欧阳锋", None, 239.0)]), "human_resources", history=first.record_keys
    ).links
    row = links.filter(pl.col("source_row") == seeds + 1).row(0, named=True)
    assert (row["decision"], row["registry_row"]) == ("accept", rows["HP1"]), row
    assert json.loads(row["detail"])["history"] == "same_person", row


def test_a_key_last_held_outside_the_registry_says_nothing_of_a_person_without_an_id(world):
    """Last month 慕容复's claims carried his valid ID and he was not in the registry: the key
    (name, county, birth date) went to `other:<his ID>`. This month he is enrolled, but the
    registry holds him without an ID, and his claim comes without one. Whether the key's last
    holder is he cannot be told: history is unknown (weight 0), not "someone else" -- the
    claim is linked on name, birth date and place, as a first claim would be."""
    reg, registry, rows = _with_people(world, [("HK1", "慕容复", "620102003005", dt.date(1953, 3, 3), None)])
    his_id = reg["id"][-1]
    reg["id"][-1] = None
    registry = _std(reg, "registry")
    before = registry.head(registry.height - 1)
    n = len(reg["name"]) - 1

    def claims(last_id):
        rec = {k: list(reg[k][:n]) for k in ("name", "id", "region", "birth_date", "sex")}
        for k, v in zip(
            ("name", "id", "region", "birth_date", "sex"),
            ("慕容复", last_id, "620102003005", dt.date(1953, 3, 3), "男"),
        ):
            rec[k].append(v)
        return _std(rec, "health_insurance")

    first = link_source(before, claims(his_id), "health_insurance")
    assert first.links["decision"][-1] == "none"
    assert first.record_keys["person_key"].str.starts_with("other:").sum() == 1
    second = link_source(registry, claims(None), "health_insurance", history=first.record_keys).links
    row = second.row(second.height - 1, named=True)
    assert json.loads(row["detail"])["history"] == "missing", row
    assert (row["decision"], row["registry_row"]) == ("accept", rows["HK1"]), row


def test_a_record_without_history_keeps_its_weight_when_the_seeds_carry_history(world):
    """The classifier trains on records linked by ID, which mostly carry last month's link;
    the records it scores mostly do not. A claim with exact name, birth date and village but
    no ID, first seen this month, keeps the weight of what it has when the seeds have history
    (training copies without history, settings training.masks)."""
    rng, reg, registry = world
    n = registry.height - 2
    rec = {"name": list(reg["name"][:n]), "id": list(reg["id"][:n]), "region": list(reg["region"][:n])}
    rec["birth_date"], rec["sex"] = list(reg["birth_date"][:n]), list(reg["sex"][:n])
    new = int(rng.integers(n))
    for k in rec:
        rec[k].append(reg[k][new] if k != "id" else None)
    records = _std(rec, "health_insurance")
    first = link_source(registry, records, "health_insurance")
    # last month's keys: every seed, but not the new claim (its key is this month's only)
    history = first.record_keys.filter(pl.col("person_key") != first.links["registry_person_key"][-1])
    second = link_source(registry, records, "health_insurance", history=history)
    before, after = (res.links.row(res.links.height - 1, named=True) for res in (first, second))
    assert json.loads(after["detail"])["history"] == "missing", after
    assert before["decision"] == after["decision"] == "accept", (before, after)

    # what such a claim has: exact name, birth date and village. Trained on seeds that always
    # carry history, the model leaned on it and these weights shrank to 0.36 of their value
    # (4.1 of 11.4 log-odds); with the training copies without history they keep 0.58
    def what_it_has(res) -> float:
        w = json.loads(res.model_run["model"])["weights"]
        return w["name"]["exact"] + w["birth"]["exact"] + w["region"]["village"]

    without, with_history = what_it_has(first), what_it_has(second)
    assert with_history >= 0.5 * without, (with_history, without)


def test_name_counts_of_the_registry_are_kept_but_not_the_other_persons_of_a_delivery(world):
    """The registry's name counts are computed once a month and reused by each source;
    the persons outside the registry are the delivery's own. A 低保金 payment to 欧阳锋 by
    name alone: his name is unique in the county for a delivery without other 欧阳锋, and
    shared for one that also pays an outsider 欧阳锋 (a valid ID not in the registry) --
    whichever delivery is linked first."""
    reg, registry, _ = _with_people(world, [("HP1", "欧阳锋", "620102003001", dt.date(1950, 4, 4), "低保")])
    seeds = len(reg["name"]) - 1
    outsider = make_id_number("620102", dt.date(1952, 6, 6), 517)

    def delivery(extra):
        rec = {"name": [], "id": [], "region": [], "event_type": []}
        for name, idv, region in [(reg["name"][i], reg["id"][i], reg["region"][i]) for i in range(seeds)] + extra:
            rec["name"].append(name)
            rec["id"].append(idv)
            rec["region"].append(region)
            rec["event_type"].append("低保金发放")
        return _std(rec, "civil_affairs")

    alone = delivery([("欧阳锋", None, "620102003001")])
    beside = delivery([("欧阳锋", None, "620102003001"), ("欧阳锋", outsider, "620102003001")])
    for order in ((alone, beside), (beside, alone)):
        rarity = {}
        for frame in order:
            links = link_source(registry, frame, "civil_affairs").links
            row = links.filter(pl.col("source_row") == seeds + 1).row(0, named=True)
            rarity[frame is alone] = json.loads(row["detail"])["name_rarity"]
        assert rarity[True].startswith("unique"), rarity
        assert rarity[False] == "shared", rarity


def test_a_mangled_id_meets_a_registry_person_without_an_id(world):
    """A registry person whose own ID is missing, paid a pension: last month's record carried
    a valid ID (linked by name, birth date and sex, the ID's); this month's arrives
    Excel-mangled (only its birth region survives) and without a residence. The mangled ID
    cannot meet the person through the ID region (the registry has none for them): the name
    block among registry persons without an ID does, and the pension account's history links it."""
    reg, _, rows = _with_people(world, [("HN1", "西门吹雪", "620102003003", dt.date(1950, 9, 9), None)])
    own_id = reg["id"][-1]
    reg["id"][-1] = None
    registry = _std(reg, "registry")
    seeds = len(reg["name"]) - 1
    first = link_source(
        registry, _pensions(reg, seeds, [("西门吹雪", own_id, 239.0)]), "human_resources", LinkageSettings()
    )
    row = first.links.filter(pl.col("source_row") == seeds + 1).row(0, named=True)
    assert (row["decision"], row["registry_row"]) == ("accept", rows["HN1"]), row
    mangled = _excel_shown(own_id)
    second = link_source(
        registry,
        _pensions(reg, seeds, [("西门吹雪", mangled, 239.0), ("西门吹雪", mangled, 3020.0)]),
        "human_resources",
        LinkageSettings(),
        history=first.record_keys,
    ).links
    same, other = (second.filter(pl.col("source_row") == seeds + k).row(0, named=True) for k in (1, 2))
    assert (same["decision"], same["registry_row"]) == ("accept", rows["HN1"]), same
    assert json.loads(same["detail"])["evidence"] == ["history"]
    # another account: a candidate for review, no longer "no candidate"
    assert (other["decision"], other["registry_row"]) == ("review", rows["HN1"]), other


def test_name_rarity_weighs_exact_names_only(world):
    """How rare a name is says something only when the names are equal: a homophone (陳 for
    陈, 小 for 晓) is weighed once, by the name comparison; its rarity is not known (weight 0),
    never a second penalty for the same difference."""
    reg, registry, _ = _with_people(world, [("HR1", "陈晓明", "620102003004", dt.date(1958, 2, 2), None)])
    rec = {"name": [], "id": [], "region": [], "birth_date": []}
    for i in range(len(reg["name"]) - 1):
        rec["name"].append(reg["name"][i])
        rec["id"].append(reg["id"][i])
        rec["region"].append(reg["region"][i])
        rec["birth_date"].append(reg["birth_date"][i])
    for name in ("陳小明", "陈晓明"):
        rec["name"].append(name)
        rec["id"].append(None)
        rec["region"].append("620102003004")
        rec["birth_date"].append(dt.date(1958, 2, 2))
    n = len(rec["name"])
    links = link_source(registry, _std(rec, "health_insurance"), "health_insurance", LinkageSettings()).links
    homophone, exact = (json.loads(links.filter(pl.col("source_row") == k)["detail"][0]) for k in (n - 1, n))
    assert homophone["name"] == "pinyin" and homophone["name_rarity"] == "missing", homophone
    assert homophone["weights"]["name_rarity"] == 0.0
    assert exact["name"] == "exact" and exact["name_rarity"].startswith("unique_"), exact


def _typo(idv: str, pos: int) -> str:
    """`idv` with the digit at `pos` changed: fails the check digit (or is a wrong one)."""
    c = idv[pos]
    return idv[:pos] + (str((int(c) + 3) % 10) if c.isdigit() else "1") + idv[pos + 1 :]


def test_two_typos_one_on_each_side_are_no_contradiction(world):
    """The registry holds a person's ID with a typo and the agency's record another typo of
    the same ID: both fail the check digit, two places apart. That is no ID pointing to
    someone else: the name and the birth date (which the record's ID still carries) link it.
    A record two places from a registry ID that passes the check digit still contradicts it."""
    reg, _, rows = _with_people(
        world,
        [
            ("HT2", "上官婉儿", "620102003005", dt.date(1955, 5, 5), None),
            ("HT3", "公孙胜", "620102003006", dt.date(1956, 6, 6), None),
        ],
    )
    true_id, valid_id = reg["id"][-2], reg["id"][-1]
    reg["id"][-2] = _typo(true_id, 14)  # the registry's own typo
    registry = _std(reg, "registry")
    seeds = len(reg["name"]) - 2
    links = link_source(
        registry,
        _pensions(
            reg,
            seeds,
            [("上官婉儿", _typo(true_id, 17), 250.0), ("公孙胜", _typo(_typo(valid_id, 14), 17), 260.0)],
        ),
        "human_resources",
        LinkageSettings(),
    ).links
    both, one_side = (links.filter(pl.col("source_row") == seeds + k).row(0, named=True) for k in (1, 2))
    d = json.loads(both["detail"])
    assert d["id"] == "d2_both_typos" and "contradicted" not in d["evidence"] and "birth" in d["evidence"], d
    assert (both["decision"], both["registry_row"]) == ("accept", rows["HT2"]), both
    assert json.loads(one_side["detail"])["id"] == "disagree" and one_side["decision"] != "accept", one_side


def test_a_second_name_only_post_of_a_person_linked_by_id_is_reviewed(world):
    """One person holds one public-welfare post a month: when this month's delivery already
    links the person's 公益性岗位 by exact ID, a second one carrying only the name is a
    namesake until a clerk says otherwise (claimed), even with last month's record key."""
    reg, registry, rows = _with_people(world, [("HG1", "独孤求败", "620102003007", dt.date(1980, 7, 7), None)])
    seeds = len(reg["name"]) - 1

    def posts(extra) -> pl.DataFrame:
        rec = {"name": [], "id": [], "record_type": []}
        wages = []
        for name, idv, wage in [(reg["name"][i], reg["id"][i], 1000.0 + i) for i in range(seeds)] + list(extra):
            rec["name"].append(name)
            rec["id"].append(idv)
            rec["record_type"].append("公益性岗位")
            wages.append(wage)
        return _std(rec, "human_resources").with_columns(monthly_wage=pl.Series(wages))

    first = link_source(registry, posts([("独孤求败", reg["id"][-1], 900.0)]), "human_resources", LinkageSettings())
    assert first.links.filter(pl.col("source_row") == seeds + 1)["decision"].to_list() == ["accept"]
    second = link_source(
        registry,
        posts([("独孤求败", reg["id"][-1], 900.0), ("独孤求败", None, 900.0)]),
        "human_resources",
        LinkageSettings(),
        history=first.record_keys,
    ).links
    by_id, name_only = (second.filter(pl.col("source_row") == seeds + k).row(0, named=True) for k in (1, 2))
    assert (by_id["decision"], by_id["registry_row"]) == ("accept", rows["HG1"]), by_id
    d = json.loads(name_only["detail"])
    assert name_only["decision"] == "review" and "claimed" in d["evidence"], name_only


def test_a_name_that_is_not_the_persons_vetoes_an_id_one_edit_away(world):
    """A mistyped ID one edit from a registry person's, under a name that is not theirs in any
    form: at a prefecture's density that is usually someone else. At most reviewed."""
    reg, registry, rows = _with_people(world, [("HV1", "诸葛青", "620102003002", dt.date(1961, 5, 5), None)])
    seeds = len(reg["name"]) - 1
    typo = reg["id"][-1][:-2] + str((int(reg["id"][-1][-2]) + 1) % 10) + reg["id"][-1][-1]  # fails the check digit
    links = link_source(
        registry,
        _pensions(reg, seeds, [("司马懿", typo, 300.0), ("诸葛青", typo, 300.0)]),
        "human_resources",
        LinkageSettings(),
    ).links
    other, same = (links.filter(pl.col("source_row") == seeds + k).row(0, named=True) for k in (1, 2))
    assert json.loads(other["detail"])["name"] == "disagree" and other["decision"] != "accept", other
    assert (same["decision"], same["registry_row"]) == ("accept", rows["HV1"]), same


def test_review_list_explains_each_candidate_in_chinese(world, tmp_path):
    """The review workbook shows each candidate's waterfall in words, and the
    weights add up to the score: the clerk decides from evidence."""
    import math

    import openpyxl

    registry, records, _, _ = _namesakes_in_one_village(world)
    res = link_source(registry, records, "civil_affairs", LinkageSettings())
    prob_reviews = res.links.filter((pl.col("decision") == "review") & (pl.col("method") == "probabilistic"))
    assert prob_reviews.height >= 1
    for row in prob_reviews.iter_rows(named=True):
        w = json.loads(row["detail"])["weights"]
        logit = sum(v for v in w.values())
        assert abs(1 / (1 + math.exp(-logit)) - row["match_score"]) < 1e-3, (w, row["match_score"])
    path = write_review_list(res.links, registry, records, tmp_path / "review.xlsx")
    ws = openpyxl.load_workbook(path)["待复核匹配"]
    header = [c.value for c in ws[1]]
    col = header.index("匹配依据（对数几率）")
    texts = [r[col].value for r in ws.iter_rows(min_row=2) if r[col].value]
    assert texts and all("先验" in t and "；" in t for t in texts)
    assert any("姓名一致" in t or "姓名同音" in t for t in texts)
    reasons = [r[header.index("复核原因")].value for r in ws.iter_rows(min_row=2)]
    assert "匹配证据不足" not in reasons  # the reason says which evidence is missing


def test_a_contribution_is_no_second_claim_on_a_persons_post(world):
    """One person, one post and one contribution account a month, of each kind: a
    public-welfare worker's 公益性岗位 linked by exact ID does not make the same person's
    社保缴费 (delivered with the name alone, recognised by last month's contribution key) a
    namesake's claim; a second 公益性岗位 carrying the name alone still is one."""
    reg, registry, rows = _with_people(world, [("HW1", "令狐冲霄", "620102003007", dt.date(1981, 8, 8), None)])
    seeds = len(reg["name"]) - 1

    def delivery(extra) -> pl.DataFrame:
        rows_ = [(reg["name"][i], reg["id"][i], "公益性岗位", 1000.0 + i) for i in range(seeds)] + list(extra)
        rec = {"name": [r[0] for r in rows_], "id": [r[1] for r in rows_], "record_type": [r[2] for r in rows_]}
        return _std(rec, "human_resources").with_columns(monthly_wage=pl.Series([r[3] for r in rows_]))

    own = reg["id"][-1]
    first = link_source(
        registry,
        delivery([("令狐冲霄", own, "公益性岗位", 900.0), ("令狐冲霄", own, "社保缴费", 5000.0)]),
        "human_resources",
        LinkageSettings(),
    )
    assert first.links.filter(pl.col("source_row") > seeds)["decision"].to_list() == ["accept", "accept"]
    second = link_source(
        registry,
        delivery(
            [
                ("令狐冲霄", own, "公益性岗位", 900.0),
                ("令狐冲霄", None, "社保缴费", 5000.0),
                ("令狐冲霄", None, "公益性岗位", 900.0),
            ]
        ),
        "human_resources",
        LinkageSettings(),
        history=first.record_keys,
    ).links
    post, contribution, second_post = (
        second.filter(pl.col("source_row") == seeds + k).row(0, named=True) for k in (1, 2, 3)
    )
    assert (post["decision"], post["registry_row"]) == ("accept", rows["HW1"]), post
    assert (contribution["decision"], contribution["registry_row"]) == ("accept", rows["HW1"]), contribution["detail"]
    assert json.loads(contribution["detail"])["evidence"] == ["history"]
    d = json.loads(second_post["detail"])
    assert second_post["decision"] == "review" and "claimed" in d["evidence"], second_post


def test_a_mangled_ids_birth_decade_weighs_what_it_tells(world):
    """A pension delivered with the name and an Excel-mangled ID (9 digits: birth region and
    birth decade) whose digits are this registry person's: the prefix carries the fixed
    birth-decade weight (the seeds never show the level, its fitted weight is 0), so it
    scores that much above the same pension with the name alone, and the prefix is its
    evidence; the same name with another decade's digits gets no such weight, is
    contradicted and not linked."""
    reg, registry, rows = _with_people(
        world,
        [
            ("HD1", "司马长风", "620102002003", dt.date(1952, 6, 16), None),
            ("HD2", "司马长风", "620103001002", dt.date(1961, 2, 2), None),
        ],
    )
    own = reg["id"][rows["HD1"] - 1]
    assert own.startswith("620102195")
    other_decade = f"{int(own[:6] + '1975') * 10**9:.8E}"  # 6.20102198E+17: born 1975-1984
    rec = {"name": [], "id": [], "record_type": []}
    for i in range(len(reg["name"]) - 2):
        rec["name"].append(reg["name"][i])
        rec["id"].append(reg["id"][i])
        rec["record_type"].append("养老金发放")
    at = {}
    for key, idv in (("right", _excel_shown(own)), ("wrong", other_decade), ("blank", None)):
        rec["name"].append("司马长风")
        rec["id"].append(idv)
        rec["record_type"].append("养老金发放")
        at[key] = len(rec["name"])
    links = link_source(registry, _std(rec, "human_resources"), "human_resources", LinkageSettings()).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    right, wrong, blank = by_row[at["right"]], by_row[at["wrong"]], by_row[at["blank"]]
    assert right["registry_row"] == rows["HD1"] and right["decision"] != "none", right
    d = json.loads(right["detail"])
    assert d["id"] == "prefix" and d["id_prefix_decade"] is True and d["weights"]["id_prefix_decade"] == 1.4, d
    assert d["weights"]["id"] == 0.0 and "id_prefix" in d["evidence"], d
    b = json.loads(blank["detail"])
    assert not b["id_prefix_decade"] and b["id"] == "missing", b
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    # both namesakes fit a name-only pension alike: the blank one's best is either, at one score
    assert logit(right["match_score"]) - logit(blank["match_score"]) == pytest.approx(1.4, abs=1e-3)
    assert wrong["decision"] != "accept", wrong
    w = json.loads(wrong["detail"])
    assert w["id"] == "disagree" and not w["id_prefix_decade"], w


def test_a_homophone_typo_of_the_sole_payee_is_linked_not_while_someone_holds_the_name(world):
    """A 低保金 payment typed with a homophone (东郭国君 for 东郭国军), no ID, no region: the
    only registry person who reads so and whom the payment can concern is linked as the
    sole namesake. But when a registry person holds the exact name (南宫国君, 特困: ruled out
    for a 低保金), the 低保 homophone 南宫国军 is not made the payee on the reading alone."""
    reg, registry, rows = _with_people(
        world,
        [
            ("HJ1", "东郭国军", "620102001001", dt.date(1955, 5, 5), "低保"),
            ("HN1", "南宫国君", "620103002001", dt.date(1949, 6, 6), "特困"),
            ("HN2", "南宫国军", "620103001001", dt.date(1962, 8, 8), "低保"),
        ],
    )
    # the month's exact-ID records, the classifier's seeds; a clerk typed one in ten of the
    # names with a homophone, as payment lists come (so the model knows what a reading is worth)
    homophone = str.maketrans("伟芳敏静丽军洋艳杰明", "卫方民敬莉君阳燕洁铭")
    rec = {"name": [], "id": [], "region": [], "event_type": []}
    for i in range(len(reg["name"]) - 3):
        rec["name"].append(reg["name"][i].translate(homophone) if i % 10 == 0 else reg["name"][i])
        rec["id"].append(reg["id"][i])
        rec["region"].append(reg["region"][i])
        rec["event_type"].append("临时救助")
    at = {}
    for key, name in (("typo", "东郭国君"), ("exact_held", "南宫国君")):
        rec["name"].append(name)
        rec["id"].append(None)
        rec["region"].append(None)
        rec["event_type"].append("低保金发放")
        at[key] = len(rec["name"])
    links = link_source(registry, _std(rec, "civil_affairs"), "civil_affairs", LinkageSettings()).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    typo = by_row[at["typo"]]
    assert (typo["decision"], typo["registry_row"]) == ("accept", rows["HJ1"]), typo["detail"]
    d = json.loads(typo["detail"])
    assert d["name"] == "pinyin" and d["sole_namesake"] is True and "sole_namesake" in d["evidence"], d
    held = by_row[at["exact_held"]]
    h = json.loads(held["detail"])
    assert held["decision"] != "accept" and not h["sole_namesake"], held["detail"]


def test_the_own_record_of_a_registry_person_without_an_id_is_no_namesake(world):
    """A registry person whose ID the registry lacks (皇甫嵩, 低保) has a 临时救助 this month
    delivered with a valid ID: name and birth date (the ID's) are his, so that record is he,
    not another holder of the name, and his 低保金 paid by name alone finds the name unique
    in the village. A record with a valid ID of another birth date is someone else: shared."""
    reg, _, rows = _with_people(world, [("HX1", "皇甫嵩", "620102003004", dt.date(1956, 3, 3), "低保")])
    own_id = reg["id"][-1]
    reg["id"][-1] = None  # the registry lacks his ID
    registry = _std(reg, "registry")
    seeds = len(reg["name"]) - 1
    other = make_id_number("620102", dt.date(1961, 9, 9), 519)

    def delivery(extra):
        rec = {"name": [], "id": [], "region": [], "event_type": []}
        rows_ = [(reg["name"][i], reg["id"][i], reg["region"][i], "临时救助") for i in range(seeds)] + extra
        for name, idv, region, event in rows_:
            rec["name"].append(name)
            rec["id"].append(idv)
            rec["region"].append(region)
            rec["event_type"].append(event)
        return _std(rec, "civil_affairs")

    payment = ("皇甫嵩", None, "620102003004", "低保金发放")
    rarity = {}
    for key, idv in (("own", own_id), ("other", other)):
        frame = delivery([payment, ("皇甫嵩", idv, "620102003004", "临时救助")])
        links = link_source(registry, frame, "civil_affairs", LinkageSettings()).links
        row = links.filter(pl.col("source_row") == seeds + 1).row(0, named=True)
        assert row["registry_row"] == rows["HX1"], row
        rarity[key] = json.loads(row["detail"])["name_rarity"]
    assert rarity["own"].startswith("unique_"), rarity
    assert rarity["other"] == "shared", rarity


def _earlier_deliveries(frames):
    """A namesakes lookup over earlier months' std rows (what monthly._namesakes_seen reads
    from the warehouse)."""
    import duckdb

    from lowincome.linkage.evidence import namesakes_seen

    rows = pl.concat(frames, how="diagonal_relaxed")

    def lookup(candidates):
        con = duckdb.connect()
        con.register("_earlier", rows.to_arrow())
        return namesakes_seen(con, "_earlier", rows.columns, candidates)

    return lookup


def test_a_unique_name_on_a_pension_is_evidence_once_earlier_months_show_no_namesake(world):
    """A pension comes with the name alone; 欧阳锋 is the only registry person of that name and
    no record of this month carries it with another ID. A pension recurs every month, so
    its payee shows an ID in other months: when last month's 人社 delivery named nobody else
    欧阳锋 (his own pension, by his ID, is no namesake), the name is evidence and the pension
    is linked (unique_name_seen). When last month a 欧阳锋 outside the registry drew a
    pension on his own ID, it is reviewed; so it is without an earlier month to look at, and
    for a 失业登记 (a one-off event: its person need not come back)."""
    reg, registry, rows = _with_people(world, [("HP1", "欧阳锋", "620102003001", dt.date(1950, 4, 4), None)])
    seeds = len(reg["name"]) - 1
    last_month = dt.date(2026, 7, 1)
    outsider = make_id_number("620103", dt.date(1952, 6, 6), 517)

    def earlier(extra):
        return _pensions(reg, seeds, extra).with_columns(month=pl.lit(last_month))

    this_month = _pensions(reg, seeds, [("欧阳锋", None, 239.0)])
    unemployed = this_month.with_columns(
        record_type=pl.when(pl.col("source_row") == seeds + 1).then(pl.lit("失业登记")).otherwise("record_type")
    )
    clear = _earlier_deliveries([earlier([("欧阳锋", reg["id"][-1], 239.0)])])
    cases = {
        "no namesake last month": (this_month, clear),
        "namesake last month": (this_month, _earlier_deliveries([earlier([("欧阳锋", outsider, 239.0)])])),
        "no earlier month": (this_month, _earlier_deliveries([earlier([]).head(0)])),
        "one-off event": (unemployed, clear),
        "no lookup": (this_month, None),
    }
    got = {}
    for case, (records, lookup) in cases.items():
        links = link_source(registry, records, "human_resources", LinkageSettings(), namesakes=lookup).links
        got[case] = links.filter(pl.col("source_row") == seeds + 1).row(0, named=True)
    linked = got["no namesake last month"]
    assert (linked["decision"], linked["registry_row"]) == ("accept", rows["HP1"]), linked
    d = json.loads(linked["detail"])
    assert d["name_rarity"] == "unique_all" and d["evidence"] == ["unique_name_seen"], d
    for case in ("namesake last month", "no earlier month", "no lookup"):
        r = got[case]
        assert r["decision"] == "review" and r["registry_row"] == rows["HP1"], (case, r)
        assert json.loads(r["detail"])["evidence"] == [], (case, r)
    # a 失业登记 at 76 is not even a candidate (age_implausible); what matters: not linked
    assert got["one-off event"]["decision"] != "accept", got["one-off event"]


def test_a_unique_name_is_no_evidence_in_a_month_whose_id_records_show_newcomers_holding_such_names(world, tmp_path):
    """The case above, in a month when persons outside the registry, never seen before, draw
    pensions on their own IDs under names that one registry person each holds: had their IDs
    been blank, a unique name with no namesake in earlier months would have linked them to
    that person. The month's ID-bearing records show it wrong for half the names it would
    vouch for: more wrong links expected than the month's share of precision allows, so it is
    not used: 欧阳锋's name-only pension is reviewed, and the month's figures say why. Without
    the newcomers the same month trusts it and links the pension."""
    reg, registry, rows = _with_people(world, [("HP1", "欧阳锋", "620102003001", dt.date(1950, 4, 4), None)])
    seeds = len(reg["name"]) - 1
    names = pl.Series(reg["name"][:seeds])
    unique = [n for n in names.unique(maintain_order=True).to_list() if (names == n).sum() == 1]
    newcomers = [
        (name, make_id_number("620104", dt.date(1955 + k % 30, 1 + k % 12, 1 + k % 28), 600 + 2 * k), 300.0 + k)
        for k, name in enumerate(unique[: len(unique) // 2])
    ]
    last_month = _pensions(reg, seeds, [("欧阳锋", reg["id"][-1], 239.0)]).with_columns(
        month=pl.lit(dt.date(2026, 7, 1))
    )
    lookup = _earlier_deliveries([last_month])
    got = {}
    for case, extra in (("newcomers", newcomers), ("none", [])):
        records = _pensions(reg, seeds, [("欧阳锋", None, 239.0), *extra])
        result = link_source(registry, records, "human_resources", LinkageSettings(), namesakes=lookup)
        got[case] = (result.links.filter(pl.col("source_row") == seeds + 1).row(0, named=True), result.metrics)
        if case == "newcomers":  # what the reviewer reads
            import openpyxl

            ws = openpyxl.load_workbook(write_review_list(result.links, registry, records, tmp_path / "r.xlsx"))
            sheet = ws["待复核匹配"]
            header = [c.value for c in sheet[1]]
            reasons = [r[header.index("复核原因")].value for r in sheet.iter_rows(min_row=2)]
            assert any("本月自检" in (r or "") for r in reasons), reasons
    row, metrics = got["newcomers"]
    assert row["decision"] == "review" and row["registry_row"] == rows["HP1"], row
    assert json.loads(row["detail"])["evidence"] == ["unique_name_seen_withheld"], row
    assert "本月自检" in evidence_zh(row["detail"])
    check = metrics["unique_name_seen_check"]
    # half the names it would vouch for are a newcomer's: 0.5 expected wrong links among the
    # month's ~400, more than precision_budget (0.0005) allows
    assert check["wrong"] == len(newcomers) and check["decisive"] == 1, check
    assert check["expected_wrong"] > check["allowed_wrong"] and not check["trusted"], check
    row, metrics = got["none"]
    assert (row["decision"], row["registry_row"]) == ("accept", rows["HP1"]), row
    check = metrics["unique_name_seen_check"]
    assert check["wrong"] == 0 and check["records"] >= 30 and check["trusted"], check


def test_a_birth_date_of_the_same_year_points_to_someone_else(world):
    """A 医保 claim with the name, the county and an Excel-mangled ID whose 9 digits are the
    registry person's carries a birth date of the same year, five months apart: not a typo
    of the person's birth date but another person's (a namesake born that year in the
    county). The pair is contradicted and at most reviewed; the same claim with the
    person's birth date is linked."""
    reg, registry, rows = _with_people(world, [("HB1", "欧阳克", "620102003002", dt.date(1975, 3, 3), None)])
    own = reg["id"][-1]
    n = len(reg["name"]) - 1
    rec = {k: list(reg[k][:n]) for k in ("name", "id", "region", "birth_date")}
    at = {}
    for key, birth in (("other day", dt.date(1975, 8, 22)), ("own day", dt.date(1975, 3, 3))):
        rec["name"].append("欧阳克")
        rec["id"].append(_excel_shown(own))
        rec["region"].append("620102003002")
        rec["birth_date"].append(birth)
        at[key] = len(rec["name"])
    links = link_source(registry, _std(rec, "health_insurance"), "health_insurance", LinkageSettings()).links
    by_row = {r["source_row"]: r for r in links.iter_rows(named=True)}
    other, same = by_row[at["other day"]], by_row[at["own day"]]
    d = json.loads(other["detail"])
    assert d["birth"] == "year" and d["id"] == "prefix", d
    assert other["decision"] != "accept" and "contradicted" in d["evidence"], other
    assert (same["decision"], same["registry_row"]) == ("accept", rows["HB1"]), same


def test_a_namesake_paid_this_month_by_id_is_not_the_payee_of_a_name_only_payment(world):
    """Two 低保 persons named 令狐冲 (no region on the payment list). When one of them has this
    month's 低保金 by ID, a second 低保金 delivered with the name alone is not his (a person
    has one a month): the other 令狐冲 is the only namesake the payment can concern, and it
    is linked to him (sole_namesake). Without the payment by ID, the two stay alike: review."""
    reg, registry, rows = _with_people(
        world,
        [
            ("HL1", "令狐冲", "620102001001", dt.date(1950, 5, 5), "低保"),
            ("HL2", "令狐冲", "620103001001", dt.date(1958, 8, 8), "低保"),
        ],
    )
    first_id = reg["id"][rows["HL1"] - 1]

    def payments(with_id: bool) -> pl.DataFrame:
        n = len(reg["name"]) - 2  # the month's exact-ID records: the classifier's seeds
        rec = {k: list(reg[k][:n]) for k in ("name", "id", "region")} | {"event_type": ["临时救助"] * n}
        extra = [(first_id, "620102001001")] if with_id else []
        for idv, region in [*extra, (None, None)]:
            rec["name"].append("令狐冲")
            rec["id"].append(idv)
            rec["region"].append(region)
            rec["event_type"].append("低保金发放")
        return _std(rec, "civil_affairs")

    paid = link_source(registry, payments(True), "civil_affairs", LinkageSettings()).links
    by_id, name_only = paid.tail(2).iter_rows(named=True)
    assert (by_id["method"], by_id["registry_row"]) == ("exact_id", rows["HL1"]), by_id
    assert (name_only["decision"], name_only["registry_row"]) == ("accept", rows["HL2"]), name_only
    d = json.loads(name_only["detail"])
    assert d["sole_namesake"] is True and "sole_namesake" in d["evidence"], d
    unpaid = link_source(registry, payments(False), "civil_affairs", LinkageSettings()).links.tail(1).row(0, named=True)
    assert unpaid["decision"] == "review" and json.loads(unpaid["detail"])["ambiguous"] is True, unpaid


def test_identity_profiles_group_records_as_their_prepared_fields_do():
    """Linkage links each distinct identity profile once. The records are grouped before
    prepare() runs (memory at a prefecture), so records whose delivered values differ but
    prepare alike -- an ID with spaces, the same ID without -- must still share a profile,
    in the order of their first record, exactly as grouping the prepared records does."""
    from lowincome.linkage.features import prepare
    from lowincome.linkage.registry import identity_profiles

    wang = make_id_number("620102", dt.date(1980, 1, 1), 123)
    raw = {
        "name": ["王伟", "李娜", "王伟", "李娜", "张敏", "王伟"],
        "id": [wang, "6.20102198E+17", f"{wang[:6]} {wang[6:14]} {wang[14:]}", "6.20102198E+17", "", wang],
        "region": ["620102001001"] * 6,
        "event_type": ["临时救助"] * 6,
    }
    records = _std(raw, "civil_affairs")
    assert records["id_number_raw"].n_unique() == 4  # the spaced ID is delivered differently

    profiles, row_profile = identity_profiles(records)

    prepared = prepare(records)
    fields = [c for c in prepared.columns if c != "idx"]
    grouped = prepared.group_by(fields, maintain_order=True).agg(pl.col("idx"))
    assert profiles.drop("idx").equals(grouped.drop("idx"))
    assert profiles["idx"].to_list() == list(range(profiles.height))
    assert row_profile.to_list() == [0, 1, 0, 1, 2, 0]
