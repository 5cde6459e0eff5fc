"""The auditor's monthly data-quality report: one HTML page in Simplified Chinese.

Every failed expectation is traced to its rows (原始行号 and masked key values),
every internal code is shown in Chinese, and the charts use one colour per source.
plotly.js is not embedded (4.6 MB): it is written once beside the reports as
`dq/plotly.min.js` and referenced, so each page stays well under 1 MB and the
folder still opens offline. A print stylesheet lays the page out on A4.

Reads only (a read-only connection is enough): dq.results, ops.load_audit,
ops.source_status, ops.quarantine, linkage.links, flags.rule_runs,
flags.risk_flags and the std tables (for the rows behind a failed expectation).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb

from lowincome.labels import column_label, zh_text
from lowincome.months import add_months
from lowincome.schema import EXTRACT_SOURCES, REGISTRY, SOURCE_LABELS
from quality.linkage_model import model_section
from quality.linkage_quality import CATEGORY_LABELS, link_counts
from quality.masking import mask_free_text, mask_id, mask_name, mask_raw

TEMPLATES = Path(__file__).resolve().parent / "templates"
TREND_MONTHS = 12
EXAMPLES_PER_REASON = 3
TRACE_ROWS = 5
PLOTLY_FILE = "plotly.min.js"
# One colour per source in every chart (Okabe–Ito palette, readable in grey print).
SOURCE_COLOURS = {
    "registry": "#0072B2",
    "civil_affairs": "#E69F00",
    "health_insurance": "#009E73",
    "human_resources": "#CC79A7",
    "rural_revitalization": "#D55E00",
    "dispositions": "#56B4E9",
}
STATE_COLOURS = {"新增": "#D55E00", "持续": "#E69F00", "已清零": "#009E73"}

SEVERITY_LABELS = {"critical": "严重", "warning": "警示"}
STATUS_LABELS = {"loaded": "已入库", "rejected": "拒收", "missing": "未送达"}
RULE_STATUS_LABELS = {"ran": "已执行", "skipped": "已跳过", "withheld": "暂缓发布"}


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
    rows = _records(
        con, "SELECT usable, reason FROM ops.source_status WHERE month = ? AND source = ?", [month, REGISTRY]
    )
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
    status = {
        r["source"]: r
        for r in _records(con, "SELECT source, usable, reason FROM ops.source_status WHERE month = ?", [month])
    }
    names = _expectation_names(con, month)
    delivered = {r["source"] for r in rows}
    for source in EXTRACT_SOURCES:  # a source with no audit row at all is also shown
        if source not in delivered:
            rows.append(
                {
                    "source": source,
                    "status": "missing",
                    "rows_read": 0,
                    "rows_loaded": 0,
                    "rows_quarantined": 0,
                    "error": "无加载记录",
                }
            )
    out = []
    for r in sorted(rows, key=lambda r: (_source_order(r["source"]), r["source"])):
        st = status.get(r["source"], {})
        read, loaded, quarantined = (int(r.get(k) or 0) for k in ("rows_read", "rows_loaded", "rows_quarantined"))
        m_sha = r.get("manifest_sha256")
        out.append(
            {
                **{k: r.get(k) for k in ("source_file", "encoding", "manifest_rows", "sha256", "error")},
                **r,
                "label": _label(r["source"]),
                "status_label": STATUS_LABELS.get(r.get("status"), r.get("status")),
                "balanced": read == loaded + quarantined,
                "quarantine_share": quarantined / read if read else 0.0,
                "sha_match": None if not m_sha else str(m_sha).lower() == str(r.get("sha256") or "").lower(),
                "unknown": "、".join(r.get("unknown_columns") or []),
                "usable": bool(st.get("usable")),
                "reason": zh_text(st.get("reason") or r.get("error") or "", names),
            }
        )
    return out


def _example_text(value: Any) -> str:
    if isinstance(value, dict):
        return "（" + "；".join(f"{column_label(k)}={'' if v is None else v}" for k, v in value.items()) + "）"
    if isinstance(value, list):
        return "（" + "，".join("" if v is None else str(v) for v in value) + "）"
    return "空值" if value is None else str(value)


def _columns(con, source: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'std' AND table_name = ?",
            [source],
        ).fetchall()
    )


def _trace_condition(expectation: str, details: dict, columns: dict[str, str]) -> tuple[str, list] | None:
    """The SQL condition that selects the std rows an expectation found wrong, or
    None for file- and table-level expectations (row counts, manifest, columns)."""
    family, _, column = expectation.partition(":")
    examples = [x for x in (details.get("examples") or []) if not isinstance(x, (list, dict))]
    hh = "household_id IN (SELECT household_id FROM std.registry WHERE month = ? GROUP BY household_id HAVING {})"
    if family == "not_null" and column in columns:
        return f'"{column}" IS NULL', []
    if family.startswith("id_valid_share") and "id_invalid_reason" in columns:
        return "id_invalid_reason IS NOT NULL", []
    if family in ("unique_person", "unique") and column in columns:
        return (
            f'"{column}" IN (SELECT "{column}" FROM std.{{source}} WHERE month = ? AND "{column}" IS NOT NULL '
            f"GROUP BY 1 HAVING count(*) > 1)",
            ["month"],
        )
    if expectation == "end_not_before_start" and {"end_date", "start_date"} <= set(columns):
        return "end_date < start_date", []
    if expectation == "cost_parts_sum" and "total_cost" in columns:
        tol = float(details.get("tolerance") or 0)
        parts = " + ".join(
            f'coalesce("{c}", 0)'
            for c in ("basic_paid", "critical_illness_paid", "assistance_paid", "out_of_pocket")
            if c in columns
        )
        return f"abs(total_cost - ({parts})) > {tol}", []
    if expectation == "household_one_head" and "relation" in columns:
        return hh.format("count(*) FILTER (WHERE relation = '户主') <> 1"), ["month"]
    if expectation == "household_one_category":
        return hh.format("count(DISTINCT category) > 1"), ["month"]
    if expectation == "household_one_size":
        return hh.format("count(DISTINCT household_size) > 1"), ["month"]
    if expectation == "household_size_matches_members":
        return hh.format("any_value(household_size) <> count(*)"), ["month"]
    if expectation == "birth_date_plausible":
        column = "birth_date"
    if expectation == "icd10_format":
        column = "diagnosis_icd10"
    if column in columns and examples:
        kind = columns[column].upper()
        if kind in ("DATE", "TIMESTAMP"):
            return f"strftime(\"{column}\", '%Y-%m-%d') IN ({', '.join('?' for _ in examples)})", [
                str(x)[:10] for x in examples
            ]
        if kind in ("DOUBLE", "FLOAT", "DECIMAL", "INTEGER", "BIGINT"):
            nums = [float(x) for x in examples if isinstance(x, (int, float))]
            if nums:
                return f'round("{column}", 2) IN ({", ".join("?" for _ in nums)})', nums
            return None
        return f'CAST("{column}" AS VARCHAR) IN ({", ".join("?" for _ in examples)})', [str(x) for x in examples]
    return None


def trace_rows(con, month: dt.date, source: str, expectation: str, details: dict) -> dict | None:
    """The rows behind a failed expectation: 原始行号 with masked key values, at most
    TRACE_ROWS of them, and how many rows match in all. None when the expectation
    is about the file or the table, not rows."""
    columns = _columns(con, source)
    found = _trace_condition(expectation, details, columns)
    if not found:
        return None
    where, params = found
    params = [month if p == "month" else p for p in params]
    sql_where = f"month = ? AND ({where.replace('{source}', source)})"
    keys = [c for c in ("household_id", "rr_household_id", "id_number_raw", "name") if c in columns]
    _family, _, column = expectation.partition(":")
    shown = column if column in columns and column not in keys and column not in ("id_number", "person_key") else None
    cols = ", ".join(f'"{c}"' for c in ["source_row", *keys, *([shown] if shown else [])])
    args = [month, *params]
    total = con.execute(f"SELECT count(*) FROM std.{source} WHERE {sql_where}", args).fetchone()[0]
    rows = con.execute(
        f"SELECT {cols} FROM std.{source} WHERE {sql_where} ORDER BY source_row LIMIT {TRACE_ROWS}", args
    ).fetchall()
    out = []
    for row in rows:
        rec = dict(zip(["source_row", *keys, *([shown] if shown else [])], row))
        parts = []
        for k in keys:
            v = rec.get(k)
            if v in (None, ""):
                continue
            v = mask_id(v) if k == "id_number_raw" else mask_name(v) if k == "name" else v
            parts.append(f"{column_label(k)} {v}")
        if shown:
            v = rec.get(shown)
            parts.append(f"{column_label(shown)} {'空值' if v is None else v}")
        out.append({"source_row": rec["source_row"], "text": "，".join(parts)})
    return {"total": total, "rows": out}


def _results_section(con, month: dt.date) -> list[dict]:
    rows = _records(
        con,
        "SELECT * FROM dq.results WHERE month = ? AND source NOT LIKE 'linkage:%' "
        "ORDER BY source, severity = 'warning', success, expectation",
        [month],
    )
    names = _expectation_names(con, month)
    groups: dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(
            r["source"],
            {
                "source": r["source"],
                "label": _label(r["source"]),
                "rows": [],
                "failed_critical": 0,
                "failed_warning": 0,
            },
        )
        r["severity_label"] = SEVERITY_LABELS.get(r["severity"], r["severity"])
        try:
            details = json.loads(r["details"] or "{}")
        except ValueError:
            details = {}
        r["examples"] = zh_text("、".join(_example_text(x) for x in (details.get("examples") or [])[:5]), names)
        r["observed_zh"] = zh_text(r["observed"], names)
        r["skipped"] = details.get("skipped")
        r["trace"] = None
        if not r["success"] and r["source"] in EXTRACT_SOURCES + ("dispositions",):
            try:
                r["trace"] = trace_rows(con, month, r["source"], r["expectation"], details)
            except Exception as exc:  # a trace must never stop the report; say it could not be done
                r["trace"] = {"total": None, "rows": [], "error": f"无法定位问题行（{type(exc).__name__}）"}
        g["rows"].append(r)
        if not r["success"]:
            g["failed_critical" if r["severity"] == "critical" else "failed_warning"] += 1
    return sorted(groups.values(), key=lambda g: (_source_order(g["source"]), g["source"]))


def _expectation_names(con, month: dt.date) -> dict[str, str]:
    """expectation name -> its Chinese description (for reason texts that name expectations)."""
    return {
        e: d
        for e, d in con.execute(
            "SELECT DISTINCT expectation, description FROM dq.results WHERE month <= ? AND description IS NOT NULL",
            [month],
        ).fetchall()
        if d
    }


def _linkage_section(con, month: dt.date) -> dict:
    prev = add_months(month, -1)
    counts = link_counts(con, prev, month)
    dq = _records(
        con,
        "SELECT * FROM dq.results WHERE month = ? AND source LIKE 'linkage:%' ORDER BY source, expectation",
        [month],
    )
    rows = []
    for (m, source), c in sorted(counts.items()):
        if m != month:
            continue
        before = counts.get((prev, source))
        total = c["total"] or 1
        rows.append(
            {
                "source": source,
                "label": _label(source),
                **c,
                "shares": {k: c[k] / total for k in CATEGORY_LABELS},
                "previous_rate": before["rate"] if before else None,
                "change": (c["rate"] - before["rate"]) if before else None,
            }
        )
    rows.sort(key=lambda r: _source_order(r["source"]))
    dq.sort(key=lambda r: _source_order(r["source"].split(":", 1)[1]))
    for r in dq:
        r["severity_label"] = SEVERITY_LABELS.get(r["severity"], r["severity"])
        r["label"] = _label(r["source"])
        r["observed_zh"] = zh_text(r["observed"])
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
    names = _expectation_names(con, month)
    rows = _records(con, "SELECT * FROM flags.rule_runs WHERE month = ? ORDER BY rule_code", [month])
    flags = _records(
        con, "SELECT rule_code, state, count(*) AS n FROM flags.risk_flags WHERE month = ? GROUP BY ALL", [month]
    )
    # 待核实: households a rule holds back because its evidence waits in the linkage review band,
    # as the township workbooks' 待核实 sheet lists them (a carried active flag is counted as 持续)
    held = dict(
        con.execute(
            "SELECT rule_code, count(DISTINCT household_key) FROM flags.to_verify WHERE month = ? GROUP BY rule_code",
            [month],
        ).fetchall()
    )
    by_rule: dict[str, dict[str, int]] = {}
    for f in flags:
        by_rule.setdefault(f["rule_code"], {})[f["state"]] = f["n"]
    for r in rows:
        r["status_label"] = RULE_STATUS_LABELS.get(r.get("status"), r.get("status"))
        r["reason_zh"] = zh_text(r.get("reason"), names)
        r["states"] = {s: by_rule.get(r["rule_code"], {}).get(s, 0) for s in STATE_COLOURS}
        r["held"] = held.get(r["rule_code"], 0)
    totals = {s: sum(r["states"][s] for r in rows) for s in STATE_COLOURS}
    return {
        "rows": rows,
        "skipped": [r for r in rows if r.get("status") != "ran"],
        "states": list(STATE_COLOURS),
        "totals": totals,
        "held_total": sum(r["held"] for r in rows),
    }


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
    links = [{"month": m, "source": s, **c} for (m, s), c in sorted(link_counts(con, first, month).items())]
    return {"loads": loads, "failures": failures, "id_share": id_share, "links": links}


def _count_step(top: float) -> int:
    """The tick step (1, 2, 5, 10, 20, …) that gives at most 8 ticks up to `top`."""
    base = 1
    while True:
        for step in (base, 2 * base, 5 * base):
            if top / step <= 8:
                return step
        base *= 10


def figures(trend: dict[str, list[dict]], rules: dict) -> list[tuple[str, Any]]:
    """(key, plotly figure): the month's flags per rule and state, and the trend
    charts; one colour per source throughout, y axes from 0 with their unit."""
    import plotly.graph_objects as go

    months = sorted({r["month"].strftime("%Y-%m") for rows in trend.values() for r in rows})

    def series(rows, value):
        out: dict[str, tuple[list, list]] = {}
        for r in sorted(rows, key=lambda r: _source_order(r["source"])):
            xs, ys = out.setdefault(r["source"], ([], []))
            xs.append(r["month"].strftime("%Y-%m"))
            ys.append(value(r))
        return out

    def figure(title, traces, yaxis, kind="line", percent=False, integer=False):
        fig = go.Figure()
        for source, (xs, ys) in traces.items():
            colour = SOURCE_COLOURS.get(source.split(":", 1)[-1], "#777777")
            if kind == "bar":
                fig.add_trace(go.Bar(name=_label(source), x=xs, y=ys, marker_color=colour))
            else:
                fig.add_trace(
                    go.Scatter(
                        name=_label(source),
                        x=xs,
                        y=ys,
                        mode="lines+markers",
                        line=dict(color=colour),
                        marker=dict(color=colour),
                    )
                )
        top = max([y for _, ys in traces.values() for y in ys if y is not None] or [0])
        fig.update_layout(
            title=title,
            yaxis_title=yaxis,
            xaxis_title="月份",
            barmode="group",
            height=340,
            margin=dict(l=60, r=20, t=50, b=40),
            legend=dict(orientation="h", y=-0.28),
            xaxis=dict(type="category", categoryorder="array", categoryarray=months),
            font=dict(family="Noto Sans CJK SC, Microsoft YaHei, sans-serif"),
        )
        if percent:
            # ticks precise enough for small shares (0.5% must not read "0%")
            fig.update_yaxes(tickformat=".1%" if top < 0.2 else ".0%", rangemode="tozero")
        elif integer:
            # whole counts: a tick per 1, 2, 5 … so no tick label repeats
            fig.update_yaxes(tickformat="d", range=[0, max(top, 1) * 1.15], dtick=_count_step(top))
        else:
            fig.update_yaxes(rangemode="tozero", tickformat=",d")
        return fig

    failures = {
        sev: [r for r in trend["failures"] if r["severity"] == sev and not r["source"].startswith("linkage:")]
        for sev in ("critical", "warning")
    }
    figs = [
        ("rows", figure("各来源入库行数", series(trend["loads"], lambda r: r["rows_loaded"]), "行数")),
        (
            "quarantine",
            figure(
                "各来源隔离行占比",
                series(trend["loads"], lambda r: (r["rows_quarantined"] / r["rows_read"]) if r["rows_read"] else 0.0),
                "隔离行 / 读取行",
                percent=True,
            ),
        ),
        (
            "critical",
            figure(
                "严重级检查未通过项数",
                series(failures["critical"], lambda r: r["failed"]),
                "未通过项数",
                kind="bar",
                integer=True,
            ),
        ),
        (
            "warning",
            figure(
                "警示级检查未通过项数",
                series(failures["warning"], lambda r: r["failed"]),
                "未通过项数",
                kind="bar",
                integer=True,
            ),
        ),
        ("id_share", figure("身份证号有效率", series(trend["id_share"], lambda r: r["share"]), "有效率", percent=True)),
        ("link_rate", figure("各来源关联率", series(trend["links"], lambda r: r["rate"]), "关联率", percent=True)),
    ]
    if rules["rows"]:
        fig = go.Figure()
        codes = [f"{r['rule_code']} {r.get('rule_name') or ''}" for r in rules["rows"]]
        for state, colour in STATE_COLOURS.items():
            fig.add_trace(
                go.Bar(name=state, x=codes, y=[r["states"][state] for r in rules["rows"]], marker_color=colour)
            )
        top = max([sum(r["states"].values()) for r in rules["rows"]] or [0])
        fig.update_layout(
            title="本月各规则预警数（按状态）",
            barmode="stack",
            height=360,
            yaxis_title="预警数",
            xaxis_title="规则",
            margin=dict(l=60, r=20, t=50, b=90),
            legend=dict(orientation="h", y=-0.45),
            font=dict(family="Noto Sans CJK SC, Microsoft YaHei, sans-serif"),
        )
        fig.update_yaxes(tickformat="d", range=[0, max(top, 1) * 1.15], dtick=_count_step(top))
        figs.insert(0, ("flags", fig))
    return figs


def _charts(trend: dict[str, list[dict]], rules: dict) -> list[dict]:
    failed = {
        sev: any(
            r["failed"] for r in trend["failures"] if r["severity"] == sev and not r["source"].startswith("linkage:")
        )
        for sev in ("critical", "warning")
    }
    out = []
    for key, fig in figures(trend, rules):
        html = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{key}",
            config={"displaylogo": False, "responsive": True, "displayModeBar": False},
        )
        empty = key in failed and not failed[key]
        out.append(
            {
                "key": key,
                "html": html,
                "empty": empty,
                "empty_text": fig.layout.title.text + "：统计期内各来源均无未通过项。",
            }
        )
    return out


# --- the page ---------------------------------------------------------------------------------


_RETURN_KINDS = {"review_decisions": "复核清单", "dispositions": "处置结果"}


def _returned_section(con, month: dt.date) -> dict:
    """Returned files (review lists, dispositions): what was applied and each row that was not."""
    try:
        files = _records(con, "SELECT * FROM ops.returned_files WHERE month = ? ORDER BY kind, file, source", [month])
        issues = _records(
            con,
            "SELECT * FROM ops.returned_issues WHERE month = ? "
            "ORDER BY kind, source, file, row_number NULLS FIRST, reason_code",
            [month],
        )
    except duckdb.CatalogException:  # a warehouse built before these tables existed
        files, issues = [], []
    for r in files + issues:
        r["kind_label"] = _RETURN_KINDS.get(r["kind"], r["kind"])
        r["source_label"] = "（整个文件）" if r["source"] == "*" else _label(r["source"])
    return {"files": files, "issues": issues}


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
        # agency sources the rules could not use (a dispositions file that simply did not come is normal)
        "rejected": [
            r
            for r in load
            if r["source"] != REGISTRY
            and not r["usable"]
            and not (r["source"] == "dispositions" and r.get("status") == "missing")
        ],
        "load": load,
        "results": _results_section(con, month),
        "linkage": _linkage_section(con, month),
        "linkage_models": model_section(con, month),
        "quarantine": _quarantine_section(con, month),
        "returned": _returned_section(con, month),
        "rules": _rules_section(con, month),
        "trend": trend,
        "trend_months": sorted({r["month"] for r in trend["loads"]}),
    }


def render_report(context: dict[str, Any], plotly_src: str = PLOTLY_FILE) -> str:
    """The page; plotly.js is loaded from `plotly_src` (a path beside the page)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = lambda x, d=2: "—" if x is None else f"{x * 100:.{d}f}%"
    env.filters["num"] = lambda x: "—" if x is None else f"{x:,}"
    charts = _charts(context["trend"], context["rules"])
    return env.get_template("report.html.j2").render(**context, charts=charts, plotly_src=plotly_src)


def write_plotly_js(folder: Path) -> Path:
    """The chart library, shared by the reports of the folder; rewritten only when
    the installed plotly's bundle differs."""
    from plotly.offline import get_plotlyjs

    path = Path(folder) / PLOTLY_FILE
    js = get_plotlyjs()
    if not path.exists() or path.stat().st_size != len(js.encode("utf-8")):
        tmp = path.with_suffix(".js.tmp")
        tmp.write_text(js, encoding="utf-8")
        tmp.replace(path)
    return path


def write_report(con, month: dt.date, exports_dir: Path) -> Path:
    """Write exports_dir/<YYYY-MM>/dq/质量报告_<YYYY-MM>.html (and plotly.min.js
    beside it, once) and return the report's path."""
    # Values are masked where they are rendered; this last pass over the whole page
    # catches any ID, bank card or phone number left in free text (lowincome/privacy.py).
    html = mask_free_text(render_report(report_context(con, month)))
    out_dir = Path(exports_dir) / f"{month:%Y-%m}" / "dq"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_plotly_js(out_dir)
    path = out_dir / f"质量报告_{month:%Y-%m}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
