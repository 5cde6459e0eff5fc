"""The linkage model for auditors: per source and month, the settings it ran with
(hash), the prior and the weight of every comparison level (log-odds, with the
level in Chinese), the score histogram of probabilistic candidates against the
accept / review thresholds, and the review backlog. Read from linkage.model_runs
and linkage.links; the report renders it."""

from __future__ import annotations

import datetime as dt
import json

from lowincome.linkage.settings import LinkSettings
from lowincome.months import add_months
from lowincome.schema import SOURCE_LABELS
from lowincome.warehouse import query_pl

BINS = 20  # score histogram: 0.05 wide


def model_section(con, month: dt.date) -> list[dict]:
    """One entry per source linked in `month` (sorted by source)."""
    runs = query_pl(con, "SELECT * FROM linkage.model_runs WHERE month = ? ORDER BY source", [month])
    out = []
    for run in runs.iter_rows(named=True):
        source = run["source"]
        settings = LinkSettings.from_dict(json.loads(run["settings"]))
        model = json.loads(run["model"])
        weights = []
        for c in settings.comparisons:
            levels = []
            for i, label in enumerate(c.labels):
                levels.append({"label": c.zh_label(i), "weight": model["weights"][c.name][label]})
            levels.append({"label": c.zh_label(-1), "weight": model.get("missing", {}).get(c.name, 0.0)})
            weights.append({"comparison": c.zh or c.name, "levels": levels})
        for a in settings.adjustments:
            weights.append({"comparison": "先验调整", "levels": [{"label": a.zh or a.name, "weight": a.weight}]})
        hist = query_pl(
            con,
            f"""SELECT least(floor(match_score * {BINS}), {BINS - 1})::INTEGER AS bin, count(*)::INTEGER AS n
            FROM linkage.links WHERE month = ? AND source = ? AND method = 'probabilistic' AND match_score > 0
            GROUP BY 1 ORDER BY 1""",
            [month, source],
        )
        counts = dict(zip(hist["bin"].to_list(), hist["n"].to_list()))
        backlog = query_pl(
            con,
            """SELECT month, count(*) FILTER (WHERE decision = 'review')::INTEGER AS review, count(*)::INTEGER AS records
            FROM linkage.links WHERE source = ? AND month BETWEEN ? AND ? GROUP BY month ORDER BY month""",
            [source, add_months(month, -5), month],
        )
        out.append(
            {
                "source": source,
                "label": SOURCE_LABELS.get(source, source),
                "classifier": {"logistic": "逻辑回归（以身份证号一致的记录训练）", "ecm": "ECM（无监督）"}.get(
                    run["classifier"], run["classifier"]
                ),
                "settings_sha": run["settings_sha"],
                "prior": model["prior"],
                "weights": weights,
                "thresholds": {"accept": settings.accept, "review": settings.review},
                "histogram": [{"from": b / BINS, "to": (b + 1) / BINS, "n": counts.get(b, 0)} for b in range(BINS)],
                "backlog": [
                    {"month": f"{r['month']:%Y-%m}", "review": r["review"], "records": r["records"]}
                    for r in backlog.iter_rows(named=True)
                ],
                "counts": json.loads(run["counts"]),
            }
        )
    return out
