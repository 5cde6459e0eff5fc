"""`generate`: build the world, plant the rules, render and write every month's deliveries
with their manifests, then write the ground truth and the region names."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from data_samples.generate import truth
from data_samples.generate.contract import AGENCY_SOURCES, EXTRACT_SOURCES
from data_samples.generate.corruptions import load_rates
from data_samples.generate.deliveries import Style, assign_formats, plan_dispositions, write_delivery
from data_samples.generate.deliveries import write_dispositions as write_dispositions_xlsx
from data_samples.generate.planting import plant_membership, plant_rules
from data_samples.generate.records import background, record_frame, registry_frame, rr_records
from data_samples.generate.rules import RULES
from data_samples.generate.world import RETIRED_COUNTY, Shape, World, make_ids, month_list, region_names, same_names

DEFAULT_PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"
DEMO_SHAPE = Shape()  # the demo county set


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

    def record(self, month: str, source: str, path: Path, fmt: str, rows: int) -> None:
        self.files[month][source] = path
        self.formats[month][source] = fmt
        self.rows[month][source] = rows


def build_world(
    n_households: int,
    months: list[dt.date],
    params: dict,
    seed: int,
    shape: Shape = DEMO_SHAPE,
    rates: dict | None = None,
) -> World:
    rng = np.random.default_rng(seed)
    w = World(n_households, months, params, rng, shape)
    w.rates = rates if rates is not None else load_rates()
    n = max(3, round(n_households * 0.0065))
    nm = max(2, n // 2)
    plant_membership(w, n, nm)
    w.finalize_membership()
    plant_rules(w, n, nm)
    same_names(w)
    background(w)
    rr_records(w)
    # ID numbers last: planted birth dates are final now
    by = w.birth.astype("datetime64[Y]").astype(int) + 1970
    region6 = np.where((by < 1985) & (rng.random(w.P) < 0.35), RETIRED_COUNTY, w.county[w.p_hh])
    w.id18 = make_ids(region6, w.birth, w.male, rng)
    w.sex = np.where(w.male, "男", "女")
    # junk registry rows: outsiders with a blank 户编号 in some CSV registry deliveries
    outs = np.flatnonzero(~w.is_reg[w.p_hh] & ~w.planted[w.p_hh])
    w.junk_registry_pids = list(rng.choice(outs, min(len(outs), w.K), replace=False))
    return w


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


@dataclass
class _Run:
    """One generation: the world, the stream of the deliveries, and what the months collect
    for the truth (delivered registry rows, readable records, every row's person)."""

    w: World
    rng: np.random.Generator
    styles: dict[tuple[int, str], Style]
    delivered: set[tuple[int, str]]
    summary: GenerationSummary
    created: dt.datetime
    regs: list[pl.DataFrame] = field(default_factory=list)
    links: list[pl.DataFrame] = field(default_factory=list)
    recs: dict[str, list[pl.DataFrame]] = field(default_factory=lambda: {s: [] for s in AGENCY_SOURCES})
    unusable: list[tuple[int, str, int]] = field(default_factory=list)  # (t, source, source_row) destroyed
    manifests: dict[int, dict] = field(default_factory=dict)


def _delivery_frame(run: _Run, t: int, source: str, reg_t: pl.DataFrame, rec_frames: dict) -> pl.DataFrame:
    """The clean rows of one (month, source) in delivery order, numbered (source_row); a CSV
    registry gets its junk row (an outsider with a blank 户编号)."""
    w, rng, st = run.w, run.rng, run.styles[(t, source)]
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
    return df.with_columns(source_row=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))


def _write_month(run: _Run, t: int, m: dt.date, inbox: Path, rec_frames: dict) -> None:
    """Every delivered source of month t (an omitted one still draws its order from the stream)."""
    mdir = inbox / f"{m:%Y-%m}"
    mdir.mkdir(parents=True, exist_ok=True)
    month = f"{m:%Y-%m}"
    run.summary.files[month], run.summary.formats[month], run.summary.rows[month] = {}, {}, {}
    run.manifests[t] = {}
    reg_t = registry_frame(run.w, t)
    for source in EXTRACT_SOURCES:
        df = _delivery_frame(run, t, source, reg_t, rec_frames)
        if (t, source) not in run.delivered:
            continue
        if source == "registry":
            real = df.filter(pl.col("household_id").is_not_null())
            run.regs.append(real.rename({"source_row": "registry_row"}))
        else:
            run.recs[source].append(df.select(truth.TRUTH_COLS[source]))
        st = run.styles[(t, source)]
        path = mdir / f"{source}.{st.ext}"
        bad = write_delivery(run.w, source, df, st, run.rng, path, run.created)
        run.unusable.extend((t, source, r) for r in bad)
        run.manifests[t][path.name] = {"rows": df.height, "sha256": _sha256(path)}
        run.summary.record(month, source, path, st.fmt, df.height)
        run.links.append(df.select(pl.lit(t, pl.Int64).alias("t"), pl.lit(source).alias("source"), "source_row", "pid"))


def _truth_inputs(run: _Run, rec_frames: dict) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The delivered registry rows and, per agency, the delivered records anyone can read
    (records with a destroyed required value or a ragged line cannot be read)."""
    w = run.w
    reg = (
        pl.concat(run.regs) if run.regs else registry_frame(w, 0).with_columns(registry_row=pl.lit(0, pl.Int64)).head(0)
    )
    recs = {
        s: (
            pl.concat(v)
            if v
            else rec_frames[s].head(0).with_columns(source_row=pl.lit(0, pl.Int64)).select(truth.TRUTH_COLS[s])
        )
        for s, v in run.recs.items()
    }
    run.recs = {}
    bad = pl.DataFrame(run.unusable, schema={"t": pl.Int64, "source": pl.Utf8, "source_row": pl.Int64}, orient="row")
    recs = {
        s: df.join(bad.filter(pl.col("source") == s).drop("source"), on=["t", "source_row"], how="anti")
        for s, df in recs.items()
    }
    return reg, recs


def _dispositions(run: _Run, flags: pl.DataFrame, inbox: Path) -> tuple[list[tuple], list[tuple[str, str, str]]]:
    """dispositions.xlsx for the previous month's flags, delivered in the last month."""
    w, L = run.w, run.w.K - 1
    planned = plan_dispositions(w, flags, run.rng)
    month = f"{w.months[L]:%Y-%m}"
    path = inbox / month / "dispositions.xlsx"
    rows = write_dispositions_xlsx(w, planned, run.rng, path, run.created)
    run.manifests[L][path.name] = {"rows": len(rows), "sha256": _sha256(path)}
    run.summary.record(month, "dispositions", path, "xlsx", len(rows))
    return rows, planned


def _write_manifests(run: _Run, inbox: Path) -> None:
    for t, m in enumerate(run.w.months):
        man = {"files": dict(sorted(run.manifests[t].items()))}
        (inbox / f"{m:%Y-%m}" / "_MANIFEST.json").write_text(
            json.dumps(man, ensure_ascii=False, indent=2), encoding="utf-8"
        )


def _count_flags(summary: GenerationSummary, flags_out: pl.DataFrame) -> None:
    counts = flags_out.filter(pl.col("fired") == 1).group_by("rule_code").len()
    summary.flags_per_rule = dict.fromkeys(RULES, 0) | dict(zip(counts["rule_code"].to_list(), counts["len"].to_list()))
    pm = flags_out.filter(pl.col("fired") == 1).group_by("month", "rule_code").len()
    for mo, r, c in pm.iter_rows():
        summary.flags_per_month_rule.setdefault(mo, {})[r] = c


def generate(
    out_dir: Path,
    households: int = 2000,
    months: int = 3,
    start_month: str = "2026-07",
    seed: int = 20261129,
    params_path: Path = DEFAULT_PARAMS,
    omit: set | None = None,
    shape: Shape = DEMO_SHAPE,
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
    mlist = month_list(start_month, months)
    K = len(mlist)
    omit_t = _norm_omit(omit, mlist)
    w = build_world(households, mlist, params, seed, shape, load_rates(rates, hard))
    w.seed = seed
    rng = np.random.default_rng([seed, 1])
    styles = assign_formats(rng, K, omit_t, csv_only)
    inbox, truth_dir = out_dir / "inbox", out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    summary = GenerationSummary(out_dir, inbox, truth_dir, [f"{m:%Y-%m}" for m in mlist])
    delivered = {(t, s) for t in range(K) for s in EXTRACT_SOURCES if (t, s) not in omit_t}
    run = _Run(w, rng, styles, delivered, summary, dt.datetime(2026, 1, 1, 8, 0, 0))
    rec_frames = {s: record_frame(w, s) for s in AGENCY_SOURCES}
    for t, m in enumerate(mlist):
        _write_month(run, t, m, inbox, rec_frames)
    reg, recs = _truth_inputs(run, rec_frames)
    del rec_frames
    flags = truth.compute_truth(w, reg, recs, delivered)
    disp_rows, planned = [], []
    if K >= 2 and (K - 1, "dispositions") not in omit_t:
        disp_rows, planned = _dispositions(run, flags, inbox)
    _write_manifests(run, inbox)
    month_of = {t: f"{m:%Y-%m-01}" for t, m in enumerate(mlist)}
    closing = [(r, k, d) for r, k, d in (planned if disp_rows else []) if d in ("已纳入救助", "核实不符")]
    flags_out = truth.write_flags(truth_dir, flags, reg, delivered, K, closing, month_of)
    truth.write_links(truth_dir, run.links, reg, month_of)
    truth.write_persons(truth_dir, w)
    if disp_rows:
        truth.write_dispositions(truth_dir, disp_rows)
    _count_flags(summary, flags_out)
    region_names(w).write_csv(inbox / "regions.csv")
    summary.seconds = time.perf_counter() - t0
    return summary
