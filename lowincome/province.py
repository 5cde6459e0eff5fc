"""A province's month split by region: parallel writers, one publisher (no Dagster).

The month runs in four stages (the Dagster job in `pipelines/province.py` wraps them):

1. `ingest_to_store` — one step per delivered source, province-wide: read, standardise,
   quarantine and run the source's GX suite exactly as the single-machine path does
   (`monthly.read_source`, then the `checks` the caller passes: `quality.source_results`),
   then write the std rows split by region, and the delivery-level facts (load audit,
   quarantine, DQ results) under region `_all`.
2. `exact_pass` — one cheap province-wide join on the valid 身份证号: an agency record
   whose ID belongs to a registry person of another region (a person who moved, a record
   delivered to the wrong county) is handed to that person's region. Everything else
   stays in the region of its own county.
3. `run_region` — per region, independent of the others: probabilistic linkage of the
   region's records against the region's registry (`lowincome.linkage.link_source`,
   unchanged), then the rule catalogue (`lowincome.rules.run_rules`, unchanged) in a
   region-local in-memory DuckDB built from the region's Parquet history.
4. `publish` — the only writer of the DuckDB warehouse: loads the month from every
   region's committed Parquet in one transaction, then the exports read from it.

Every step writes Parquet under `<root>/<stage>/month=YYYY-MM/region=<r>/attempt=<id>/`
and commits by replacing one small pointer file `_COMMIT` last; readers only read
committed attempts. A step killed half-way leaves an uncommitted attempt that nobody
reads, and its retry (a new attempt) replaces the region's partition as a whole, so a
rerun of one region replaces only that region and never duplicates or loses rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import fsspec
import polars as pl
import yaml

from lowincome.months import add_months
from lowincome.schema import AGENCY_SOURCES, ALL_SOURCES, REGISTRY, polars_schema
from lowincome.warehouse import ensure_schema, query_pl

ALL = "_all"  # partition of facts that belong to a whole delivery, not to a region
UNPLACED = "_unplaced"  # records with no county: linked province-wide
# Sources whose rows form households that the rules read together.
HOUSEHOLD_KEYS = {"rural_revitalization": "rr_household_id"}
# The data-quality checks come from the caller (`quality/` sits above this layer):
# (source, month, std rows, load audit, last month's audit) -> dq.results rows;
# (warehouse connection inside the publish transaction, month) -> dq.results rows.
SourceChecks = Callable[[str, dt.date, pl.DataFrame, dict, dict | None], pl.DataFrame]
LinkageChecks = Callable[[duckdb.DuckDBPyConnection, dt.date], pl.DataFrame]

INGEST_TABLES = ("quarantine", "audit", "dq")
LINK_TABLES = ("links", "model_runs", "record_history")
FLAG_TABLES = (
    "risk_flags",
    "flag_history",
    "rule_runs",
    "month_status",
    "summary_village",
    "summary_township",
    "summary_county",
    "held_back",  # 待核实: what a review-band record made unknown, as the monthly job keeps it
)


# --- the region plan (data) -------------------------------------------------------------


@dataclass(frozen=True)
class RegionPlan:
    """Regions of a province as county-code prefixes (a prefecture `6201`, a county
    `620102`); the longest matching prefix wins, unlisted counties go to `default`."""

    regions: dict[str, tuple[str, ...]]
    default: str
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None) -> RegionPlan:
        if not path:
            return cls({"all": ()}, "all", "")
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        regions = {str(k): tuple(str(p) for p in (v or ())) for k, v in (raw.get("regions") or {}).items()}
        if not regions:
            raise ValueError(f"{path}: no regions")
        default = str(raw.get("default") or next(iter(regions)))
        if default not in regions:
            raise ValueError(f"{path}: default region {default!r} is not one of {sorted(regions)}")
        bad = [r for r in regions if r.startswith("_") or "/" in r or "=" in r]
        if bad:
            raise ValueError(f"{path}: region names may not start with '_' or contain '/' or '=': {bad}")
        return cls(regions, default, str(path))

    @property
    def names(self) -> list[str]:
        return list(self.regions)

    def region_of(self, county: pl.Expr) -> pl.Expr:
        """The region of each county code (longest prefix first)."""
        pairs = sorted(((p, r) for r, ps in self.regions.items() for p in ps), key=lambda x: -len(x[0]))
        expr = pl.lit(self.default)
        for prefix, region in reversed(pairs):  # the first `when` (longest prefix) wins
            expr = pl.when(county.str.starts_with(prefix)).then(pl.lit(region)).otherwise(expr)
        return pl.when(county.is_null()).then(pl.lit(UNPLACED)).otherwise(expr)


# --- the partitioned Parquet store ------------------------------------------------------


class PartitionStore:
    """Parquet partitioned by stage, month and region under a root (local folder or any
    fsspec URL such as s3://bucket/prefix). One commit pointer per partition."""

    def __init__(self, root: str | Path):
        self.url = str(root)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)

    def partition(self, stage: str, month: dt.date, region: str) -> str:
        return f"{self.root}/{stage}/month={month:%Y-%m}/region={region}"

    def write(
        self, stage: str, month: dt.date, region: str, tables: dict[str, pl.DataFrame], attempt: str | None = None
    ) -> str:
        """Write the tables as a new attempt and commit it; older attempts are removed."""
        attempt = attempt or uuid.uuid4().hex
        part = self.partition(stage, month, region)
        folder = f"{part}/attempt={attempt}"
        self.fs.makedirs(folder, exist_ok=True)
        for name, frame in tables.items():
            with self.fs.open(f"{folder}/{name}.parquet", "wb") as fh:
                frame.write_parquet(fh)
        pointer = json.dumps(
            {"attempt": attempt, "tables": sorted(tables), "rows": {k: v.height for k, v in tables.items()}}
        )
        tmp = f"{part}/_COMMIT.{attempt}.tmp"
        with self.fs.open(tmp, "w") as fh:
            fh.write(pointer)
        self.fs.mv(tmp, f"{part}/_COMMIT")  # a rename on a local disk: the commit is atomic
        for other in self.fs.ls(part, detail=False):
            name = other.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith("attempt=") and name != f"attempt={attempt}":
                self.fs.rm(other, recursive=True)
        return attempt

    def committed(self, stage: str, month: dt.date, region: str) -> dict | None:
        path = f"{self.partition(stage, month, region)}/_COMMIT"
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r") as fh:
            return json.loads(fh.read())

    def regions(self, stage: str, month: dt.date) -> list[str]:
        base = f"{self.root}/{stage}/month={month:%Y-%m}"
        if not self.fs.exists(base):
            return []
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(base, detail=False)]
        return sorted(n.split("=", 1)[1] for n in names if n.startswith("region="))

    def months(self, stage: str) -> list[dt.date]:
        base = f"{self.root}/{stage}"
        if not self.fs.exists(base):
            return []
        out = []
        for p in self.fs.ls(base, detail=False):
            name = p.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith("month="):
                out.append(dt.datetime.strptime(name[6:], "%Y-%m").date())
        return sorted(out)

    def read(
        self,
        stage: str,
        month: dt.date,
        table: str,
        regions: list[str] | None = None,
        columns: list[str] | None = None,
    ) -> pl.DataFrame | None:
        """The committed rows of `table` in the given regions (all when None); None when none is
        committed. `columns`: only those of them the table has (Parquet reads no other)."""
        frames = []
        for region in regions if regions is not None else self.regions(stage, month):
            commit = self.committed(stage, month, region)
            if not commit or table not in commit["tables"]:
                continue
            with self.fs.open(
                f"{self.partition(stage, month, region)}/attempt={commit['attempt']}/{table}.parquet", "rb"
            ) as fh:
                if columns is not None:
                    have = pl.read_parquet_schema(fh)
                    fh.seek(0)
                    frames.append(pl.read_parquet(fh, columns=[c for c in columns if c in have]))
                else:
                    frames.append(pl.read_parquet(fh))
        frames = [f for f in frames if f.width]
        if not frames:
            return None
        return pl.concat(frames, how="diagonal_relaxed")


def ingest_stage(source: str) -> str:
    return f"ingest/{source}"


# --- stage 1: ingestion, province-wide per source ----------------------------------------


def ingest_to_store(
    store: PartitionStore, plan: RegionPlan, inbox: Path, source: str, month: dt.date, *, checks: SourceChecks
) -> dict:
    """Read one source's delivery as the single-machine path does and write its std rows
    by region of their county; rows without a county (人社 records carry none) go to
    `_unplaced` until the exact pass places them. `checks` gives the source's dq.results
    rows (`quality.source_results`: the domain layer does not import `quality`)."""
    from lowincome import monthly
    from lowincome.months import previous_month

    result = monthly.read_source(inbox, source, month)
    previous = store.read(ingest_stage(source), previous_month(month), "audit", [ALL])
    previous_audit = previous.row(0, named=True) if previous is not None and previous.height else None
    stage = ingest_stage(source)
    data = result.data
    shared = {
        "quarantine": result.quarantine,
        "audit": result.audit_frame(),
        "dq": checks(source, month, result.data, result.audit, previous_audit),
    }
    if source in AGENCY_SOURCES or source == REGISTRY:
        regions = (
            data.select(plan.region_of(pl.col("county_code")).alias("_r"))["_r"]
            if "county_code" in data.columns
            else pl.Series("_r", [UNPLACED] * data.height, dtype=pl.String)
        )
        for region in [*plan.names, UNPLACED]:
            store.write(stage, month, region, {"std": data.filter(regions == region)})
    else:  # dispositions: no person, they follow the flag they answer
        shared["std"] = data
    store.write(stage, month, ALL, shared)
    return result.audit


# --- stage 2: the province-wide exact-ID pass --------------------------------------------


def exact_pass(store: PartitionStore, plan: RegionPlan, month: dt.date) -> dict[str, int]:
    """Hand each agency record whose valid ID is held by exactly one registry person of
    another region to that person's region. Writes, per partition, the records moving in
    (full std rows) and the keys of those moving out. Records without a county stay in
    `_unplaced` and are linked against the whole registry."""
    registry = store.read(ingest_stage(REGISTRY), month, "std", plan.names)
    owners = pl.DataFrame(schema={"id_number": pl.String, "target": pl.String})
    if registry is not None and registry.height:
        owners = (
            registry.filter(pl.col("id_number").is_not_null())
            .select("id_number", plan.region_of(pl.col("county_code")).alias("target"))
            .group_by("id_number")
            .agg(pl.col("target").first(), pl.len().alias("k"))
            .filter(pl.col("k") == 1)
            .drop("k")
        )
    parts = [*plan.names, UNPLACED]
    moved_in: dict[str, dict[str, pl.DataFrame]] = {r: {} for r in parts}
    moved_out: dict[str, list[pl.DataFrame]] = {r: [] for r in parts}
    counts = {}
    for source in AGENCY_SOURCES:
        frames = []
        for region in parts:
            rows = store.read(ingest_stage(source), month, "std", [region])
            if rows is not None and rows.height:
                frames.append(rows.with_columns(_home=pl.lit(region)))
        if not frames:
            counts[source] = 0
            continue
        rows = pl.concat(frames, how="diagonal_relaxed").join(owners, on="id_number", how="left")
        # Records without a county stay together: `link_region[_unplaced]` links them against
        # the whole registry with the month's own exact matches as training seeds and
        # evidence, exactly as on one machine (a 人社 month has no county at all).
        final = (
            pl.when(pl.col("_home") == UNPLACED)
            .then(pl.col("_home"))
            .otherwise(pl.coalesce(pl.col("target"), pl.col("_home")))
        )
        household = HOUSEHOLD_KEYS.get(source)
        if household and household in rows.columns:
            # A household's records stay in one region (rules such as R08 read the whole
            # household): the region of its first member with an ID owner, else of its
            # first member with a county.
            rows = rows.sort("source_row").with_columns(
                _hh=pl.coalesce(
                    pl.col("target").drop_nulls().first(),
                    pl.col("_home").filter(pl.col("_home") != UNPLACED).first(),
                    pl.lit(UNPLACED),
                ).over(household)
            )
            final = pl.when(pl.col(household).is_not_null()).then(pl.col("_hh")).otherwise(final)
        rows = rows.with_columns(_final=final)
        moving = rows.filter(pl.col("_final") != pl.col("_home"))
        counts[source] = moving.height
        for (home,), part in moving.group_by(["_home"], maintain_order=True):
            moved_out[home].append(part.select(pl.lit(source).alias("source"), "source_row"))
        for (target,), part in moving.sort("source_row").group_by(["_final"], maintain_order=True):
            moved_in[target][source] = part.drop("_home", "_final", "target", "_hh", strict=False)
    empty_out = pl.DataFrame(schema={"source": pl.String, "source_row": pl.Int64})
    for region in parts:
        tables = {f"in_{s}": f for s, f in moved_in[region].items()}
        tables["moved_out"] = pl.concat(moved_out[region]) if moved_out[region] else empty_out
        store.write("exact", month, region, tables)
    return counts


def region_records(store: PartitionStore, source: str, month: dt.date, region: str) -> pl.DataFrame | None:
    """A partition's records of a source after the exact pass: its own county's rows less
    those handed away, plus those handed to it."""
    own = store.read(ingest_stage(source), month, "std", [region])
    if source not in AGENCY_SOURCES:
        return own
    out = store.read("exact", month, "moved_out", [region])
    incoming = store.read("exact", month, f"in_{source}", [region])
    if own is not None and out is not None and out.height:
        gone = out.filter(pl.col("source") == source).select(pl.col("source_row").cast(own["source_row"].dtype))
        own = own.join(gone, on="source_row", how="anti")
    frames = [f for f in (own, incoming) if f is not None and f.height]
    return pl.concat(frames, how="diagonal_relaxed").sort("source_row") if frames else None


# --- stage 3: linkage per region, then rules per region ----------------------------------


@dataclass
class StepResult:
    region: str
    month: dt.date
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


def link_region(
    store: PartitionStore, plan: RegionPlan, inbox: Path, month: dt.date, region: str, fail_half_way: bool = False
) -> StepResult:
    """Link the partition's records to the region's registry (for `_unplaced`: to the whole
    province's registry; such records are few) with the linkage engine unchanged.

    fail_half_way: fault injection for the tests (the caller kills the process)."""
    from lowincome.linkage import LinkageSettings, link_source, read_review_decisions
    from lowincome.monthly import inbox_months, month_dir

    t0 = time.perf_counter()
    registry = store.read(ingest_stage(REGISTRY), month, "std", plan.names if region == UNPLACED else [region])
    decisions = [read_review_decisions(month_dir(inbox, m)) for m in inbox_months(inbox) if m <= month]
    clerical = pl.concat(decisions) if decisions else None
    settings = LinkageSettings.from_env()
    links, model_runs, history_rows = [], [], []
    for source in AGENCY_SOURCES:
        records = region_records(store, source, month, region)
        if records is None or registry is None or not registry.height:
            continue
        months_back = int(settings.for_source(source).evidence.get("history_months") or 0)
        history = _history(store, source, month, months_back)
        result = link_source(
            registry.sort("source_row"),
            records,
            source,
            settings,
            clerical=clerical,
            history=history,
            namesakes=_namesakes_seen(store, source, month, region, settings.for_source(source)),
        )
        links.append(result.links)
        model_runs.append(pl.DataFrame([result.model_run | {"month": month, "source": source}]))
        history_rows.append(result.record_keys.with_columns(month=pl.lit(month), source=pl.lit(source)))
    tables = {
        "links": pl.concat(links, how="diagonal_relaxed") if links else pl.DataFrame(),
        "model_runs": pl.concat(model_runs, how="diagonal_relaxed") if model_runs else pl.DataFrame(),
        "record_history": pl.concat(history_rows, how="diagonal_relaxed") if history_rows else pl.DataFrame(),
    }
    if fail_half_way:
        # Half the partition's output written as an attempt that is never committed.
        folder = f"{store.partition('link', month, region)}/attempt=killed-{uuid.uuid4().hex}"
        store.fs.makedirs(folder, exist_ok=True)
        with store.fs.open(f"{folder}/links.parquet", "wb") as fh:
            tables["links"].write_parquet(fh)
        raise InjectedFault(region)
    store.write("link", month, region, tables)
    return StepResult(region, month, time.perf_counter() - t0, {k: v.height for k, v in tables.items()})


class InjectedFault(RuntimeError):
    pass


def _history(store: PartitionStore, source: str, month: dt.date, months_back: int) -> pl.DataFrame:
    frames = []
    for m in store.months("link"):
        if add_months(month, -months_back) <= m < month:
            h = store.read("link", m, "record_history")
            if h is not None and h.height:
                frames.append(h.filter(pl.col("source") == source).select("record_key", "person_key"))
    if not frames:
        return pl.DataFrame(schema=polars_schema("linkage.record_history")).select("record_key", "person_key")
    return pl.concat(frames)


def _namesakes_seen(store: PartitionStore, source: str, month: dt.date, region: str, settings):
    """The lookup of namesakes in the source's deliveries of the months before `month`
    (evidence.namesakes_seen), read from the store when linkage asks; as
    monthly._namesakes_seen does on the warehouse. A county's step reads its own partitions:
    the scope of a record with a county is in that county (name_rarity), and records without
    one are only linked in `_unplaced`, whose step reads every region's."""
    from lowincome.linkage.evidence import NAMESAKE_COLUMNS, namesake_window, namesakes_seen

    window = namesake_window(settings, month)
    if window is None:
        return None
    regions = None if region == UNPLACED else [region]

    @functools.cache  # linkage may ask twice (the accepts, then the month's check): read once
    def earlier_rows() -> pl.DataFrame:
        stage = ingest_stage(source)
        earlier = [m for m in store.months(stage) if window[0] <= m < window[1]]
        frames = [store.read(stage, m, "std", regions, columns=list(NAMESAKE_COLUMNS)) for m in earlier]
        frames = [f for f in frames if f is not None]
        schema = {c: t for c, t in polars_schema(f"std.{source}").items() if c in NAMESAKE_COLUMNS}
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=schema)

    def lookup(candidates: pl.DataFrame):
        rows = earlier_rows()
        con = duckdb.connect()
        try:
            con.register("_earlier", rows.to_arrow())
            return namesakes_seen(con, "_earlier", rows.columns, candidates)
        finally:
            con.close()

    return lookup


def region_month(
    store: PartitionStore, month: dt.date, region: str, unlinked_hr: bool = False
) -> dict[str, pl.DataFrame | None]:
    """The region's std rows and links of one linked month: its registry, its records,
    and the `_unplaced` records linked to one of its registry rows. `unlinked_hr`: also the
    `_unplaced` 人社 records that link to nobody under a name its registry holds (rules_context
    unlinked_human_resources: R05 asks whether a member's contribution account is among them;
    人社 records carry no residence)."""
    registry = store.read(ingest_stage(REGISTRY), month, "std", [region])
    out: dict[str, pl.DataFrame | None] = {f"std.{REGISTRY}": registry}
    links = [store.read("link", month, "links", [region])]
    unplaced = store.read("link", month, "links", [UNPLACED])
    if unplaced is not None and unplaced.height and registry is not None and registry.height:
        mine = unplaced.join(
            registry.select(pl.col("source_row").cast(pl.Int64).alias("registry_row")), on="registry_row", how="semi"
        )
    else:
        mine = None
    for source in AGENCY_SOURCES:
        frames = [region_records(store, source, month, region)]
        if mine is not None:
            extra = region_records(store, source, month, UNPLACED)
            if extra is not None:
                keys = mine.filter(pl.col("source") == source).select(
                    pl.col("source_row").cast(extra["source_row"].dtype)
                )
                frames.append(extra.join(keys, on="source_row", how="semi"))
                if unlinked_hr and source == "human_resources":
                    none = unplaced.filter((pl.col("source") == source) & (pl.col("decision") == "none"))
                    rows = extra.filter(pl.col("name").is_in(registry["name"].implode())).join(
                        none.select(pl.col("source_row").cast(extra["source_row"].dtype)), on="source_row", how="semi"
                    )
                    frames.append(rows)
                    keys = rows.select(pl.col("source_row").cast(none["source_row"].dtype))
                    mine = pl.concat([mine, none.join(keys, on="source_row", how="semi")], how="diagonal_relaxed")
        frames = [f for f in frames if f is not None and f.height]
        out[f"std.{source}"] = pl.concat(frames, how="diagonal_relaxed") if frames else None
    links.append(mine)
    links = [f for f in links if f is not None and f.height]
    out["linkage.links"] = pl.concat(links, how="diagonal_relaxed") if links else None
    return out


def rules_region(store: PartitionStore, plan: RegionPlan, params_path: Path, month: dt.date, region: str) -> StepResult:
    """The rule catalogue for one region (`lowincome.rules.run_rules`, unchanged) in a
    region-local in-memory DuckDB built from the region's Parquet history."""
    from lowincome.rules import load_params, run_rules

    t0 = time.perf_counter()
    con = duckdb.connect()
    try:
        ensure_schema(con)
        for m in [m for m in store.months("link") if m <= month]:
            for table, frame in region_month(store, m, region, unlinked_hr=m == month).items():
                _insert(con, table, frame)
            for source in ALL_SOURCES:
                stage = ingest_stage(source)
                if source not in AGENCY_SOURCES and source != REGISTRY:
                    _insert(con, f"std.{source}", store.read(stage, m, "std", [ALL]))
                _insert(con, "ops.load_audit", store.read(stage, m, "audit", [ALL]))
                _insert(con, "dq.results", store.read(stage, m, "dq", [ALL]))
            if m < month:
                for name in FLAG_TABLES:
                    _insert(con, f"flags.{name}", store.read("rules", m, name, [region]))
        run_rules(con, month, load_params(Path(params_path)))
        tables = {name: query_pl(con, f"SELECT * FROM flags.{name} WHERE month = ?", [month]) for name in FLAG_TABLES}
    finally:
        con.close()
    store.write("rules", month, region, tables)
    return StepResult(region, month, time.perf_counter() - t0, {k: v.height for k, v in tables.items()})


def _table_columns(con, table: str) -> list[str]:
    schema, name = table.split(".", 1)
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def _insert(con, table: str, frame: pl.DataFrame | None) -> None:
    if frame is None or not frame.height:
        return
    cols = [c for c in _table_columns(con, table) if c in frame.columns]
    con.register("_incoming", frame.select(cols).to_arrow())
    names = ", ".join(f'"{c}"' for c in cols)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _incoming")
    con.unregister("_incoming")


def run_region(
    store: PartitionStore, plan: RegionPlan, inbox: Path, params_path: Path, month: dt.date, region: str
) -> None:
    """Both of a region's steps (a rerun of one region: link, then rules)."""
    link_region(store, plan, inbox, month, region)
    rules_region(store, plan, params_path, month, region)


# --- stage 4: the publisher --------------------------------------------------------------


def month_tables(store: PartitionStore, plan: RegionPlan, month: dt.date) -> dict[str, pl.DataFrame | None]:
    """Every warehouse table's rows for the month, gathered from the committed partitions."""
    out: dict[str, pl.DataFrame | None] = {}
    for source in ALL_SOURCES:
        out[f"std.{source}"] = store.read(ingest_stage(source), month, "std")
    for table, name in (("ops.quarantine", "quarantine"), ("ops.load_audit", "audit"), ("dq.results", "dq")):
        frames = [store.read(ingest_stage(s), month, name, [ALL]) for s in ALL_SOURCES]
        frames = [f for f in frames if f is not None]
        out[table] = pl.concat(frames, how="diagonal_relaxed") if frames else None
    for name in LINK_TABLES:
        out[f"linkage.{name}"] = store.read("link", month, name, [*plan.names, UNPLACED])
    for name in FLAG_TABLES:
        out[f"flags.{name}"] = store.read("rules", month, name, plan.names)
    runs = out["flags.rule_runs"]
    if runs is not None and runs.height:
        # Every region ran the same rules (source usability is province-wide): one row per rule.
        out["flags.rule_runs"] = runs.group_by(
            "month", "rule_code", "rule_name", "status", "reason", maintain_order=True
        ).agg(pl.col("flags").sum(), pl.col("active").sum())
        if out["flags.rule_runs"]["rule_code"].n_unique() != out["flags.rule_runs"].height:
            raise RuntimeError(f"{month:%Y-%m}: regions disagree on which rules ran")
    status = out["flags.month_status"]
    if status is not None and status.height:
        out["flags.month_status"] = status.unique(maintain_order=True)
        if out["flags.month_status"].height != 1:
            raise RuntimeError(f"{month:%Y-%m}: regions disagree on whether the month is published")
    return out


def publish(
    store: PartitionStore, plan: RegionPlan, warehouse, month: dt.date, *, linkage_checks: LinkageChecks
) -> dict[str, int]:
    """Replace the month in the warehouse from the store, in one transaction (the only
    writer), including the month's linkage-quality results (`linkage_checks`, i.e.
    `quality.linkage_results`, reads the month's links inside the transaction)."""

    missing = [r for r in plan.names if store.committed("rules", month, r) is None]
    missing += [r for r in [*plan.names, UNPLACED] if store.committed("link", month, r) is None]
    if missing:
        raise RuntimeError(f"{month:%Y-%m}: partitions not finished: {', '.join(missing)}")
    tables = month_tables(store, plan, month)
    counts = {}
    with warehouse.writer() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            for table, frame in tables.items():
                con.execute(f"DELETE FROM {table} WHERE month = ?", [month])
                _insert(con, table, frame)
                counts[table] = 0 if frame is None else frame.height
            con.execute("DELETE FROM dq.results WHERE month = ? AND source LIKE 'linkage:%'", [month])
            _insert(con, "dq.results", linkage_checks(con, month))
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return counts


def write_review_lists(warehouse, exports: Path, month: dt.date) -> list[Path]:
    """The linkage review lists, from the published month (one per agency source)."""
    from lowincome.linkage import write_review_list
    from lowincome.monthly import read_std

    paths = []
    registry = read_std(warehouse, REGISTRY, month)
    with warehouse.reader() as con:
        links = query_pl(con, "SELECT * FROM linkage.links WHERE month = ? ORDER BY source, source_row", [month])
    for source in AGENCY_SOURCES:
        path = Path(exports) / f"{month:%Y-%m}" / "review" / f"review_decisions_{source}_{month:%Y-%m}.xlsx"
        path.unlink(missing_ok=True)
        written = write_review_list(
            links.filter(pl.col("source") == source), registry, read_std(warehouse, source, month), path
        )
        if written:
            paths.append(Path(written))
    return paths


# --- same answers, any topology ----------------------------------------------------------


def table_fingerprints(con) -> dict[str, tuple[int, str]]:
    """(rows, content hash) of every warehouse table: md5 over the sorted md5 of each row,
    so row order does not matter and any differing, missing or duplicated row shows."""
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1, 2"
    ).fetchall()
    out = {}
    for schema, name in tables:
        out[f"{schema}.{name}"] = tuple(
            con.execute(
                f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
                f'FROM (SELECT md5(CAST(x AS VARCHAR)) AS h FROM "{schema}"."{name}" x)'
            ).fetchone()
        )
    return out


def workbook_fingerprints(folder: Path) -> dict[str, str]:
    """Content hash of every workbook under `folder` (every sheet's cell values; the file
    bytes also hold the time they were written)."""
    import hashlib

    from openpyxl import load_workbook

    out = {}
    for path in sorted(Path(folder).rglob("*.xlsx")):
        digest = hashlib.md5()
        book = load_workbook(path, read_only=True)
        for sheet in book.worksheets:
            digest.update(sheet.title.encode())
            for row in sheet.iter_rows(values_only=True):
                digest.update(repr(row).encode())
        book.close()
        out[str(path.relative_to(folder))] = digest.hexdigest()
    return out
