"""The corruption mix: how agencies mangle values on the way out (rates per source and field
in corruption.yaml, `default` and the `hard` profile). ID numbers (case, spaces, full-width
digits, legacy 15-digit form, Excel's scientific notation, blanks, typos, numbers), names
(spaces, full-width spaces, traditional characters, homophones, dot variants), dates in
several text forms, money with separators or 元, and unparseable required values.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import yaml

from data_samples.generate.world import GIVEN_F, GIVEN_M, SURNAMES, UY_F, UY_M, World

if TYPE_CHECKING:
    from data_samples.generate.deliveries import Col, Style

CORRUPTION = Path(__file__).resolve().parent.parent / "corruption.yaml"


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


@cache
def _traditional_table() -> dict[int, str]:
    """str.translate table of the name pools' characters to traditional ones (OpenCC s2t)."""
    return str.maketrans(_traditional_map())


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


DATE_FORMS = ("%Y-%m-%d", "%Y/%-m/%-d", "%Y%m%d", "%Y年%-m月%-d日", "%Y.%m.%d")
_FW = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def render_ids(w: World, pids: np.ndarray, st: Style, rng, rates: dict) -> tuple[np.ndarray, np.ndarray]:
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


def render_names(w: World, pids: np.ndarray, rng, rates: dict) -> np.ndarray:
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
        out[i] = names[i].translate(_traditional_table())
    homo = str.maketrans(HOMOPHONES)
    for i in np.flatnonzero(code == 4):
        s = names[i]
        out[i] = s[0] + s[1:].translate(homo)
    dot = np.flatnonzero(np.char.find(w.name[pids].astype("U16"), "·") >= 0)
    var = dot[rng.random(len(dot)) < rates["dot"]]
    for i in var:
        out[i] = out[i].replace("·", DOT_VARIANTS[int(rng.integers(0, len(DOT_VARIANTS)))])
    return out


def render_dates(values: pl.Series, st: Style, rng, other: float = 0.12) -> np.ndarray:
    n = len(values)
    code = np.where(rng.random(n) < other, rng.integers(0, 5, n), st.date_main)
    out = np.empty(n, dtype=object)
    for f, form in enumerate(DATE_FORMS):  # each text form rendered only where it is used
        idx = np.flatnonzero(code == f)
        if len(idx):
            out[idx] = values.gather(idx).dt.strftime(form).fill_null("").to_numpy().astype(object)
    return out


def render_money(values: pl.Series, st: Style, rng, blank: float = 0.0) -> np.ndarray:
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


def agency_ids(w: World, pids: np.ndarray, st: Style, rng, rates: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rendered IDs of an agency delivery: the source's rates, registry persons and outsiders
    alike; outsiders planted without an ID (w.no_id) never carry one."""
    ids, num = render_ids(w, pids, st, rng, rates)
    gone = w.no_id[pids]
    ids[gone], num[gone] = "", False
    return ids, num


def ids_linkable(rendered: np.ndarray, true18: np.ndarray) -> np.ndarray:
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


def malform(source: str, cols: list[Col], rng) -> tuple[list[int], list[int]]:
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
