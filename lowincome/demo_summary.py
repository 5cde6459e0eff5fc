"""A short plain-text account of what the warehouse holds, for the demo."""

from __future__ import annotations

from pathlib import Path

from lowincome.warehouse import Warehouse

QUERIES = {
    "Rows per source (read = loaded + quarantined)": """
        SELECT strftime(month, '%Y-%m') AS month, source, status, encoding, rows_read, rows_loaded, rows_quarantined
        FROM ops.load_audit ORDER BY month, source""",
    "Quarantine by reason": """
        SELECT source, reason_code, count(*) AS rows FROM ops.quarantine GROUP BY ALL ORDER BY source, rows DESC""",
    "Linkage decisions": """
        SELECT strftime(month, '%Y-%m') AS month, source, method, decision, count(*) AS records
        FROM linkage.links GROUP BY ALL ORDER BY month, source, method, decision""",
    "Flags per rule and state": """
        SELECT strftime(month, '%Y-%m') AS month, rule_code, state, count(*) AS flags
        FROM flags.risk_flags GROUP BY ALL ORDER BY month, rule_code, state""",
    "Failed data-quality expectations": """
        SELECT strftime(month, '%Y-%m') AS month, source, severity, expectation, observed
        FROM dq.results WHERE NOT success ORDER BY month, source, severity, expectation""",
}


def print_summary(warehouse_path: Path) -> None:
    with Warehouse(warehouse_path).reader() as con:
        for title, sql in QUERIES.items():
            print(f"\n== {title}")
            rel = con.sql(sql)
            rows = rel.fetchall()
            print("   " + " | ".join(rel.columns))
            for r in rows[:60]:
                print("   " + " | ".join("" if v is None else str(v) for v in r))
            if len(rows) > 60:
                print(f"   … {len(rows) - 60} more rows")
