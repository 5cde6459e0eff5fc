"""`lowincome`: run a month with the same Dagster definitions as the UI, or the demo.

lowincome run --month 2026-08 [--inbox DIR] [--warehouse FILE] [--exports DIR] [--params FILE]
lowincome dispositions --out INBOX/YYYY-MM/dispositions.xlsx WORKBOOK.xlsx ...
lowincome demo [--households N] [--months K]
lowincome generate --out DIR [--households N] [--months K]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import time
from pathlib import Path

OPTION_ENV = {
    "inbox": "MONITOR_INBOX",
    "warehouse": "MONITOR_WAREHOUSE",
    "exports": "MONITOR_EXPORTS",
    "params": "MONITOR_PARAMS",
}


MONTH_RE = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")

# Exit codes (outputs.md): 0 published, 1 a step failed, 2 no delivery / bad arguments (incl. invalid
# parameters, a month out of order, an unusable exports path: refused before anything is written),
# 3 flags withheld.
EXIT_OK, EXIT_FAILED, EXIT_NO_DELIVERY, EXIT_WITHHELD = 0, 1, 2, 3


class UsageError(Exception):
    """A wrong argument: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, never the usage block or a traceback
        raise UsageError(message)


def parse_month(text: str) -> dt.date:
    """'2026-08' or '2026-08-01' -> date(2026, 8, 1); anything else is a UsageError."""
    m = MONTH_RE.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise UsageError(f"--month must be YYYY-MM (or the partition key YYYY-MM-01), got {text!r}")
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def check_partition(month: dt.date) -> None:
    """The month must be one of the job's partitions (MONITOR_FIRST_MONTH up to last month)."""
    from assets.partitions import monthly_partitions

    keys = monthly_partitions.get_partition_keys()
    if f"{month:%Y-%m-01}" not in keys:
        span = f"{keys[0][:7]} … {keys[-1][:7]}" if keys else "none"
        raise UsageError(
            f"month {month:%Y-%m} is outside the partitions ({span}; first month from MONITOR_FIRST_MONTH)"
        )


def run_month(month: dt.date, log_level: str = "INFO", **paths: str | None):
    """Execute the monthly job for one partition in this process.

    Options override the environment. Returns the Dagster execution result.
    """
    import dagster as dg

    from assets.resources import MonitorConfig, resolved
    from pipelines.definitions import build_definitions

    values = {k: str(paths.get(k) or resolved(env)) for k, env in OPTION_ENV.items()}
    defs = build_definitions(MonitorConfig(**values))
    job = defs.resolve_job_def("monthly_monitoring")
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    return job.execute_in_process(
        partition_key=f"{month:%Y-%m-01}",
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def _step_error(result) -> str:
    """The first failed step and the first line of its error."""
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            message = (data.error.message if data and data.error else "").strip().splitlines()
            return f"step {event.step_key} failed: {message[0] if message else 'see the Dagster log'}"
    return "the run did not succeed (no failed step reported)"


def _cmd_run(args) -> int:
    from assets.resources import resolved
    from lowincome.privacy import mask_free_text
    from pipelines.summary import month_summary

    month = parse_month(args.month)
    check_partition(month)
    folder = Path(args.inbox or resolved("MONITOR_INBOX")) / f"{month:%Y-%m}"
    if not folder.is_dir():
        print(f"{month:%Y-%m}: no delivery (folder {folder} does not exist)", file=sys.stderr)
        return EXIT_NO_DELIVERY
    # Refuse the month before anything is written: bad parameters, out-of-order month,
    # unusable exports path (lowincome/preflight.py). The job's first step checks again.
    from assets.partitions import FIRST_MONTH
    from lowincome.months import month_of
    from lowincome.preflight import PreflightError, preflight

    try:
        preflight(
            month,
            args.params or resolved("MONITOR_PARAMS"),
            args.warehouse or resolved("MONITOR_WAREHOUSE"),
            folder.parent,
            args.exports or resolved("MONITOR_EXPORTS"),
            first_month=month_of(FIRST_MONTH),
        )
    except PreflightError as exc:
        print(f"{month:%Y-%m}: refused: {exc}", file=sys.stderr)
        return EXIT_NO_DELIVERY
    started = time.perf_counter()
    result = run_month(
        month,
        log_level=args.log_level,
        inbox=args.inbox,
        warehouse=args.warehouse,
        exports=args.exports,
        params=args.params,
    )
    seconds = time.perf_counter() - started
    if not result.success:
        print(mask_free_text(f"{month:%Y-%m}: FAILED after {seconds:.1f} s: {_step_error(result)}"), file=sys.stderr)
        return EXIT_FAILED
    summary = month_summary(
        Path(args.warehouse or resolved("MONITOR_WAREHOUSE")), Path(args.exports or resolved("MONITOR_EXPORTS")), month
    )
    print(mask_free_text(summary.text(seconds)))
    if summary.withheld:
        print(mask_free_text(f"{month:%Y-%m}: flags withheld: {summary.reason}"), file=sys.stderr)
        return EXIT_WITHHELD
    return EXIT_OK


def _cmd_dispositions(args) -> int:
    """Merge returned township workbooks into one inbox `dispositions.xlsx`."""
    import polars as pl

    from lowincome.exports import read_dispositions_workbook, write_dispositions_file

    frames = []
    for book in args.workbooks:
        try:
            frames.append(read_dispositions_workbook(Path(book)))
        except (OSError, ValueError) as exc:
            print(f"{book}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return EXIT_NO_DELIVERY
    merged = pl.concat(frames) if frames else pl.DataFrame()
    out = write_dispositions_file(merged, Path(args.out))
    print(f"{merged.height} dispositions from {len(frames)} workbooks -> {out}")
    return EXIT_OK


def _cmd_generate(args) -> int:
    from data_samples.generate import generate

    summary = generate(
        Path(args.out), households=args.households, months=args.months, start_month=args.start, seed=args.seed
    )
    print(summary)
    return 0


def _cmd_demo(args) -> int:
    from assets.resources import PROJECT_ROOT
    from data_samples.generate import generate
    from lowincome.demo_summary import print_summary

    root = Path(args.root or PROJECT_ROOT / "var" / "demo")
    if root.exists():
        shutil.rmtree(root)  # the demo always starts from a clean warehouse
    started = time.perf_counter()
    summary = generate(root, households=args.households, months=args.months, start_month=args.start, seed=args.seed)
    generated = time.perf_counter()
    paths = {
        "inbox": root / "inbox",
        "warehouse": root / "warehouse.duckdb",
        "exports": root / "exports",
        "params": Path(os.environ.get("MONITOR_PARAMS") or PROJECT_ROOT / "data_samples" / "params.yaml"),
    }
    ok = True
    for month in summary.month_dates:
        t0 = time.perf_counter()
        result = run_month(month, log_level="WARNING", **{k: str(v) for k, v in paths.items()})
        ok &= result.success
        print(f"  {month:%Y-%m}: {'ok' if result.success else 'FAILED'} in {time.perf_counter() - t0:.1f} s")
    total = time.perf_counter() - started
    print_summary(paths["warehouse"])
    print(f"\nSample data generated in {generated - started:.1f} s; whole demo {total:.1f} s.")
    print(f"Warehouse: {paths['warehouse']}")
    print(f"Exports (caseworker workbooks, review lists, data-quality reports): {paths['exports']}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="lowincome", description="低收入人口动态监测 monthly pipeline")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process one month with the Dagster job")
    run.add_argument("--month", required=True, help="YYYY-MM")
    for name, env in OPTION_ENV.items():
        run.add_argument(f"--{name}", help=f"overrides ${env}")
    run.add_argument("--log-level", default="INFO", help="Dagster console log level (DEBUG shows every event)")
    run.set_defaults(func=_cmd_run)

    disp = sub.add_parser("dispositions", help="merge returned township workbooks into one dispositions.xlsx")
    disp.add_argument("--out", required=True, help="e.g. inbox/2026-09/dispositions.xlsx")
    disp.add_argument("workbooks", nargs="+")
    disp.set_defaults(func=_cmd_dispositions)

    for name, func in (("demo", _cmd_demo), ("generate", _cmd_generate)):
        p = sub.add_parser(name, help=f"{name} on generated sample data")
        p.add_argument("--households", type=int, default=2000)
        p.add_argument("--months", type=int, default=3)
        p.add_argument("--start", default="2026-07", help="first month, YYYY-MM")
        p.add_argument("--seed", type=int, default=20261129)
        if name == "demo":
            p.add_argument("--root", help="where the demo writes (default var/demo)")
        else:
            p.add_argument("--out", required=True)
        p.set_defaults(func=func)

    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(f"lowincome: {exc}", file=sys.stderr)
        return EXIT_NO_DELIVERY


if __name__ == "__main__":
    sys.exit(main())
