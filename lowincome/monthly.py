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

from lowincome.ingest import (
    DeliveryError,
    LoadResult,
    ambiguous_delivery,
    find_deliveries,
    find_delivery,
    load_delivery,
    manifest_entry,
    manifest_unknown_files,
    read_manifest,
)
from lowincome.months import add_months
from lowincome.schema import REGISTRY, polars_schema
from lowincome.warehouse import Warehouse, query_pl, replace_many


def month_dir(inbox: Path, month: dt.date) -> Path:
    return Path(inbox) / f"{month:%Y-%m}"


def read_source(inbox: Path, source: str, month: dt.date) -> LoadResult:
    """Find, read, standardise and quarantine `source` for `month` (nothing written).

    A malformed `_MANIFEST.json` rejects every source of the month (bad_manifest:
    the integrity check cannot be done, so nothing is trusted); two files for one
    source reject that source (ambiguous_files). Files the manifest lists that
    are no source are reported on the registry's audit row."""
    folder = month_dir(inbox, month)
    paths = find_deliveries(folder, source)
    try:
        manifest = read_manifest(folder)
    except DeliveryError as exc:
        manifest, reject = None, exc
    else:
        reject = None
    ambiguous = ambiguous_delivery(paths)
    if ambiguous is not None:
        result = load_delivery(None, source, month, manifest_entry(manifest, source))
        result.status = result.audit["status"] = "rejected"
        result.audit["error"] = "; ".join(f"{e.code}: {e}" for e in (ambiguous, reject) if e is not None)
        result.audit["warnings"] = ["ambiguous_files:" + ",".join(p.name for p in paths)]
    else:
        result = load_delivery(paths[0] if paths else None, source, month, manifest_entry(manifest, source), reject)
    if source == REGISTRY:
        result.audit["warnings"] += [f"manifest_unknown_file:{name}" for name in manifest_unknown_files(manifest)]
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


_REGISTRY_READ: dict = {}  # one slot: the month's registry, read once for the four linkage steps


def read_std(warehouse: Warehouse, source: str, month: dt.date, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """The month's std rows of `source` (only `columns` of them, where the table has them).
    The registry (a million rows in a prefecture, read by each linkage step) is read whole
    and kept while its rows are unchanged: a hash over the rows, computed in DuckDB, decides."""
    sql = f"SELECT * FROM std.{source} WHERE month = ? ORDER BY source_row"
    with warehouse.reader() as con:
        if source != "registry":
            if columns is not None:
                have = polars_schema(f"std.{source}")
                sql = sql.replace("*", ", ".join(f'"{c}"' for c in dict.fromkeys(columns) if c in have), 1)
            return query_pl(con, sql, [month])
        key = (str(warehouse.path), month) + con.execute(
            "SELECT count(*), sum(hash(r)::HUGEINT) FROM std.registry r WHERE month = ?", [month]
        ).fetchall()[0]
        if key not in _REGISTRY_READ:
            _REGISTRY_READ.clear()
            _REGISTRY_READ[key] = query_pl(con, sql, [month])
        return _REGISTRY_READ[key]


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
    from lowincome.linkage import LinkageSettings, write_review_list
    from lowincome.linkage import link_source as link
    from lowincome.linkage.features import INPUT_COLUMNS
    from lowincome.linkage.review import RECORD_COLUMNS, read_returned_reviews

    registry = read_std(warehouse, "registry", month)
    # what linkage and the review list read, not the whole extract (memory: 3.4M claims at 1x)
    records = read_std(warehouse, source, month, ("month", "source", *RECORD_COLUMNS, *INPUT_COLUMNS))
    # Returned lists are input, not authority: unsigned or altered rows are refused and a
    # corrupt file is skipped with a warning (recorded for the month whose folder holds it).
    returned = {m: read_returned_reviews(month_dir(inbox, m)) for m in inbox_months(inbox) if m <= month}
    decisions = [r.decisions for r in returned.values()]
    clerical = pl.concat(decisions) if decisions else None
    own = returned.get(month)
    settings = LinkageSettings.from_env()
    months_back = int(settings.for_source(source).evidence.get("history_months") or 0)
    with warehouse.reader() as con:
        history = query_pl(
            con,
            "SELECT record_key, person_key FROM linkage.record_history WHERE source = ? AND month < ? AND month >= ?",
            [source, month, add_months(month, -months_back)],
        )
    result = link(
        registry,
        records,
        source,
        settings,
        clerical=clerical,
        history=history,
        namesakes=_namesakes_seen(warehouse, source, month, settings.for_source(source)),
    )
    with warehouse.writer() as con:
        key = "month = ? AND source = ?"
        replace_many(
            con,
            [
                ("linkage.links", result.links, key, [month, source]),
                (
                    "linkage.model_runs",
                    pl.DataFrame([result.model_run | {"month": month, "source": source}]),
                    key,
                    [month, source],
                ),
                (
                    "linkage.record_history",
                    result.record_keys.with_columns(month=pl.lit(month), source=pl.lit(source)),
                    key,
                    [month, source],
                ),
                *_returned_review_rows(own, result.metrics, month, source),
            ],
        )
    review_path = Path(exports) / f"{month:%Y-%m}" / "review" / f"review_decisions_{source}_{month:%Y-%m}.xlsx"
    review_path.unlink(missing_ok=True)  # a rerun with nothing to review leaves no stale list
    review_path = write_review_list(result.links, registry, records, review_path)
    return result, review_path


def _namesakes_seen(warehouse: Warehouse, source: str, month: dt.date, settings):
    """The lookup of namesakes in the source's deliveries of the months before `month`
    (evidence.namesakes_seen), read from the warehouse when linkage asks."""
    from lowincome.linkage.evidence import namesake_window, namesakes_seen

    window = namesake_window(settings, month)
    if window is None:
        return None
    relation = f"(SELECT * FROM std.{source} WHERE month >= DATE '{window[0]}' AND month < DATE '{window[1]}')"

    def lookup(candidates: pl.DataFrame):
        with warehouse.reader() as con:
            return namesakes_seen(con, relation, polars_schema(f"std.{source}"), candidates)

    return lookup


_RETURNED_FILES = polars_schema("ops.returned_files")
_RETURNED_ISSUES = polars_schema("ops.returned_issues")


# Returned decisions that met an exact-ID link: (metric of link_source, reason code, reason).
_CLERICAL_VS_EXACT = (
    (
        "clerical_refused_exact_id",
        "clerical_vs_exact_id",
        "条复核判定与身份证号精确匹配冲突，未采用（须明确选择“推翻身份证号匹配”）"
        " / clerical decisions contradicting an exact-ID link refused (an explicit override is required)",
    ),
    (
        "clerical_overrode_exact_id",
        "clerical_override_exact_id",
        "条身份证号精确匹配按人工明确判定改为他人 / exact-ID links overridden by an explicit clerical decision",
    ),
)


def _returned_review_rows(own, metrics: dict, month: dt.date, source: str) -> list:
    """ops.returned_files / ops.returned_issues replacements for the month's review lists:
    the files as a whole (source '*', the same for every linkage source) and this source's
    refused exact-ID overrides."""
    files = [
        {
            "month": month,
            "kind": "review_decisions",
            "source": "*",
            "file": f["file"],
            "status": f["status"],
            "rows_read": f["rows"],
            "rows_applied": f["applied"],
            "rows_refused": f["refused"],
            "error": f["error"],
        }
        for f in (own.files if own else [])
    ]
    issues = [
        {
            "month": month,
            "kind": "review_decisions",
            "source": "*",
            "file": i["file"],
            "row_number": i["row"],
            "reason_code": i["reason_code"],
            "reason": i["reason"],
        }
        for i in (own.issues if own else [])
    ]
    mine = [
        {
            "month": month,
            "kind": "review_decisions",
            "source": source,
            "file": None,
            "row_number": None,
            "reason_code": code,
            "reason": f"{metrics[metric]} {reason}",
        }
        for metric, code, reason in _CLERICAL_VS_EXACT
        if metrics.get(metric)
    ]
    key = "month = ? AND kind = 'review_decisions' AND source = ?"
    return [
        ("ops.returned_files", pl.DataFrame(files, schema=_RETURNED_FILES), key, [month, "*"]),
        ("ops.returned_issues", pl.DataFrame(issues, schema=_RETURNED_ISSUES), key, [month, "*"]),
        ("ops.returned_issues", pl.DataFrame(mine, schema=_RETURNED_ISSUES), key, [month, source]),
    ]


def evaluate_rules(warehouse: Warehouse, params_path: Path, month: dt.date):
    """Apply the rule catalogue for the month (flags.risk_flags and history)."""
    from lowincome.rules import load_params, run_rules

    params = load_params(Path(params_path))
    with warehouse.writer() as con:
        result = run_rules(con, month, params)
        audit_dispositions(con, month)
        return result


_DISPOSITION_ISSUES = """
WITH d AS (
    SELECT d.*, f.flag_id IS NOT NULL AS known
    FROM std.dispositions d
    LEFT JOIN (SELECT DISTINCT flag_id FROM flags.risk_flags WHERE month < $month) f ON f.flag_id = d.flag_id
    WHERE d.month = $month
), top AS (  -- per flag: the latest 处置日期 among closing and other dispositions
    SELECT flag_id, max(disposed_on) AS latest, count(DISTINCT disposition) AS kinds
    FROM d WHERE disposition IS NOT NULL GROUP BY flag_id
), tie AS (
    SELECT flag_id, count(DISTINCT disposition) AS at_top
    FROM d JOIN top USING (flag_id)
    WHERE disposition IS NOT NULL AND disposed_on IS NOT DISTINCT FROM latest GROUP BY flag_id
)
SELECT d.source_row, d.source_file, 'unknown_flag_id' AS reason_code,
       '标记编号 ' || d.flag_id || ' 不是本系统此前下发的预警，未采用 / unknown flag ID, not applied' AS reason
FROM d WHERE NOT known
UNION ALL
SELECT d.source_row, d.source_file, 'disposition_date_missing',
       '处置日期缺失或无法识别（已置空），按最新处置日期取舍时排在有日期的记录之后 / 处置日期 missing or unparseable (nulled)'
FROM d WHERE known AND disposition IS NOT NULL AND disposed_on IS NULL
UNION ALL
SELECT d.source_row, d.source_file, 'disposition_conflict',
       CASE WHEN tie.at_top > 1
            THEN '同一标记编号的处置结果相互冲突且处置日期相同，均未采用 / conflicting dispositions with the same latest date: none applied'
            ELSE '同一标记编号的处置结果相互冲突，按最新处置日期（' || coalesce(strftime(top.latest, '%Y-%m-%d'), '无') ||
                 '）取舍 / conflicting dispositions: the latest 处置日期 wins' END
FROM d JOIN top USING (flag_id) JOIN tie USING (flag_id)
WHERE known AND top.kinds > 1 AND d.disposition IS NOT NULL
ORDER BY 1, 3
"""


def audit_dispositions(con, month: dt.date) -> None:
    """Report the month's returned dispositions in ops.returned_files / ops.returned_issues:
    unknown flag IDs, missing or unparseable 处置日期, conflicting duplicates (the rules
    apply the latest 处置日期; a tie that disagrees applies none)."""
    issues = query_pl(con, _DISPOSITION_ISSUES.replace("$month", "?::DATE"), [month] * 2)
    audit = query_pl(
        con,
        "SELECT source_file, rows_read, rows_loaded, status FROM ops.load_audit "
        "WHERE month = ? AND source = 'dispositions'",
        [month],
    )
    files = []
    if audit.height and audit["status"][0] != "missing":
        read, loaded = int(audit["rows_read"][0] or 0), int(audit["rows_loaded"][0] or 0)
        refused = issues.filter(pl.col("reason_code") == "unknown_flag_id")["source_row"].n_unique()
        files.append(
            {
                "month": month,
                "kind": "dispositions",
                "source": "*",
                "file": audit["source_file"][0],
                "status": "read" if audit["status"][0] == "loaded" else "corrupt",
                "rows_read": read,
                "rows_applied": loaded - refused,
                "rows_refused": refused,
                "error": None,
            }
        )
    rows = [
        {
            "month": month,
            "kind": "dispositions",
            "source": "*",
            "file": r["source_file"],
            "row_number": r["source_row"],
            "reason_code": r["reason_code"],
            "reason": r["reason"],
        }
        for r in issues.iter_rows(named=True)
    ]
    key = "month = ? AND kind = 'dispositions'"
    replace_many(
        con,
        [
            ("ops.returned_files", pl.DataFrame(files, schema=_RETURNED_FILES), key, [month]),
            ("ops.returned_issues", pl.DataFrame(rows, schema=_RETURNED_ISSUES), key, [month]),
        ],
    )


def export_workbooks(
    warehouse: Warehouse, exports: Path, month: dt.date, regions: dict[str, str] | None = None
) -> list[Path]:
    """Write the month's workbooks as a complete set with a completion marker (lowincome/publish.py)."""
    from lowincome.exports import write_caseworker_workbooks
    from lowincome.publish import publish_workbooks

    def write(staging_root: Path) -> list[Path]:
        with warehouse.reader() as con:
            return write_caseworker_workbooks(con, month, staging_root, regions=regions)

    return publish_workbooks(Path(exports), month, write)
