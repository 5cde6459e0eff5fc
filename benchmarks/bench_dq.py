"""Time the data-quality suites (GX 1.x) per source at large row counts and print the figures.

    .venv/bin/python benchmarks/bench_dq.py --rows 100000 1000000 2000000 --engines duckdb pandas

For every size and engine a fresh child process builds the frames and validates every
source, so each line's peak RSS is that run's own. The frames come from a generated
sample month loaded through `lowincome.ingest.load_delivery`, its rows replicated up
to the size (keys made distinct per copy so that uniqueness checks stay realistic).
Nothing is written to the repository; the sample lives in a temporary folder.

Printed per source: rows, wall and CPU seconds of `validate_source` (CPU: all threads of
the process; on a busy shared machine wall time mostly measures the neighbours), failed
expectations; per run: total DQ seconds, the RSS before DQ (frames held) and the peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SOURCES = ("registry", "civil_affairs", "health_insurance", "human_resources", "rural_revitalization")
KEYS = ("person_key", "household_id", "rr_household_id", "id_number", "id_number_raw")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def build_base(folder: Path, households: int) -> tuple[dt.date, dict]:
    """Generate one month and load each source: parquet std frames + audit rows under folder."""
    from data_samples.generate import generate
    from lowincome.ingest import find_delivery, load_delivery, manifest_entry, read_manifest

    summary = generate(folder / "gen", households=households, months=1)
    month = summary.month_dates[0]
    mdir = summary.inbox_dir / f"{month:%Y-%m}"
    manifest = read_manifest(mdir)
    audits = {}
    for source in SOURCES:
        res = load_delivery(find_delivery(mdir, source), source, month, manifest_entry(manifest, source))
        res.data.write_parquet(folder / f"{source}.parquet")
        audits[source] = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in res.audit.items()}
    (folder / "audits.json").write_text(json.dumps({"month": month.isoformat(), "audits": audits}, default=str))
    return month, audits


def replicate(base, rows: int):
    """`rows` rows from the base frame: whole copies, key columns suffixed per copy."""
    import polars as pl

    copies = -(-rows // base.height)
    parts = []
    for k in range(copies):
        part = base
        if k:
            part = part.with_columns(
                [(pl.col(c) + f"~{k}").alias(c) for c in KEYS if c in base.columns]
                + [(pl.col("source_row") + k * base.height).alias("source_row")]
            )
        parts.append(part)
    return pl.concat(parts).head(rows)


def child(folder: Path, rows: int, engine: str, registry_rows: int | None = None) -> None:
    import polars as pl

    import quality
    from quality import gx_runner

    meta = json.loads((folder / "audits.json").read_text())
    month = dt.date.fromisoformat(meta["month"])
    frames, audits = {}, {}
    for source in SOURCES:
        n = registry_rows if source == "registry" and registry_rows else rows
        frames[source] = replicate(pl.read_parquet(folder / f"{source}.parquet"), n)
        a = dict(meta["audits"][source])
        a.update(
            rows_read=frames[source].height,
            rows_loaded=frames[source].height,
            rows_quarantined=0,
            manifest_rows=None,
            manifest_sha256=None,
        )
        audits[source] = a
    gx_runner.get_context()  # GX import and context: once per process, not part of a source's DQ time
    # The first suite of a process also sets up the engine's data source (e.g. the SQL
    # source on DuckDB): timed here on 100 rows and printed apart from the per-source figures.
    t0 = time.perf_counter()
    tiny = frames["civil_affairs"].head(100)
    quality.validate_source(
        "civil_affairs",
        month,
        tiny,
        {**audits["civil_affairs"], "rows_read": tiny.height, "rows_loaded": tiny.height},
        None,
        engine=engine,
    )
    print(
        f"  {engine:7s} first suite of the process (100 rows, data source set-up): {time.perf_counter() - t0:.2f} s",
        flush=True,
    )
    before = _rss_mib()
    total = total_cpu = 0.0
    for source in SOURCES:
        t0, c0 = time.perf_counter(), time.process_time()
        results = quality.validate_source(source, month, frames[source], audits[source], None, engine=engine)
        sec, cpu = time.perf_counter() - t0, time.process_time() - c0
        total += sec
        total_cpu += cpu
        failed = [r.expectation for r in results if not r.success]
        print(
            f"  {engine:7s} {source:22s} rows={frames[source].height:>9,} {sec:7.2f} s wall {cpu:7.2f} s CPU  "
            f"expectations={len(results)} failed={failed}",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total_rows = sum(f.height for f in frames.values())
    print(
        f"RESULT engine={engine} rows={rows} total_rows={total_rows} dq_seconds={total:.2f} dq_cpu_seconds={total_cpu:.2f} rss_before_dq_mib={before:.0f} "
        f"peak_rss_mib={peak:.0f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 2_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "pandas"])
    parser.add_argument(
        "--registry-rows",
        type=int,
        default=None,
        help="registry rows (default: --rows); e.g. 1000000 with --rows 1250000 is a prefecture month",
    )
    parser.add_argument("--households", type=int, default=4000)
    parser.add_argument("--folder", help="reuse / keep the base frames here (default: a temporary folder)")
    parser.add_argument("--child", nargs=2, metavar=("ROWS", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.folder), int(args.child[0]), args.child[1], args.registry_rows)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "audits.json").exists():
            t0 = time.perf_counter()
            build_base(folder, args.households)
            print(f"sample of {args.households} households generated and loaded in {time.perf_counter() - t0:.1f} s")
        table = []
        for rows in args.rows:
            for engine in args.engines:
                cmd = [sys.executable, __file__, "--folder", str(folder), "--child", str(rows), engine]
                if args.registry_rows:
                    cmd += ["--registry-rows", str(args.registry_rows)]
                out = subprocess.run(cmd, capture_output=True, text=True)
                sys.stdout.write(out.stdout)
                if out.returncode:
                    sys.stdout.write(out.stderr[-3000:])
                    table.append((engine, rows, 0, "failed", "", "", ""))
                    continue
                line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][-1]
                kv = dict(p.split("=") for p in line.split()[1:])
                table.append(
                    (
                        engine,
                        rows,
                        int(kv["total_rows"]),
                        kv["dq_seconds"],
                        kv["dq_cpu_seconds"],
                        kv["rss_before_dq_mib"],
                        kv["peak_rss_mib"],
                    )
                )
        print(
            "\n| engine | rows per source | rows, 5 sources | DQ wall s | DQ CPU s | RSS before DQ MiB | peak RSS MiB |"
        )
        print("|---|---|---|---|---|---|---|")
        for engine, rows, total, sec, cpu, before, peak in table:
            print(f"| {engine} | {rows:,} | {total:,} | {sec} | {cpu} | {before} | {peak} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
