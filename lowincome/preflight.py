"""Checks made before a month writes anything: parameters, month order, exports path.

The CLI runs them before it launches the job (exit 2, one line) and the job runs
them again in its first step (`ops/preflight`, upstream of every ingestion asset),
so a Dagster run started from the UI, a schedule or a backfill is refused the same
way before ingestion or linkage commit anything. The flags step repeats the order
check as a last guard for runs that select assets without the preflight step.

Month order (issue 11, item 9): the lifecycle of a month (新增 / 持续 / 已清零) is
computed against the month before it, and linkage uses the accepted links of
earlier months as evidence. A month is therefore REFUSED, not silently computed
against the wrong predecessor, when
  * a later month has already been processed (its states were computed without
    this month: running this one now would leave them wrong), or
  * the previous month was delivered (its inbox folder exists, and it is within
    the partitions) but has not been processed yet.
Rerunning the latest processed month is allowed (same inputs, same result). A
month whose predecessor was never delivered (no folder) runs against the last
processed month, as the rules already do for a skipped rule. To correct an
earlier month, reprocess from that month onwards in order in a fresh warehouse.
Recomputing later months automatically was not chosen: their linkage evidence
and clerical decisions depend on the earlier months too, so only a full rerun in
order gives the same result as running in order. Dagster backfills run in
partition order because `flags/risk_flags` depends on its own previous partition.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import duckdb

from lowincome.months import add_months
from lowincome.params import Params, ParamsError, load_params


class PreflightError(ValueError):
    """The month is refused before anything is written; the message is Chinese + English, one line."""


def check_params(path: str | Path | None) -> Params:
    try:
        return load_params(path)
    except ParamsError as exc:
        raise PreflightError(str(exc).splitlines()[0]) from exc


def processed_months(warehouse_path: str | Path) -> list[dt.date]:
    """Months with a row in flags.month_status (published or withheld); [] for a new warehouse."""
    path = Path(warehouse_path)
    if not path.exists():
        return []
    from lowincome.warehouse import Warehouse

    try:
        with Warehouse(path).reader() as con:
            rows = con.execute("SELECT DISTINCT month FROM flags.month_status ORDER BY month").fetchall()
    except duckdb.CatalogException:
        return []
    except (duckdb.Error, OSError) as exc:
        raise PreflightError(
            f"数据仓库无法打开：{path} / warehouse cannot be opened: {path}: " + " ".join(str(exc).split())[:200]
        ) from exc
    return [r[0] for r in rows]


def check_order(
    warehouse_path: str | Path, inbox: str | Path, month: dt.date, first_month: dt.date | None = None
) -> None:
    """Raise PreflightError when `month` would be processed out of order (see the module docstring)."""
    done = processed_months(warehouse_path)
    later = [m for m in done if m > month]
    if later:
        names = "、".join(f"{m:%Y-%m}" for m in later)
        raise PreflightError(
            f"月份顺序错误：{month:%Y-%m} 之后的月份（{names}）已处理，现在处理 {month:%Y-%m} 会使其新增/持续/已清零状态失真，"
            f"已拒绝；请在新库中从 {month:%Y-%m} 起按月顺序重跑 / month order: {names} already processed after "
            f"{month:%Y-%m}; running {month:%Y-%m} now would leave their 新增/持续/已清零 states wrong, so it is refused "
            f"(reprocess from {month:%Y-%m} onwards, in order, in a fresh warehouse)"
        )
    prev = add_months(month, -1)
    delivered = (Path(inbox) / f"{prev:%Y-%m}").is_dir()
    in_range = first_month is None or prev >= first_month
    if delivered and in_range and prev not in done:
        raise PreflightError(
            f"月份顺序错误：上月 {prev:%Y-%m} 已交付但尚未处理，请先处理 {prev:%Y-%m} / month order: the previous month "
            f"{prev:%Y-%m} was delivered but has not been processed; run {prev:%Y-%m} first"
        )


def check_exports(exports: str | Path) -> None:
    """The exports folder can be created and written (before the month is marked published)."""
    path = Path(exports)
    probe = path / f".write_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise PreflightError(
            f"导出目录不可用：{path}（{exc.strerror or exc}） / exports path unusable: {path} ({exc.strerror or exc})"
        ) from exc


def preflight(
    month: dt.date,
    params: str | Path | None,
    warehouse: str | Path,
    inbox: str | Path,
    exports: str | Path,
    first_month: dt.date | None = None,
) -> Params:
    """Every check, cheapest first; returns the validated parameters."""
    loaded = check_params(params)
    check_exports(exports)
    check_order(warehouse, inbox, month, first_month)
    return loaded
