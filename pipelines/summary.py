"""The closing summary of `lowincome run`: what the month produced, read back
from the warehouse and the exports folder (not from the run's own bookkeeping),
so it says what caseworkers and auditors actually received."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from lowincome.warehouse import Warehouse


@dataclass
class MonthSummary:
    month: dt.date
    withheld: bool
    reason: str | None
    flags: dict[str, dict[str, int]] = field(default_factory=dict)  # rule_code -> state -> flags
    rule_names: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # rule_code -> reason
    review: dict[str, int] = field(default_factory=dict)  # source -> links awaiting review
    workbooks: list[Path] = field(default_factory=list)
    report: Path | None = None

    def text(self, seconds: float) -> str:
        states = ("新增", "持续", "已清零")
        lines = [f"{self.month:%Y-%m}: {'WITHHELD' if self.withheld else 'published'} in {seconds:.1f} s"]
        if self.withheld:
            lines.append(f"  flags withheld: {self.reason}")
        if self.flags:
            lines.append("  flags per rule (" + " / ".join(states) + "):")
            for code in sorted(self.flags):
                n = self.flags[code]
                lines.append(
                    f"    {code} {self.rule_names.get(code, '')}: " + " / ".join(str(n.get(s, 0)) for s in states)
                )
            total = {s: sum(n.get(s, 0) for n in self.flags.values()) for s in states}
            lines.append("    total: " + " / ".join(str(total[s]) for s in states))
        elif not self.withheld:
            lines.append("  no flags this month")
        for code, why in sorted(self.skipped.items()):
            lines.append(f"  skipped {code}: {why}")
        backlog = sum(self.review.values())
        lines.append(
            f"  review backlog: {backlog} links to check"
            + (" (" + ", ".join(f"{s} {n}" for s, n in sorted(self.review.items()) if n) + ")" if backlog else "")
        )
        lines.append(
            f"  workbooks: {len(self.workbooks)}" + (f" in {self.workbooks[0].parent}" if self.workbooks else "")
        )
        for p in self.workbooks:
            lines.append(f"    {p.name}")
        lines.append(f"  report: {self.report or 'none'}")
        return "\n".join(lines)


def month_summary(warehouse: Path, exports: Path, month: dt.date) -> MonthSummary:
    with Warehouse(warehouse).reader() as con:
        status = con.execute("SELECT published, reason FROM flags.month_status WHERE month = ?", [month]).fetchall()
        withheld = not status or not status[0][0]
        reason = (status[0][1] if status else None) or ("the rules were not evaluated" if withheld else None)
        summary = MonthSummary(month, withheld, reason)
        for code, name, state, n in con.execute(
            "SELECT rule_code, rule_name, state, count(*) FROM flags.risk_flags WHERE month = ? "
            "GROUP BY ALL ORDER BY ALL",
            [month],
        ).fetchall():
            summary.flags.setdefault(code, {})[state] = n
            summary.rule_names[code] = name
        for code, name, st, why in con.execute(
            "SELECT rule_code, rule_name, status, reason FROM flags.rule_runs WHERE month = ? ORDER BY rule_code",
            [month],
        ).fetchall():
            summary.rule_names.setdefault(code, name)
            if st == "skipped":
                summary.skipped[code] = why or ""
        summary.review = dict(
            con.execute(
                "SELECT source, count(*) FROM linkage.links WHERE month = ? AND decision = 'review' GROUP BY source",
                [month],
            ).fetchall()
        )
    folder = Path(exports) / f"{month:%Y-%m}"
    summary.workbooks = sorted(folder.glob("*.xlsx"))
    reports = sorted((folder / "dq").glob("*.html"))
    summary.report = reports[0] if reports else None
    return summary
