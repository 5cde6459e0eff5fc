"""One month's processing steps as plain functions (no Dagster).

Each step reads what it needs from the warehouse and replaces its own month
atomically, so a step can be rerun on its own and a rerun changes nothing.
The Dagster assets in `assets/` are thin wrappers around these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lowincome.ingest import DeliveryError, LoadResult, find_delivery, load_delivery, manifest_entry, read_manifest
from lowincome.months import add_months
from lowincome.warehouse import Warehouse, query_pl, replace_many


def month_dir(inbox: Path, month: dt.date) -> Path:
    return Path(inbox) / f"{month:%Y-%m}"


def read_source(inbox: Path, source: str, month: dt.date) -> LoadResult:
    """Find, read, standardise and quarantine `source` for `month` (nothing written)."""
    folder = month_dir(inbox, month)
    path = find_delivery(folder, source)
    try:
        manifest = read_manifest(folder)
    except DeliveryError as exc:
        manifest = None
        manifest_error = str(exc)
    else:
        manifest_error = None
    result = load_delivery(path, source, month, manifest_entry(manifest, source))
    if manifest_error:
        result.audit["error"] = "; ".join(filter(None, [result.audit["error"], manifest_error]))
    return result


def ingest_source(warehouse: Warehouse, inbox: Path, source: str, month: dt.date) -> LoadResult:
    """Load `source` for `month` from the inbox into std.<source>, ops.load_audit
    and ops.quarantine, replacing that month in one transaction."""
    result = read_source(inbox, source, month)
    key = "month = ? AND source = ?"
    with warehouse.writer() as con:
        replace_many(
            con,
            [
                (f"std.{source}", result.data, "month = ?", [month]),
                ("ops.quarantine", result.quarantine, key, [month, source]),
                ("ops.load_audit", result.audit_frame(), key, [month, source]),
            ],
        )
    return result


def read_std(warehouse: Warehouse, source: str, month: dt.date) -> pl.DataFrame:
    with warehouse.reader() as con:
        return query_pl(con, f"SELECT * FROM std.{source} WHERE month = ? ORDER BY source_row", [month])


def read_audit(warehouse: Warehouse, source: str, month: dt.date) -> dict | None:
    with warehouse.reader() as con:
        frame = query_pl(con, "SELECT * FROM ops.load_audit WHERE month = ? AND source = ?", [month, source])
    return frame.row(0, named=True) if frame.height else None


@dataclass
class DeliveryStatus:
    """What has arrived for a month: used by the sensor."""

    month: dt.date
    present: dict[str, Path]
    expected: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return all(s in self.present for s in self.expected)

    def fingerprint(self) -> str:
        parts = [f"{s}:{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for s, p in sorted(self.present.items())]
        return "|".join(parts)


def delivery_status(inbox: Path, month: dt.date, sources: tuple[str, ...]) -> DeliveryStatus:
    """Which of the month's files are there. When a manifest exists, the month is
    complete once every file it lists is present; otherwise all five extracts."""
    folder = month_dir(inbox, month)
    expected = sources
    try:
        manifest = read_manifest(folder)
    except DeliveryError:
        manifest = None
    if manifest and manifest.get("files"):
        expected = tuple(sorted({Path(n).stem.lower() for n in manifest["files"]}))
    present = {}
    for s in set(sources) | set(expected):
        path = find_delivery(folder, s)
        if path:
            present[s] = path
    return DeliveryStatus(month, present, expected)


def inbox_months(inbox: Path) -> list[dt.date]:
    months = []
    if Path(inbox).is_dir():
        for p in sorted(Path(inbox).iterdir()):
            try:
                months.append(dt.datetime.strptime(p.name, "%Y-%m").date())
            except ValueError:
                continue
    return months


def link_source(warehouse: Warehouse, inbox: Path, exports: Path, source: str, month: dt.date):
    """Link the month's records of `source` to the month's registry; write
    linkage.links for (month, source) and the review list for caseworkers.

    Returned review decisions (`review_decisions*.xlsx` dropped into a month's
    inbox folder) of this and earlier months are applied as method `clerical`;
    later months' folders are ignored so that rerunning a month gives the same links.
    """
    from lowincome.linkage import LinkageSettings, link_source as link, read_review_decisions, write_review_list

    registry = read_std(warehouse, "registry", month)
    records = read_std(warehouse, source, month)
    decisions = [read_review_decisions(month_dir(inbox, m)) for m in inbox_months(inbox) if m <= month]
    clerical = pl.concat(decisions) if decisions else None
    settings = LinkageSettings.from_env()
    months_back = int(settings.for_source(source).evidence.get("history_months") or 0)
    with warehouse.reader() as con:
        history = query_pl(
            con,
            "SELECT record_key, person_key FROM linkage.record_history WHERE source = ? AND month < ? AND month >= ?",
            [source, month, add_months(month, -months_back)],
        )
    result = link(registry, records, source, settings, clerical=clerical, history=history)
    with warehouse.writer() as con:
        key = "month = ? AND source = ?"
        replace_many(
            con,
            [
                ("linkage.links", result.links, key, [month, source]),
                ("linkage.model_runs", pl.DataFrame([result.model_run | {"month": month, "source": source}]), key, [month, source]),
                ("linkage.record_history", result.record_keys.with_columns(month=pl.lit(month), source=pl.lit(source)),
                 key, [month, source]),
            ],
        )
    review_path = Path(exports) / f"{month:%Y-%m}" / "review" / f"review_decisions_{source}_{month:%Y-%m}.xlsx"
    review_path.unlink(missing_ok=True)  # a rerun with nothing to review leaves no stale list
    review_path = write_review_list(result.links, registry, records, review_path)
    return result, review_path


def evaluate_rules(warehouse: Warehouse, params_path: Path, month: dt.date):
    """Apply the rule catalogue for the month (flags.risk_flags and history)."""
    from lowincome.rules import load_params, run_rules

    params = load_params(Path(params_path))
    with warehouse.writer() as con:
        return run_rules(con, month, params)


def export_workbooks(warehouse: Warehouse, exports: Path, month: dt.date,
                     regions: dict[str, str] | None = None) -> list[Path]:
    from lowincome.exports import write_caseworker_workbooks

    # A rerun replaces the month's workbooks: none of an earlier run may linger
    # (e.g. a township without flags now, or a month whose flags are withheld).
    for stale in (Path(exports) / f"{month:%Y-%m}").glob("*.xlsx"):
        stale.unlink()
    with warehouse.reader() as con:
        return write_caseworker_workbooks(con, month, Path(exports), regions=regions)


def export_quality_report(warehouse: Warehouse, exports: Path, month: dt.date) -> Path:
    from quality import write_report

    with warehouse.reader() as con:
        return write_report(con, month, Path(exports))
