"""Tests of the synthetic delivery generator (data_samples.generate)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import data_samples.generate as gen
from data_samples.generate import FORMATS, RULES, Shape, corruptions, county_codes, deliveries, generate, main
from lowincome import schema

START = "2026-07"
MONTHS = ["2026-07", "2026-08", "2026-09"]

# ---------------------------------------------------------------- own helpers (no pipeline code)
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def check_char(first17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _W)) % 11]


def valid_id(s: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", s):
        return False
    try:
        dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return check_char(s[:17]) == s[17]


def norm_id(raw) -> str:
    if raw is None:
        return ""
    s = str(raw).translate(str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789XX"))
    s = re.sub(r"[\s\-]", "", s).upper()
    if re.fullmatch(r"\d{15}", s):
        s17 = s[:6] + "19" + s[6:]
        s = s17 + check_char(s17)
    return s


def read_text(path: Path) -> pl.DataFrame:
    """Any delivered file as all-string columns."""
    if path.suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
        return pl.read_csv(io.StringIO(text), infer_schema=False, truncate_ragged_lines=True)
    if path.suffix == ".xlsx":
        df = pl.read_excel(path, engine="calamine", infer_schema_length=0)
        return df.with_columns(pl.all().cast(pl.Utf8))
    return pl.read_parquet(path).with_columns(pl.all().cast(pl.Utf8))


def data_rows(path: Path) -> int:
    if path.suffix == ".csv":
        return len(path.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")) - 1
    return read_text(path).height


def canon(df: pl.DataFrame, source: str) -> pl.DataFrame:
    hm = schema.SOURCES[source].header_map
    return df.rename({c: hm[c] for c in df.columns if c in hm})


def money(s: pl.Series) -> pl.Series:
    return s.str.replace_all(r"[,元\s]", "").replace("", None).cast(pl.Float64)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen_small")
    return generate(out, households=200, months=3, start_month=START, seed=7)


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen_default")
    return generate(out, households=2000, months=3, start_month=START, seed=20261129)


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen_hard")
    return generate(out, households=2000, months=3, start_month=START, seed=20261130, hard=True)


# ---------------------------------------------------------------- tests
def test_deterministic_same_seed(small, tmp_path):
    again = generate(tmp_path / "again", households=200, months=3, start_month=START, seed=7)
    for sub in ("inbox", "truth"):
        a = sorted(p.relative_to(small.out_dir) for p in (small.out_dir / sub).rglob("*") if p.is_file())
        b = sorted(p.relative_to(again.out_dir) for p in (again.out_dir / sub).rglob("*") if p.is_file())
        assert a == b and a
        for rel in a:
            assert (small.out_dir / rel).read_bytes() == (again.out_dir / rel).read_bytes(), rel
    other = generate(tmp_path / "other", households=200, months=3, start_month=START, seed=8)
    assert (other.truth_dir / "links.csv").read_bytes() != (small.truth_dir / "links.csv").read_bytes()


def test_manifests_match_files(small):
    for month in MONTHS:
        mdir = small.inbox_dir / month
        man = json.loads((mdir / "_MANIFEST.json").read_text(encoding="utf-8"))["files"]
        on_disk = {p.name for p in mdir.iterdir() if p.name != "_MANIFEST.json"}
        assert set(man) == on_disk
        for name, entry in man.items():
            path = mdir / name
            assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            assert entry["rows"] == data_rows(path), name
    assert (small.inbox_dir / MONTHS[-1] / "dispositions.xlsx").exists()


def test_every_format_appears(small, default):
    for s in (small, default):
        used = {f for m in s.formats.values() for f in m.values()}
        assert set(FORMATS) <= used
        assert any(s.formats[m]["registry"] == "xlsx" for m in s.months)


def test_truth_links_reference_existing_rows(small):
    links = pl.read_csv(small.truth_dir / "links.csv", schema_overrides={"registry_row": pl.Int64})
    reg = links.filter(pl.col("source") == "registry").select(
        "month", pl.col("source_row").alias("registry_row"), pl.col("person_id").alias("reg_person")
    )
    for month, sources in small.rows.items():
        for source, n in sources.items():
            if source == "dispositions":
                continue
            rows = links.filter((pl.col("month") == f"{month}-01") & (pl.col("source") == source))["source_row"]
            assert sorted(rows.to_list()) == list(range(1, n + 1)), (month, source)
    agency = links.filter(pl.col("source") != "registry")
    linked = agency.filter(pl.col("registry_row").is_not_null()).join(reg, on=["month", "registry_row"], how="left")
    assert linked.height > 0
    assert (linked["reg_person"] == linked["person_id"]).all()
    # agency extracts also carry people who are not in the registry
    assert agency["registry_row"].null_count() > 0


def test_registry_ids_valid_where_not_corrupted(small):
    persons = pl.read_csv(small.truth_dir / "persons.csv", infer_schema=False)
    for pid, sex, birth in zip(persons["id_number"], persons["sex"], persons["birth_date"]):
        assert valid_id(pid)
        assert (int(pid[16]) % 2 == 1) == (sex == "男")
        assert f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}" == birth
    true_id = dict(zip(persons["person_id"], persons["id_number"]))
    links = pl.read_csv(small.truth_dir / "links.csv", infer_schema=False).filter(pl.col("source") == "registry")
    for month in MONTHS:
        df = canon(read_text(small.files[month]["registry"]), "registry")
        lk = links.filter(pl.col("month") == f"{month}-01").sort(pl.col("source_row").cast(pl.Int64))
        ok = bad = typo = 0
        for raw, person, rrow in zip(df["id_number"], lk["person_id"], lk["registry_row"]):
            if rrow is None:
                continue  # junk row (blank 户编号)
            got, want = norm_id(raw), true_id[person]
            if got == want:
                ok += 1
                assert valid_id(got)
            elif got == "":
                bad += 1
            else:  # deliberate typo: one character changed, check digit fails
                assert len(got) == 18 and sum(a != b for a, b in zip(got, want)) == 1 and not valid_id(got)
                typo += 1
        assert ok / (ok + bad + typo) > 0.95


def test_r02_r03_match_delivered_registry(small):
    """Recompute the income rules from the delivered registry files with own parsing."""
    import yaml

    params = yaml.safe_load((Path(__file__).parents[1] / "data_samples" / "params.yaml").read_text(encoding="utf-8"))
    std = params["dibao_standard"]
    flags = pl.read_csv(small.truth_dir / "flags.csv").filter(pl.col("fired") == 1)
    for month in MONTHS:
        df = canon(read_text(small.files[month]["registry"]), "registry").filter(pl.col("household_id").is_not_null())
        hh = df.group_by("household_id").agg(
            pl.col("region_code", "urban_rural", "category", "household_size", "household_annual_income").first()
        )
        cat = hh["category"].replace("刚性支出困难", "支出型困难")
        inc = money(hh["household_annual_income"])
        size = hh["household_size"].cast(pl.Float64)
        s = [
            float(std.get(str(r)[:6], std["default"])["urban" if u == "城市" else "rural"])
            for r, u in zip(hh["region_code"], hh["urban_rural"])
        ]
        pc = inc / size / 12
        s = pl.Series(s)
        r02 = set(hh["household_id"].filter((pc < s) & ~cat.is_in(["低保", "特困"])).to_list())
        r03 = set(
            hh["household_id"]
            .filter((pc >= s) & (pc < params["edge_multiplier"] * s) & ~cat.is_in(["低保", "特困", "低保边缘"]))
            .to_list()
        )
        f = flags.filter(pl.col("month") == f"{month}-01")
        assert r02 == set(f.filter(pl.col("rule_code") == "R02")["household_key"].to_list())
        assert r03 == set(f.filter(pl.col("rule_code") == "R03")["household_key"].to_list())


def test_every_rule_fires_with_lifecycle(default):
    rows = pl.read_csv(default.truth_dir / "flags.csv")
    flags = rows.filter(pl.col("fired") == 1)
    counts = flags.group_by("rule_code").len()
    got = dict(zip(counts["rule_code"], counts["len"]))
    for r in RULES:
        assert got.get(r, 0) >= 10, (r, got)
    # R05 needs M-1: never in the first month
    assert flags.filter((pl.col("month") == "2026-07-01") & (pl.col("rule_code") == "R05")).height == 0
    # lifecycle: pairs that fire in month 2 and stop in month 3 exist for most rules
    pairs = {
        m: set(
            zip(
                *flags.filter(pl.col("month") == f"{m}-01")
                .select("household_key", "rule_code")
                .to_dict(as_series=False)
                .values()
            )
        )
        for m in MONTHS
    }
    cleared = {r for (_, r) in pairs["2026-08"] - pairs["2026-09"]}
    assert len(cleared) >= 8, cleared
    # 核实不符 dispositions suppress the same flag in the last month
    sup = flags.filter(pl.col("suppressed") == 1)
    assert sup.height >= 1 and set(sup["rule_code"]) == {"R03"} and set(sup["month"]) == {"2026-09-01"}
    assert set(sup["state"]) == {"已清零"}
    disp = read_text(default.files["2026-09"]["dispositions"])
    assert set(disp.columns) == {"标记编号", "处置结果", "处置日期", "经办人", "备注"}
    assert {"已纳入救助", "核实不符"} <= set(disp["处置结果"].to_list())
    assert all(re.fullmatch(r"202608-R\d\d-[0-9A-F]{8}", x) for x in disp["标记编号"])


def _all_cells(path: Path) -> tuple[list[str], list[str], str]:
    df = read_text(path)
    vals = [v for c in df.columns for v in df[c].drop_nulls().to_list()]
    raw = ""
    if path.suffix == ".csv":
        b = path.read_bytes()
        try:
            raw = b.decode("utf-8-sig")
        except UnicodeDecodeError:
            raw = b.decode("gb18030")
    return df.columns, vals, raw


def test_messy_forms_appear(default):
    headers, values, raws = [], [], []
    encodings = set()
    for month in default.months:
        for _source, path in default.files[month].items():
            h, v, raw = _all_cells(path)
            headers += h
            values += v
            raws.append(raw)
            if path.suffix == ".csv":
                b = path.read_bytes()
                encodings.add("bom" if b.startswith(b"\xef\xbb\xbf") else "utf8" if _is_utf8(b) else "gb18030")
    text = "\n".join(values)
    assert encodings == {"bom", "utf8", "gb18030"}
    checks = {
        "lowercase x": r"\d{17}x",
        "full-width digits": "[０-９]{6}",
        "legacy 15": r"(?m)^\d{15}$",
        "excel mangled": r"\d\.\d{8}E\+17",
        "id with space": r"\d{6} \d{8} ",
        "id with hyphen": r"\d{6}-\d{8}-",
        "date slash": r"\d{4}/\d{1,2}/\d{1,2}",
        "date compact": r"(?m)^20\d{6}$",
        "date chinese": r"\d{4}年\d{1,2}月\d{1,2}日",
        "date dots": r"\d{4}\.\d{2}\.\d{2}",
        "money thousands": r"\d,\d{3}\.\d\d",
        "money yuan": r"\d元",
        "traditional": "[陳劉張趙楊黃吳鄭孫馬羅]",
        "dot variant": "[•．・]",
        "alias": "刚性支出困难",
        "grade chinese": "[一二三四]级",
        "unknown value": "未知|不详",
    }
    for name, pat in checks.items():
        assert re.search(pat, text), name
    assert any(re.fullmatch(r"[\u4e00-\u9fff]+\.[\u4e00-\u9fff]+", v) for v in values)
    assert set(headers) & {"name", "id_number", "household_id", "region_code", "event_type", "settled_on"}
    assert {"备注", "数据来源"} & set(headers)
    assert any("多余字段" in r for r in raws)


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_omit_source(tmp_path):
    s = generate(
        tmp_path / "omit", households=300, months=3, start_month=START, seed=3, omit={("2026-08", "human_resources")}
    )
    assert not list((s.inbox_dir / "2026-08").glob("human_resources.*"))
    man = json.loads((s.inbox_dir / "2026-08" / "_MANIFEST.json").read_text(encoding="utf-8"))["files"]
    assert not any(k.startswith("human_resources") for k in man)
    flags = pl.read_csv(s.truth_dir / "flags.csv")
    # a skipped rule has no rows at all that month (no false 已清零 either)
    bad = flags.filter(
        ((pl.col("month") == "2026-08-01") & pl.col("rule_code").is_in(["R05", "R09"]))
        | ((pl.col("month") == "2026-09-01") & (pl.col("rule_code") == "R05"))
    )
    assert bad.height == 0
    links = pl.read_csv(s.truth_dir / "links.csv")
    assert links.filter((pl.col("month") == "2026-08-01") & (pl.col("source") == "human_resources")).height == 0


def test_cli(tmp_path, capsys):
    assert (
        main(
            ["--out", str(tmp_path / "cli"), "--households", "60", "--months", "2", "--start", "2026-01", "--seed", "5"]
        )
        == 0
    )
    assert (tmp_path / "cli" / "inbox" / "2026-02" / "_MANIFEST.json").exists()
    assert (tmp_path / "cli" / "truth" / "flags.csv").exists()
    assert "truth flags per rule" in capsys.readouterr().out


def _id_forms(summary, source: str) -> pl.DataFrame:
    """Every delivered record of `source` with its ID form, read back from the files with own
    parsing: registry (in that month's registry), blank, excel (6.20103202E+17), typo (18
    characters, one off the true ID), and whether its file went through Excel / its true ID
    ends in X."""
    links = pl.read_csv(summary.truth_dir / "links.csv", infer_schema=False)
    persons = pl.read_csv(summary.truth_dir / "persons.csv", infer_schema=False)
    true_id = dict(zip(persons["person_id"], persons["id_number"]))
    rows = []
    for month in summary.months:
        path = summary.files[month].get(source)
        if path is None:
            continue
        df = canon(read_text(path), source)
        lk = links.filter((pl.col("month") == f"{month}-01") & (pl.col("source") == source)).sort(
            pl.col("source_row").cast(pl.Int64)
        )
        raw = [r if r is not None else "" for r in df["id_number"].to_list()]
        via_excel = any(re.fullmatch(r"\d\.\d{8}E\+17", r) for r in raw)
        for r, person, rrow in zip(raw, lk["person_id"], lk["registry_row"]):
            want, got = true_id[person], norm_id(r)
            rows.append(
                {
                    "registry": rrow is not None,
                    "blank": r.strip() == "",
                    "excel": bool(re.fullmatch(r"\d\.\d{8}E\+17", r)),
                    "typo": len(got) == 18 and sum(a != b for a, b in zip(got, want)) == 1,
                    "via_excel": via_excel and path.suffix == ".csv",
                    "x": want.endswith("X"),
                }
            )
    return pl.DataFrame(rows)


def _near(observed: int, n: int, p: float) -> bool:
    """observed / n within 4 binomial standard deviations (+0.002) of p."""
    return n > 0 and abs(observed / n - p) <= 4 * (p * (1 - p) / n) ** 0.5 + 0.002


@pytest.mark.parametrize("profile", ["default", "hard"])
def test_id_corruption_rates_per_source(profile, default, hard):
    """The delivered share of blank, Excel-mangled and typo'd IDs per source is the configured
    rate, for registry persons and outsiders alike (every record type)."""
    summary = default if profile == "default" else hard
    rates = gen.load_rates(hard=profile == "hard")
    for source in schema.AGENCY_SOURCES:
        forms = _id_forms(summary, source)
        r = rates[source]
        blank = r["id"]["blank"] + r["name_only"] - r["id"]["blank"] * r["name_only"]
        for registry in (True, False):
            g = forms.filter(pl.col("registry") == registry)
            assert _near(int(g["blank"].sum()), g.height, blank), (profile, source, registry, g["blank"].mean(), blank)
            assert _near(int(g["typo"].sum()), g.height, r["id"]["typo"]), (profile, source, registry, g["typo"].mean())
            e = g.filter(pl.col("via_excel") & ~pl.col("x"))
            if e.height >= 200:
                assert _near(int(e["excel"].sum()), e.height, r["id"]["excel"]), (
                    profile,
                    source,
                    registry,
                    e["excel"].mean(),
                )
    # the hard profile: about 8 % of civil_affairs and human_resources records come without an ID
    if profile == "hard":
        for source in ("civil_affairs", "human_resources"):
            assert 0.065 < _id_forms(summary, source)["blank"].mean() < 0.095, source


def test_registry_persons_records_lose_ids_on_every_record_type(default):
    """Registry persons' payment, pension and contribution records lose their IDs like any
    other record (no record type is spared)."""
    links = pl.read_csv(default.truth_dir / "links.csv", infer_schema=False)
    for source, col, kinds in (
        ("civil_affairs", "event_type", {"低保金发放", "临时救助"}),
        ("human_resources", "record_type", {"社保缴费", "养老金发放"}),
    ):
        seen = set()
        for month in default.months:
            df = canon(read_text(default.files[month][source]), source)
            lk = links.filter((pl.col("month") == f"{month}-01") & (pl.col("source") == source)).sort(
                pl.col("source_row").cast(pl.Int64)
            )
            for raw, kind, rrow in zip(df["id_number"], df[col], lk["registry_row"]):
                if rrow is not None and (raw is None or raw.strip() == ""):
                    seen.add(kind)
        assert kinds <= seen, (source, seen)


def test_rates_file_overrides(tmp_path):
    over = tmp_path / "rates.yaml"
    over.write_text("human_resources:\n  id: {blank: 0.5}\n", encoding="utf-8")
    r = gen.load_rates(over)
    assert (
        r["human_resources"]["id"]["blank"] == 0.5
        and r["human_resources"]["id"]["typo"] == gen.load_rates()["human_resources"]["id"]["typo"]
    )
    s = generate(tmp_path / "half", households=150, months=1, start_month=START, seed=4, rates=over)
    forms = _id_forms(s, "human_resources")
    assert _near(int(forms["blank"].sum()), forms.height, 0.5)


def test_name_only_records(hard):
    """--hard: name-only civil_affairs records (blank ID and blank region) and health_insurance
    records without ID and birth date."""
    ca = hi = 0
    for month in hard.months:
        df = canon(read_text(hard.files[month]["civil_affairs"]), "civil_affairs")
        ca += df.filter(pl.col("id_number").is_null() & pl.col("region_code").is_null()).height
        df = canon(read_text(hard.files[month]["health_insurance"]), "health_insurance")
        hi += df.filter(pl.col("id_number").is_null() & pl.col("birth_date").is_null()).height
    assert ca >= 10 and hi >= 3, (ca, hi)


def test_hard_namesakes_in_village_township_county(hard):
    """--hard: registry persons and outsiders share names with registry persons of another
    household in the same village, township and county."""
    p = pl.read_csv(hard.truth_dir / "persons.csv", infer_schema=False)
    reg = p.filter(pl.col("registry_household") == "1")
    for group in ("1", "0"):
        mine = p.filter(pl.col("registry_household") == group)
        for width in (12, 9, 6):
            key = pl.col("region_code").str.slice(0, width).alias("area")
            j = mine.select("name", "household", key).join(
                reg.select("name", pl.col("household").alias("other"), key), on=["name", "area"]
            )
            same = j.filter(pl.col("household") != pl.col("other"))["household"].n_unique()
            assert same >= 10, (group, width, same)


def test_truth_states_follow_the_lifecycle(default):
    """truth/flags.csv holds every row the caseworker sees: 新增 when a flag opens, 持续 while it
    stays active, one 已清零 when it stops (or is suppressed), never two in a row."""
    rows = pl.read_csv(default.truth_dir / "flags.csv").sort("month")
    assert {"新增", "持续", "已清零"} == set(rows["state"])
    active: dict = {}
    for month, key, rule, fired, suppressed, state in rows.select(
        "month", "household_key", "rule_code", "fired", "suppressed", "state"
    ).iter_rows():
        was = active.get((key, rule), False)
        if state == "已清零":
            assert was or (fired and suppressed), (month, key, rule)
        else:
            assert fired == 1 and suppressed == 0 and (state == "持续") == was, (month, key, rule, state)
        active[(key, rule)] = state != "已清零"
    # 已纳入救助 (R02 households enrolled in 低保): not fired, 已清零 in the last month;
    # 核实不符 (R03, figures unchanged): fired, suppressed, 已清零
    disp = dict(pl.read_csv(default.truth_dir / "dispositions.csv").iter_rows())
    aug = rows.filter((pl.col("month") == "2026-08-01") & (pl.col("fired") == 1))
    by_id = {
        gen.flag_id(dt.date(2026, 8, 1), r, k): (k, r) for k, r in aug.select("household_key", "rule_code").iter_rows()
    }
    sep = {
        (k, r): (f, s, st)
        for k, r, f, s, st in rows.filter(pl.col("month") == "2026-09-01")
        .select("household_key", "rule_code", "fired", "suppressed", "state")
        .iter_rows()
    }
    want = {"已纳入救助": (0, 0, "已清零"), "核实不符": (1, 1, "已清零")}
    checked = 0
    for fid, d in disp.items():
        if d in want:
            assert sep[by_id[fid]] == want[d], (fid, d, sep.get(by_id[fid]))
            checked += 1
    assert checked >= 2


def test_id_less_namesakes_of_registry_persons(default):
    """Outsiders sharing name and village with a registry person, delivered without an ID."""
    links = pl.read_csv(default.truth_dir / "links.csv", infer_schema=False)
    persons = pl.read_csv(default.truth_dir / "persons.csv", infer_schema=False)
    reg_names = set(
        zip(
            persons.filter(pl.col("registry_household") == "1")["name"],
            persons.filter(pl.col("registry_household") == "1")["region_code"],
        )
    )
    found = 0
    for month in default.months:
        df = canon(read_text(default.files[month]["civil_affairs"]), "civil_affairs")
        lk = links.filter((pl.col("month") == f"{month}-01") & (pl.col("source") == "civil_affairs")).sort(
            pl.col("source_row").cast(pl.Int64)
        )
        p = persons.join(lk.select("person_id", "registry_row"), on="person_id", how="right")
        for (name, region, rrow), raw in zip(
            p.select("name", "region_code", "registry_row").iter_rows(), df["id_number"]
        ):
            if rrow is None and norm_id(raw) == "" and (name, region) in reg_names:
                found += 1
    assert found >= 2


# ---------------------------------------------------------------- prefecture shape, CSV only, chunked CSV
@pytest.fixture(scope="module")
def prefecture(tmp_path_factory):
    """A small world with the prefecture's shape knobs: 6 counties, volume 5, CSV only."""
    out = tmp_path_factory.mktemp("gen_prefecture")
    shape = Shape(counties=6, townships=8, villages=4, outsiders=1.0, volume=5.0)
    return generate(out, households=500, months=2, start_month=START, seed=5, shape=shape, csv_only=True)


def test_csv_only_writes_every_encoding(prefecture):
    files = [p for m in prefecture.months for s, p in prefecture.files[m].items() if s != "dispositions"]
    assert files and all(p.suffix == ".csv" for p in files)
    assert {f for m in prefecture.formats.values() for s, f in m.items() if s != "dispositions"} == {
        "csv_utf8",
        "csv_bom",
        "csv_gb18030",
    }


def test_prefecture_geography_and_volume(prefecture):
    persons = pl.read_csv(prefecture.truth_dir / "persons.csv", infer_schema=False)
    region = persons["region_code"]
    assert set(region.str.slice(0, 6).unique()) == set(county_codes(6))
    assert region.str.slice(6, 3).cast(pl.Int32).max() <= 8 and region.str.slice(9, 3).cast(pl.Int32).max() <= 4
    # outsider households about as many as registry households
    hh = persons.group_by("household").agg(pl.col("registry_household").first())
    n_reg = (hh["registry_household"] == "1").sum()
    assert 0.8 < (hh.height - n_reg) / n_reg < 1.2
    # namesakes: the same name in several counties, and within one village
    reg = persons.filter(pl.col("registry_household") == "1")
    assert (
        reg.group_by("name")
        .agg(pl.col("region_code").str.slice(0, 6).n_unique())
        .filter(pl.col("region_code") > 1)
        .height
        > 0
    )
    assert reg.group_by("name", "region_code").len().filter(pl.col("len") > 1).height > 0
    # about 5 agency rows per registry row at volume 5 (1 at the demo's volume)
    for month in prefecture.months:
        rows = prefecture.rows[month]
        agency = sum(v for k, v in rows.items() if k in schema.AGENCY_SOURCES)
        assert 4.0 < agency / rows["registry"] < 6.5, rows


def test_prefecture_truth_and_rows(prefecture):
    test_truth_links_reference_existing_rows(prefecture)
    flags = pl.read_csv(prefecture.truth_dir / "flags.csv")
    assert set(flags["rule_code"]) >= {"R02", "R03", "R06", "R08"}


def test_chunked_csv_keeps_rows_and_evidence(tmp_path, monkeypatch):
    """CSV written in chunks of 100 rows: one header, one BOM, manifest rows = file rows =
    truth rows, and registry persons' records keep their identity evidence row by row."""
    monkeypatch.setattr(deliveries, "CSV_CHUNK_ROWS", 100)
    s = generate(
        tmp_path / "chunked",
        households=300,
        months=2,
        start_month=START,
        seed=9,
        shape=Shape(volume=3.0),
        csv_only=True,
    )
    for month in s.months:
        man = json.loads((s.inbox_dir / month / "_MANIFEST.json").read_text(encoding="utf-8"))["files"]
        for name, entry in man.items():
            path = s.inbox_dir / month / name
            if path.suffix != ".csv":
                continue
            raw = path.read_bytes()
            assert entry["rows"] == data_rows(path) and entry["rows"] > 100, name
            assert raw.count(b"\xef\xbb\xbf") == (1 if s.formats[month][name[:-4]] == "csv_bom" else 0)
            text = raw.decode("gb18030") if s.formats[month][name[:-4]] == "csv_gb18030" else raw.decode("utf-8-sig")
            lines = text.splitlines()
            assert lines[0] not in lines[1:], name  # the header once
    test_truth_links_reference_existing_rows(s)
    forms = _id_forms(s, "human_resources")  # the rates hold across chunks
    assert _near(int(forms["blank"].sum()), forms.height, gen.load_rates()["human_resources"]["id"]["blank"])


def test_shape_cli(tmp_path):
    assert (
        main(
            [
                "--out",
                str(tmp_path / "p"),
                "--households",
                "80",
                "--months",
                "2",
                "--prefecture",
                "--counties",
                "2",
                "--csv-only",
            ]
        )
        == 0
    )
    files = sorted(p.suffix for p in (tmp_path / "p" / "inbox" / "2026-08").iterdir() if p.name != "_MANIFEST.json")
    assert set(files) == {".csv", ".xlsx"}  # dispositions.xlsx is the caseworkers' returned workbook
    persons = pl.read_csv(tmp_path / "p" / "truth" / "persons.csv", infer_schema=False)
    assert set(persons["region_code"].str.slice(0, 6).unique()) == set(county_codes(2))
    with pytest.raises(ValueError):
        Shape(volume=0.5)


def test_ids_linkable():
    true = "62010219800101123X"
    cases = {
        "62010219800101123x": True,
        "620102 19800101 123X": True,
        "620102-19800101-123X": True,
        "６２０１０２１９８００１０１１２３Ｘ": True,
        "620102800101123": True,
        "620102800101124": False,
        "62010219800101123": False,
        "6.20102198E+17": False,
        "": False,
        "620102198001011239": True,
        "620102198001011299": False,
    }
    got = corruptions.ids_linkable(np.asarray(list(cases), dtype=object), np.full(len(cases), true, dtype=object))
    assert got.tolist() == list(cases.values())


# ---------------------------------------------------------------- independence and derived rule list
def test_generator_imports_nothing_of_the_project():
    """data_samples runs on its own: importing the generator and the grading loads no module of
    lowincome / quality / assets / pipelines / benchmarks."""
    code = (
        "import sys, data_samples.generate, data_samples.truth\n"
        "ours = {'lowincome', 'quality', 'assets', 'pipelines', 'benchmarks'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ours))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_delivery_contract_matches_the_pipelines_reading():
    """The generator's own model of the agencies' files (headers, coded values) is the one the
    pipeline reads (both come from extracts.md)."""
    from data_samples.generate import contract

    assert set(contract.HEADERS) == set(schema.ALL_SOURCES)
    for source, headers in contract.HEADERS.items():
        assert list(headers.items()) == [(c.canonical, c.chinese) for c in schema.SOURCES[source].columns], source
    assert contract.EXTRACT_SOURCES == schema.EXTRACT_SOURCES
    assert contract.AGENCY_SOURCES == schema.AGENCY_SOURCES
    assert contract.CATEGORIES == schema.CATEGORIES
    assert contract.DISABILITY_TYPES == schema.DISABILITY_TYPES
    assert contract.MONITOR_TYPES == schema.MONITOR_TYPES
    assert contract.RISK_TYPES == schema.RISK_TYPES


def _rule_file(folder: Path, code: str, body: str) -> None:
    (folder / f"{code}_x.sql").write_text(body + "\nSELECT 1 AS household_key\n", encoding="utf-8")


def test_rule_list_is_read_from_the_rule_file_headers(tmp_path):
    from data_samples.generate.rules import read_rules

    _rule_file(
        tmp_path,
        "R02",
        "/*\ncode: R02\nname: 低收入未纳入低保\nseverity: 高   # 高 / 中 / 低\nsources: []\nprevious: []\n"
        "action: 入户核实\nparams: [edge_multiplier]\ndescription: >\n  Below the standard.\n*/\n-- prose",
    )
    _rule_file(
        tmp_path,
        "R12",
        "/*\ncode: R12\nname: 新规则\nseverity: 低\nsources: [civil_affairs, health_insurance]\n"
        "previous: [civil_affairs]\n*/",
    )
    rules = read_rules(tmp_path)
    assert list(rules) == ["R02", "R12"]
    assert rules["R02"].name == "低收入未纳入低保" and rules["R02"].severity == "高"
    assert rules["R02"].sources == () and rules["R02"].previous == ()
    assert rules["R12"].sources == ("civil_affairs", "health_insurance")
    assert rules["R12"].previous == ("civil_affairs",)


@pytest.mark.parametrize(
    "body, message",
    [
        ("-- R03 no header\nWITH x AS (SELECT 1)", "no header"),
        ("/*\ncode: R03\nname: x\nseverity: 中\nsources: []\n*/", "lacks previous"),
        ("/*\ncode: R04\nname: x\nseverity: 中\nsources: []\nprevious: []\n*/", "does not match"),
    ],
)
def test_rule_file_without_a_usable_header_is_refused(tmp_path, body, message):
    from data_samples.generate.rules import read_rules

    _rule_file(tmp_path, "R03", body)
    with pytest.raises(ValueError, match=message):
        read_rules(tmp_path)


def test_generators_rule_list_is_the_repositorys():
    """RULES / RULE_SOURCES come from sql/rules: one header per rule file, R05 reads month M-1."""
    from data_samples.generate.rules import RULE_PREVIOUS, RULE_SOURCES, rule_ran

    files = sorted(p.name[:3] for p in (Path(__file__).parents[1] / "sql" / "rules").glob("R*.sql"))
    assert list(RULES) == files
    assert RULE_SOURCES["R11"] == ("civil_affairs", "rural_revitalization")
    assert RULE_PREVIOUS["R05"] == ("human_resources", "registry")
    both = {(t, s) for t in (0, 1) for s in ("registry", "human_resources")}
    assert rule_ran(1, "R05", both) and not rule_ran(0, "R05", both)
    assert not rule_ran(1, "R05", both - {(0, "human_resources")})
    assert rule_ran(0, "R02", {(0, "registry")}) and not rule_ran(0, "R01", {(0, "registry")})
