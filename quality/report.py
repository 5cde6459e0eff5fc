"""The auditor's monthly data-quality report: one self-contained HTML page in
Simplified Chinese (plotly.js embedded inline, so it opens from disk offline).

Reads only (a read-only connection is enough): dq.results, ops.load_audit,
ops.source_status, ops.quarantine, linkage.links, flags.rule_runs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from lowincome.months import add_months
from lowincome.schema import EXTRACT_SOURCES, REGISTRY, SOURCE_LABELS
from quality.linkage_quality import CATEGORY_LABELS, link_counts
from quality.masking import mask_raw

TEMPLATES = Path(__file__).resolve().parent / "templates"
TREND_MONTHS = 12
EXAMPLES_PER_REASON = 3

SEVERITY_LABELS = {"critical": "严重", "warning": "警示"}
STATUS_LABELS = {"loaded": "已入库", "rejected": "拒收", "missing": "未送达"}
RULE_STATUS_LABELS = {"ran": "已执行", "skipped": "已跳过"}


def _label(source: str) -> str:
    if source.startswith("linkage:"):
        return "关联：" + SOURCE_LABELS.get(source.split(":", 1)[1], source.split(":", 1)[1])
    return SOURCE_LABELS.get(source, source)


def _source_order(source: str) -> int:
    return EXTRACT_SOURCES.index(source) if source in EXTRACT_SOURCES else len(EXTRACT_SOURCES)


def _records(con, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


# --- flags publication ----------------------------------------------------------------------


def flags_withheld(con, month: dt.date) -> tuple[bool, str | None]:
    """Whether the month's flags are withheld (the registry is unusable), and why (Chinese)."""
    rows = _records(con, "SELECT usable, reason FROM ops.source_status WHERE month = ? AND source = ?",
                    [month, REGISTRY])
    if not rows:
        return True, "本月未收到低收入人口数据库（民政）文件，预警暂停发布"
    if rows[0]["usable"]:
        return False, None
    audit = _records(con, "SELECT status, error FROM ops.load_audit WHERE month = ? AND source = ?", [month, REGISTRY])
    if audit and audit[0]["status"] != "loaded":
        what = STATUS_LABELS.get(audit[0]["status"], audit[0]["status"])
        return True, f"低收入人口数据库（民政）{what}：{audit[0]['error'] or ''}；本月预警暂停发布"
    failed = _records(
        con,
        "SELECT expectation, description, observed FROM dq.results WHERE month = ? AND source = ? "
        "AND severity = 'critical' AND NOT success ORDER BY expectation",
        [month, REGISTRY],
    )
    why = "；".join(f"{r['description'] or r['expectation']}（{r['observed'] or ''}）" for r in failed)
    return True, f"低收入人口数据库（民政）严重级检查未通过：{why or rows[0]['reason']}；本月预警暂停发布"


# --- data for the page ----------------------------------------------------------------------


def _load_section(con, month: dt.date) -> list[dict]:
    rows = _records(con, "SELECT * FROM ops.load_audit WHERE month = ? ORDER BY source", [month])
    status = {r["source"]: r for r in _records(con, "SELECT source, usable, reason FROM ops.source_status WHERE month = ?", [month])}
    delivered = {r["source"] for r in rows}
    for source in EXTRACT_SOURCES:  # a source with no audit row at all is also shown
        if source not in delivered:
            rows.append({"source": source, "status": "missing", "rows_read": 0, "rows_loaded": 0,
                         "rows_quarantined": 0, "error": "无加载记录"})
    out = []
    for r in sorted(rows, key=lambda r: (_source_order(r["source"]), r["source"])):
        st = status.get(r["source"], {})
        read, loaded, quarantined = (int(r.get(k) or 0) for k in ("rows_read", "rows_loaded", "rows_quarantined"))
        m_sha = r.get("manifest_sha256")
        out.append({
            **{k: r.get(k) for k in ("source_file", "encoding", "manifest_rows", "sha256", "error")},
            **r,
            "label": _label(r["source"]),
            "status_label": STATUS_LABELS.get(r.get("status"), r.get("status")),
            "balanced": read == loaded + quarantined,
            "quarantine_share": quarantined / read if read else 0.0,
            "sha_match": None if not m_sha else str(m_sha).lower() == str(r.get("sha256") or "").lower(),
            "unknown": "、".join(r.get("unknown_columns") or []),
            "usable": bool(st.get("usable")),
            "reason": st.get("reason") or r.get("error") or "",
        })
    return out


def _example_text(value: Any) -> str:
    if isinstance(value, dict):
        return "（" + "；".join(f"{k}={'' if v is None else v}" for k, v in value.items()) + "）"
    if isinstance(value, list):
        return "（" + "，".join("" if v is None else str(v) for v in value) + "）"
    return "空值" if value is None else str(value)


def _results_section(con, month: dt.date) -> list[dict]:
    rows = _records(
        con,
        "SELECT * FROM dq.results WHERE month = ? AND source NOT LIKE 'linkage:%' "
        "ORDER BY source, severity = 'warning', success, expectation",
        [month],
    )
    groups: dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r["source"], {"source": r["source"], "label": _label(r["source"]), "rows": [],
                                             "failed_critical": 0, "failed_warning": 0})
        r["severity_label"] = SEVERITY_LABELS.get(r["severity"], r["severity"])
        try:
            details = json.loads(r["details"] or "{}")
        except ValueError:
            details = {}
        r["examples"] = "、".join(_example_text(x) for x in (details.get("examples") or [])[:5])
        r["skipped"] = details.get("skipped")
        g["rows"].append(r)
        if not r["success"]:
            g["failed_critical" if r["severity"] == "critical" else "failed_warning"] += 1
    return sorted(groups.values(), key=lambda g: (_source_order(g["source"]), g["source"]))


def _linkage_section(con, month: dt.date) -> dict:
    prev = add_months(month, -1)
    counts = link_counts(con, prev, month)
    dq = _records(con, "SELECT * FROM dq.results WHERE month = ? AND source LIKE 'linkage:%' ORDER BY source, expectation", [month])
    rows = []
    for (m, source), c in sorted(counts.items()):
        if m != month:
            continue
        before = counts.get((prev, source))
        total = c["total"] or 1
        rows.append({
            "source": source,
            "label": _label(source),
            **c,
            "shares": {k: c[k] / total for k in CATEGORY_LABELS},
            "previous_rate": before["rate"] if before else None,
            "change": (c["rate"] - before["rate"]) if before else None,
        })
    rows.sort(key=lambda r: _source_order(r["source"]))
    dq.sort(key=lambda r: _source_order(r["source"].split(":", 1)[1]))
    for r in dq:
        r["severity_label"] = SEVERITY_LABELS.get(r["severity"], r["severity"])
        r["label"] = _label(r["source"])
    return {"rows": rows, "categories": CATEGORY_LABELS, "results": dq}


def _quarantine_section(con, month: dt.date) -> list[dict]:
    groups = _records(
        con,
        "SELECT source, reason_code, min(reason) AS reason, count(*) AS n FROM ops.quarantine "
        "WHERE month = ? GROUP BY source, reason_code ORDER BY source, n DESC, reason_code",
        [month],
    )
    examples = _records(
        con,
        "SELECT source, reason_code, source_row, raw FROM ("
        "  SELECT *, row_number() OVER (PARTITION BY source, reason_code ORDER BY source_row) AS rn"
        "  FROM ops.quarantine WHERE month = ?) WHERE rn <= ? ORDER BY source, reason_code, source_row",
        [month, EXAMPLES_PER_REASON],
    )
    by_key: dict[tuple, list] = {}
    for e in examples:
        by_key.setdefault((e["source"], e["reason_code"]), []).append(
            {"source_row": e["source_row"], "raw": mask_raw(e["raw"])}
        )
    for g in groups:
        g["label"] = _label(g["source"])
        g["examples"] = by_key.get((g["source"], g["reason_code"]), [])
    return sorted(groups, key=lambda g: _source_order(g["source"]))


def _rules_section(con, month: dt.date) -> dict:
    rows = _records(con, "SELECT * FROM flags.rule_runs WHERE month = ? ORDER BY rule_code", [month])
    for r in rows:
        r["status_label"] = RULE_STATUS_LABELS.get(r.get("status"), r.get("status"))
    return {"rows": rows, "skipped": [r for r in rows if r.get("status") != "ran"]}


# --- trends -----------------------------------------------------------------------------------


def _trend_data(con, month: dt.date) -> dict[str, list[dict]]:
    first = add_months(month, -(TREND_MONTHS - 1))
    loads = _records(
        con,
        "SELECT month, source, rows_read, rows_loaded, rows_quarantined FROM ops.load_audit "
        "WHERE month BETWEEN ? AND ? ORDER BY month, source",
        [first, month],
    )
    failures = _records(
        con,
        "SELECT month, source, severity, count(*) FILTER (WHERE NOT success) AS failed, count(*) AS total "
        "FROM dq.results WHERE month BETWEEN ? AND ? GROUP BY month, source, severity ORDER BY month, source",
        [first, month],
    )
    id_share = _records(
        con,
        "SELECT month, source, 1 - unexpected_count / element_count AS share FROM dq.results "
        "WHERE month BETWEEN ? AND ? AND expectation = 'id_valid_share_critical' AND element_count > 0 "
        "ORDER BY month, source",
        [first, month],
    )
    links = [
        {"month": m, "source": s, **c} for (m, s), c in sorted(link_counts(con, first, month).items())
    ]
    return {"loads": loads, "failures": failures, "id_share": id_share, "links": links}


def _charts(trend: dict[str, list[dict]]) -> list[dict]:
    import plotly.graph_objects as go

    def series(rows, value, by="source"):
        out: dict[str, tuple[list, list]] = {}
        for r in rows:
            xs, ys = out.setdefault(r[by], ([], []))
            xs.append(r["month"].strftime("%Y-%m"))
            ys.append(value(r))
        return out

    def figure(title, traces, yaxis, kind="line", percent=False):
        fig = go.Figure()
        for name, (xs, ys) in traces.items():
            if kind == "bar":
                fig.add_trace(go.Bar(name=name, x=xs, y=ys))
            else:
                fig.add_trace(go.Scatter(name=name, x=xs, y=ys, mode="lines+markers"))
        fig.update_layout(title=title, yaxis_title=yaxis, xaxis_title="月份", xaxis_type="category",
                          barmode="group", height=360, margin=dict(l=50, r=20, t=50, b=40),
                          legend=dict(orientation="h", y=-0.25))
        if percent:
            fig.update_yaxes(tickformat=".0%")
        return fig

    loads = [dict(r, source=_label(r["source"])) for r in trend["loads"]]
    crit = [dict(r, source=_label(r["source"])) for r in trend["failures"] if r["severity"] == "critical"]
    warn = [dict(r, source=_label(r["source"])) for r in trend["failures"] if r["severity"] == "warning"]
    figs = [
        ("rows", figure("各来源入库行数", series(loads, lambda r: r["rows_loaded"]), "行数")),
        ("quarantine", figure("各来源隔离行占比", series(loads, lambda r: (r["rows_quarantined"] / r["rows_read"]) if r["rows_read"] else 0.0),
                              "隔离占比", percent=True)),
        ("critical", figure("严重级检查未通过数", series(crit, lambda r: r["failed"]), "未通过项数", kind="bar")),
        ("warning", figure("警示级检查未通过数", series(warn, lambda r: r["failed"]), "未通过项数", kind="bar")),
        ("id_share", figure("身份证号有效率", series([dict(r, source=_label(r["source"])) for r in trend["id_share"]],
                                                       lambda r: r["share"]), "有效率", percent=True)),
        ("link_rate", figure("各来源关联率", series([dict(r, source=_label(r["source"])) for r in trend["links"]],
                                                    lambda r: r["rate"]), "关联率", percent=True)),
    ]
    out = []
    for i, (key, fig) in enumerate(figs):
        html = fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{key}",
                           config={"displaylogo": False, "responsive": True})
        out.append({"key": key, "html": html})
    return out


# --- the page ---------------------------------------------------------------------------------


def report_context(con, month: dt.date) -> dict[str, Any]:
    """Everything the template shows (also handy for tests and other renderers)."""
    withheld, why = flags_withheld(con, month)
    load = _load_section(con, month)
    trend = _trend_data(con, month)
    return {
        "month": month,
        "month_label": f"{month.year}年{month.month:02d}月",
        "generated_at": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "withheld": withheld,
        "withheld_reason": why,
        "rejected": [r for r in load if r["source"] != REGISTRY and not r["usable"]],
        "load": load,
        "results": _results_section(con, month),
        "linkage": _linkage_section(con, month),
        "quarantine": _quarantine_section(con, month),
        "rules": _rules_section(con, month),
        "trend": trend,
        "trend_months": sorted({r["month"] for r in trend["loads"]}),
    }


def render_report(context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = lambda x, d=2: "—" if x is None else f"{x * 100:.{d}f}%"
    env.filters["num"] = lambda x: "—" if x is None else f"{x:,}"
    return env.get_template("report.html.j2").render(**context, charts=_charts(context["trend"]))


def write_report(con, month: dt.date, exports_dir: Path) -> Path:
    """Write exports_dir/<YYYY-MM>/dq/质量报告_<YYYY-MM>.html and return its path."""
    html = render_report(report_context(con, month))
    out_dir = Path(exports_dir) / f"{month:%Y-%m}" / "dq"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"质量报告_{month:%Y-%m}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
