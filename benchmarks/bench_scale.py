"""Scale benchmark (issue #8): a prefecture's month through the real pipeline.

    .venv/bin/python benchmarks/bench_scale.py --scale 0.25            # 90k households, 3 counties
    .venv/bin/python benchmarks/bench_scale.py --scale 1 --data var/pref  # 360k households (~1M registry
                                                                        # persons, ~5M agency rows a month)
    .venv/bin/python benchmarks/bench_scale.py --households 5000        # a small try
    .venv/bin/python benchmarks/bench_scale.py --scale 1 --data var/pref --repeat 3  # M three times: median

Generates (or reuses with --data DIR) months M-1 and M with the prefecture shape of
data_samples.generate (CSV only, counties scaled with the size so density stays that of
a prefecture), then runs M-1 and M each in a child process (`pipelines.cli.run_month`,
the code path of `lowincome run`) while this process samples the child's process tree
RSS every 0.2 s. The generator runs before, in its own process: its memory is not counted.

Printed for month M: per stage (read, standardise, DQ, exact link, probabilistic link,
rules, workbooks, report) wall seconds, rows per second and the peak RSS of the process
tree while the stage's Dagster steps ran; candidate pairs per non-exact record and link
precision / recall / F1 per source against the generator's truth; the same month linked
by Splink (benchmarks/splink_link.py) on the same std tables, timed and graded the same
way. Figures, not a test: the exit code is non-zero only when a month (or the generation)
fails. Needs psutil (`pip install -e '.[bench]'`).

Run to run, a month's wall time on the 2-core machine varies by 5-15%: `--repeat N` runs M
N times, each from a copy of the warehouse as M-1 left it, prints min / median / max and
shows the median run's figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PARAMS = ROOT / "data_samples" / "params.yaml"
PREFECTURE_HOUSEHOLDS = 360_000  # ~1M registry persons
PREFECTURE_COUNTIES = 12
SAMPLE_SECONDS = 0.2
GiB = 1024**3


# ---------------------------------------------------------------- process-tree memory
class TreeSampler:
    """Samples the RSS of a process and all its descendants every `interval` seconds."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        import psutil

        self._psutil = psutil
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (unix time, bytes)
        self.cpu: list[tuple[float, float]] = []  # (unix time, CPU seconds so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss_cpu(self) -> tuple[int, float]:
        """(RSS bytes, CPU seconds) of the tree; CPU counts reaped children (worker pools)."""
        total, cpu = 0, 0.0
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except self._psutil.Error:
            return 0, 0.0
        for p in procs:
            try:
                total += p.memory_info().rss
                c = p.cpu_times()
                cpu += c.user + c.system + c.children_user + c.children_system
            except self._psutil.Error:
                pass
        return total, cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, cpu = self._rss_cpu()
            if rss:
                self.samples.append((time.time(), rss))
                self.cpu.append((time.time(), cpu))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        lo, hi = start or 0.0, end or float("inf")
        vals = [r for t, r in self.samples if lo - self.interval <= t <= hi + self.interval]
        return max(vals, default=0)

    def cpu_seconds(self, start: float, end: float) -> float:
        """CPU seconds the tree used between two instants (samples nearest inside them)."""
        inside = [c for t, c in self.cpu if start <= t <= end]
        return inside[-1] - inside[0] if len(inside) >= 2 else 0.0


def run_sampled(cmd: list[str], env: dict | None = None) -> tuple[int, float, TreeSampler]:
    """Run a command as a child process; (exit code, wall seconds, its RSS samples)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    try:
        with TreeSampler(proc.pid) as sampler:
            code = proc.wait()
    finally:  # interrupted: do not leave the child running
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, time.perf_counter() - t0, sampler


# ---------------------------------------------------------------- child: one month through the job
def child_main(args) -> int:
    """Run one month with run_month against a throwaway Dagster instance (DAGSTER_HOME) and
    write every step's start/end time and materialisation metadata to --events-json."""
    home = Path(tempfile.mkdtemp(prefix="bench_dagster_home_"))
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        import dagster as dg

        from pipelines.cli import run_month

        month = dt.date.fromisoformat(f"{args.month}-01")
        result = run_month(
            month,
            log_level="WARNING",
            inbox=args.inbox,
            warehouse=args.warehouse,
            exports=args.exports,
            params=args.params,
        )
        steps: dict[str, dict] = {}
        instance = dg.DagsterInstance.get()
        for entry in instance.all_logs(result.run_id):
            ev = entry.dagster_event
            if ev is None or not ev.step_key:
                continue
            s = steps.setdefault(ev.step_key, {"start": None, "end": None, "seconds": None, "ok": None, "metadata": {}})
            if ev.is_step_start:
                s["start"] = entry.timestamp
            elif ev.is_step_success or ev.is_step_failure:
                s["end"] = entry.timestamp
                s["ok"] = bool(ev.is_step_success)
                if ev.is_step_success:
                    s["seconds"] = ev.event_specific_data.duration_ms / 1000
            elif ev.is_step_materialization:
                for k, v in ev.event_specific_data.materialization.metadata.items():
                    if isinstance(v.value, (int, float, str, bool)) or v.value is None:
                        s["metadata"][k] = v.value
        for s in steps.values():
            if s["seconds"] is None and s["start"] and s["end"]:
                s["seconds"] = s["end"] - s["start"]
        Path(args.events_json).write_text(json.dumps({"success": result.success, "steps": steps}, indent=1))
        return 0 if result.success else 1
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------- stages
def _sum(steps: dict, key: str) -> float | None:
    """Sum of a metadata figure over the steps that publish it; None when none does."""
    vals = [s["metadata"][key] for s in steps.values() if s["metadata"].get(key) is not None]
    return float(sum(vals)) if vals else None


def stage_table(steps: dict[str, dict], sampler: TreeSampler) -> list[dict]:
    """Rows of (stage, seconds, rows, peak RSS, note) from the steps of month M."""

    def group(prefix: str) -> dict:
        return {k: s for k, s in steps.items() if k.startswith(prefix)}

    def window_peak(group_steps: dict) -> int:
        return max((sampler.peak(s["start"], s["end"]) for s in group_steps.values() if s["start"]), default=0)

    def whole(group_steps: dict) -> float:
        return float(sum(s["seconds"] or 0.0 for s in group_steps.values()))

    std, link = group("std__"), group("linkage__")
    rows_read = _sum(std, "rows_read") or 0.0
    rows_loaded = _sum(std, "rows_loaded") or 0.0
    records = _sum(link, "records")
    if records is None:
        records = float(
            sum(
                (s["metadata"].get("exact") or 0)
                + (s["metadata"].get("probabilistic") or 0)
                + (s["metadata"].get("review") or 0)
                + (s["metadata"].get("unmatched") or 0)
                + (s["metadata"].get("clerical") or 0)
                for s in link.values()
            )
        )
    out: list[dict] = []

    def add(stage, seconds, rows, peak, note=""):
        out.append({"stage": stage, "seconds": seconds, "rows": rows, "peak": peak, "note": note})

    def split(group_steps: dict, stages: list[tuple[str, str]], rows: float, what: str) -> None:
        """Stages timed inside one kind of step: metadata seconds where published; the rest of
        the steps' duration goes to the first stage without its key (said in the note)."""
        got = {stage: _sum(group_steps, key) for stage, key in stages}
        missing = [stage for stage, _ in stages if got[stage] is None]
        rest = max(0.0, whole(group_steps) - sum(v for v in got.values() if v is not None))
        peak = window_peak(group_steps)
        for stage, _key in stages:
            if got[stage] is not None:
                add(stage, got[stage], rows, peak, f"peak: the {what} steps' window")
            elif stage == missing[0]:
                keys = ", ".join(k for st, k in stages if st in missing)
                add(
                    stage,
                    rest,
                    rows,
                    peak,
                    f"fallback: rest of the {what} steps ({' + '.join(missing)}); absent: {keys}",
                )
            else:
                add(stage, None, None, None, f"in '{missing[0]}' (fallback)")

    split(
        std,
        [("read", "seconds_read"), ("standardise", "seconds_standardise"), ("DQ", "seconds_dq")],
        rows_read,
        "std__*",
    )
    split(
        link, [("exact link", "seconds_exact"), ("probabilistic link", "seconds_probabilistic")], records, "linkage__*"
    )
    mapped = set(std) | set(link)
    for stage, prefix in (
        ("rules", "flags__"),
        ("workbooks", "exports__caseworker_workbooks"),
        ("report", "exports__quality_report"),
    ):
        g = group(prefix)
        mapped |= set(g)
        add(
            stage,
            whole(g) if g else None,
            rows_loaded,
            window_peak(g) if g else None,
            "" if g else f"no step {prefix}*",
        )
    other = {k: s for k, s in steps.items() if k not in mapped}
    if other:
        add("other steps", whole(other), rows_loaded, window_peak(other), ", ".join(sorted(other)))
    return out


def print_stages(rows: list[dict]) -> None:
    print(f"  {'stage':20s} {'seconds':>9s} {'rows/s':>12s} {'peak RSS':>10s}  note")
    for r in rows:
        sec = "—" if r["seconds"] is None else f"{r['seconds']:.2f}"
        rate = "—" if not r["seconds"] or not r["rows"] else f"{r['rows'] / r['seconds']:,.0f}"
        peak = "—" if not r["peak"] else f"{r['peak'] / GiB:.2f} GiB"
        print(f"  {r['stage']:20s} {sec:>9s} {rate:>12s} {peak:>10s}  {r['note']}")
    print("  (rows/s: rows read for read/standardise/DQ, records linked for linkage, rows loaded otherwise)")


def print_cpu(steps: dict[str, dict], sampler: TreeSampler, wall: float) -> None:
    """How many of the machine's cores each kind of step kept busy: CPU seconds of the
    process tree over the steps' windows, divided by their wall seconds."""
    print("\n  CPU use (process tree CPU seconds / wall seconds):")
    print(f"  {'steps':32s} {'wall s':>8s} {'CPU s':>8s} {'cores':>6s}")
    kinds = ("std__", "linkage__", "flags__", "exports__caseworker_workbooks", "exports__quality_report")
    for prefix in kinds:
        group = [s for k, s in steps.items() if k.startswith(prefix) and s["start"] and s["end"]]
        w = sum(s["end"] - s["start"] for s in group)
        c = sum(sampler.cpu_seconds(s["start"], s["end"]) for s in group)
        print(f"  {prefix.rstrip('_') + '*':32s} {w:8.1f} {c:8.1f} {c / w if w else 0:6.2f}")
    total = sampler.cpu[-1][1] - sampler.cpu[0][1] if len(sampler.cpu) >= 2 else 0.0
    print(f"  {'whole child process':32s} {wall:8.1f} {total:8.1f} {total / wall if wall else 0:6.2f}")


# ---------------------------------------------------------------- linkage figures
def linkage_figures(steps: dict, month: dt.date, data: Path, warehouse: Path) -> dict[str, dict]:
    from benchmarks.sample_run import warehouse_links
    from data_samples.truth import grade_links, true_links

    accepted, loaded = warehouse_links(warehouse, month)
    truth = true_links(data / "truth", loaded)
    scores = grade_links(truth, accepted)
    out = {}
    for key, s in steps.items():
        if not key.startswith("linkage__"):
            continue
        source = key.removeprefix("linkage__")
        m = s["metadata"]
        records = m.get("records")
        non_exact = (
            (records - (m.get("exact") or 0))
            if records is not None
            else sum((m.get(k) or 0) for k in ("probabilistic", "review", "unmatched", "clerical"))
        )
        secs = (
            (m.get("seconds_exact") or 0) + (m.get("seconds_probabilistic") or 0)
            if m.get("seconds_exact") is not None
            else (m.get("seconds") or s["seconds"] or 0.0)
        )
        out[source] = {
            "pairs": m.get("candidate_pairs") or 0,
            "non_exact": non_exact,
            "seconds": float(secs),
            "score": scores.get(source),
            "truth": truth.filter(truth["source"] == source),
        }
    return out


def splink_comparison(month: dt.date, warehouse: Path, figures: dict[str, dict]) -> None:
    print("\nSplink on the same std tables (DuckDB backend):")
    if importlib.util.find_spec("splink") is None:
        print("  splink is not installed (pip install -e '.[bench]'); comparison skipped")
        return
    try:
        from splink_link import (
            link_with_splink,  # the sibling script: `python benchmarks/bench_scale.py` runs from benchmarks/
        )
    except ImportError as exc:
        print(f"  benchmarks/splink_link.py not available ({exc}); comparison skipped")
        return
    import polars as pl

    from data_samples.truth import LINK_KEY, score
    from lowincome.warehouse import Warehouse, query_pl

    day = f"{month:%Y-%m-%d}"
    with Warehouse(warehouse).reader() as con:
        registry = query_pl(con, f"SELECT * FROM std.registry WHERE month = DATE '{day}'")
    print(
        f"  {'source':22s} {'pipeline s':>10s} {'pipeline F1':>11s} {'splink s':>9s} {'splink F1':>9s} {'speed-up':>8s}"
    )
    for source, f in sorted(figures.items()):
        with Warehouse(warehouse).reader() as con:
            records = query_pl(con, f"SELECT * FROM std.{source} WHERE month = DATE '{day}'")
        t0 = time.perf_counter()
        try:
            got = link_with_splink(registry, records, source)
        except Exception as exc:  # report and go on with the other sources
            print(f"  {source:22s} splink failed: {type(exc).__name__}: {exc}")
            continue
        secs = time.perf_counter() - t0
        got = got.select(
            pl.lit(month).alias("month"),
            pl.lit(source).alias("source"),
            pl.col("source_row").cast(pl.Int32),
            pl.col("registry_row").cast(pl.Int32),
        )
        s = score(f["truth"], got, LINK_KEY)
        mine = f["score"]
        print(
            f"  {source:22s} {f['seconds']:10.2f} {mine.f1 if mine else float('nan'):11.4f} {secs:9.2f} "
            f"{s.f1:9.4f} {secs / f['seconds'] if f['seconds'] else float('nan'):7.1f}×   splink {s}"
        )


# ---------------------------------------------------------------- main
def _months_in(inbox: Path) -> list[str]:
    return (
        sorted(p.name for p in inbox.iterdir() if p.is_dir() and (p / "_MANIFEST.json").exists())
        if inbox.is_dir()
        else []
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.25, help="share of a prefecture (0.25, 0.5, 1)")
    ap.add_argument("--households", type=int, help="registry households (small tries); overrides --scale")
    ap.add_argument("--data", type=Path, help="reuse (or generate into) this folder; default a temporary one")
    ap.add_argument("--start", default="2026-07", help="month M-1 (YYYY-MM)")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--no-splink", action="store_true", help="skip the Splink comparison")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run month M this many times, each from the warehouse as M-1 left it; show the median run",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for k in ("month", "inbox", "warehouse", "exports", "params", "events-json"):
        ap.add_argument(f"--{k}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)

    households = args.households or round(PREFECTURE_HOUSEHOLDS * args.scale)
    counties = max(1, round(PREFECTURE_COUNTIES * households / PREFECTURE_HOUSEHOLDS))
    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_scale_")
        data = Path(tmp.name)
    data = data.resolve()
    try:
        months = _months_in(data / "inbox")
        if len(months) >= 2 and (data / "truth" / "links.csv").exists():
            print(f"reusing {data}: months {months[-2]} and {months[-1]}")
        else:
            cmd = [
                sys.executable,
                "-m",
                "data_samples.generate",
                "--out",
                str(data),
                "--households",
                str(households),
                "--months",
                "2",
                "--start",
                args.start,
                "--seed",
                str(args.seed),
                "--prefecture",
                "--counties",
                str(counties),
                "--csv-only",
            ]
            print(f"generating {households:,} households, {counties} counties, 2 months (CSV only) into {data}")
            code, secs, sampler = run_sampled(cmd)
            if code:
                print(f"generation FAILED (exit {code})")
                return 1
            print(
                f"generation: {secs:.1f} s wall, peak RSS {sampler.peak() / GiB:.2f} GiB (own process, not counted below)"
            )
            months = _months_in(data / "inbox")
        prev, cur = months[-2], months[-1]
        manifest = json.loads((data / "inbox" / cur / "_MANIFEST.json").read_text(encoding="utf-8"))["files"]
        rows = {k.split(".")[0]: v["rows"] for k, v in manifest.items()}
        reg_rows = rows.get("registry", 0)
        agency = sum(v for k, v in rows.items() if k not in ("registry", "dispositions"))
        print(
            f"month {cur}: registry {reg_rows:,} rows, agency {agency:,} rows "
            f"({agency / max(1, reg_rows):.2f} per registry row): {rows}"
        )

        work = data / "bench"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        paths = {
            "inbox": data / "inbox",
            "warehouse": work / "warehouse.duckdb",
            "exports": work / "exports",
            "params": PARAMS,
        }
        failed = False
        result: dict = {}
        sampler = None
        wall = 0.0
        runs_of_m: list[tuple[float, dict, TreeSampler]] = []
        after_prev = work / "warehouse_after_prev.duckdb"
        for month in (prev, *[cur] * args.repeat):
            if month == cur and args.repeat > 1:
                # every run of M starts from the warehouse as M-1 left it (a rerun would also delete)
                if not after_prev.exists():
                    shutil.copy(paths["warehouse"], after_prev)
                else:
                    shutil.copy(after_prev, paths["warehouse"])
            events = work / f"events_{month}.json"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                "--month",
                month,
                "--events-json",
                str(events),
            ]
            for k, v in paths.items():
                cmd += [f"--{k}", str(v)]
            code, wall, sampler = run_sampled(cmd)
            result = json.loads(events.read_text()) if events.exists() else {"success": False, "steps": {}}
            ok = code == 0 and result["success"]
            bad = [k for k, s in result["steps"].items() if s.get("ok") is False]
            print(
                f"\n{month}: {'ok' if ok else 'FAILED'} — wall {wall:.1f} s (child process incl. start-up), "
                f"peak RSS {sampler.peak() / GiB:.2f} GiB" + (f"; failed steps {bad}" if bad else "")
            )
            failed |= not ok
            if month == cur:
                runs_of_m.append((wall, result, sampler))
        if failed:
            print("a month FAILED: figures below are partial")
        if len(runs_of_m) > 1:
            walls = sorted(w for w, _r, _s in runs_of_m)
            wall, result, sampler = sorted(runs_of_m, key=lambda r: r[0])[(len(runs_of_m) - 1) // 2]
            print(
                f"\nmonth {cur}, {len(walls)} runs from the same M-1 state: wall min {walls[0]:.1f} s, "
                f"median {wall:.1f} s, max {walls[-1]:.1f} s; the figures below are the median run's"
            )
        steps = result["steps"]
        print(f"\nmonth {cur} per stage (sum over sources; Dagster step events and materialisation metadata):")
        print_stages(stage_table(steps, sampler))
        print_cpu(steps, sampler, wall)
        month_date = dt.date.fromisoformat(f"{cur}-01")
        if not paths["warehouse"].exists():
            return 1
        figures = linkage_figures(steps, month_date, data, paths["warehouse"])
        print(f"\nlinkage {cur} per source (a review is not a link; quarantined records left out):")
        print(
            f"  {'source':22s} {'pairs':>12s} {'non-exact':>10s} {'pairs/rec':>9s} {'seconds':>8s}  accepted links vs truth"
        )
        for source, f in sorted(figures.items()):
            per = f["pairs"] / f["non_exact"] if f["non_exact"] else float("nan")
            print(
                f"  {source:22s} {f['pairs']:12,d} {f['non_exact']:10,d} {per:9.1f} {f['seconds']:8.2f}  {f['score']}"
            )
        if not args.no_splink:
            splink_comparison(month_date, paths["warehouse"], figures)
        return 1 if failed else 0
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
