"""Linkage quality per agency source: link rate, its change from last month,
and the clerical-review backlog. Results are warnings (a poor linkage is
reported, it does not make the month's data untrustworthy) and go to
dq.results with source = "linkage:<source>"."""

from __future__ import annotations

import datetime as dt

from lowincome.months import previous_month
from quality.config import QualityConfig, default_config
from quality.results import WARNING, ExpectationResult

SUITE = "linkage"

LINK_COUNTS_SQL = """
SELECT month, source,
       count(*)                                                            AS total,
       count(*) FILTER (WHERE decision = 'accept' AND method = 'exact_id')       AS exact,
       count(*) FILTER (WHERE decision = 'accept' AND method = 'probabilistic')  AS probabilistic,
       count(*) FILTER (WHERE decision = 'accept' AND method = 'clerical')       AS clerical,
       count(*) FILTER (WHERE decision = 'review')                               AS review,
       count(*) FILTER (WHERE decision NOT IN ('accept', 'review') OR decision IS NULL) AS unmatched
FROM linkage.links
WHERE month BETWEEN ? AND ? AND (? IS NULL OR source = ?)
GROUP BY month, source
"""

CATEGORY_LABELS = {
    "exact": "精确(身份证号)",
    "probabilistic": "概率匹配",
    "clerical": "人工确认",
    "review": "待复核",
    "unmatched": "未关联",
}


def link_counts(con, first: dt.date, last: dt.date, source: str | None = None) -> dict[tuple[dt.date, str], dict]:
    """{(month, source): {total, exact, probabilistic, clerical, review, unmatched, rate}},
    of one source or (None) all."""
    rows = con.execute(LINK_COUNTS_SQL, [first, last, source, source]).fetchall()
    cols = ["month", "source", "total", "exact", "probabilistic", "clerical", "review", "unmatched"]
    out = {}
    for row in rows:
        rec = dict(zip(cols, row))
        accepted = rec["exact"] + rec["probabilistic"] + rec["clerical"]
        rec["accepted"] = accepted
        rec["rate"] = accepted / rec["total"] if rec["total"] else 0.0
        out[(rec["month"], rec["source"])] = rec
    return out


def _loaded_linked_sources(con, month: dt.date) -> set[str]:
    from lowincome.schema import SOURCES

    rows = con.execute("SELECT source FROM ops.load_audit WHERE month = ? AND status = 'loaded'", [month]).fetchall()
    return {r[0] for r in rows if r[0] in SOURCES and SOURCES[r[0]].linked}


def linkage_quality(
    con, month: dt.date, config: QualityConfig | None = None, source: str | None = None
) -> list[ExpectationResult]:
    """The linkage expectations of `month`, for one source (its linkage step) or all."""
    cfg = config or default_config()
    prev = previous_month(month)
    counts = link_counts(con, prev, month, source)
    sources = sorted({s for (m, s) in counts if m == month} | _loaded_linked_sources(con, month))
    if source is not None:
        sources = [s for s in sources if s == source]
    empty = {
        "total": 0,
        "exact": 0,
        "probabilistic": 0,
        "clerical": 0,
        "review": 0,
        "unmatched": 0,
        "accepted": 0,
        "rate": 0.0,
    }
    out: list[ExpectationResult] = []
    for source in sources:
        cur = counts.get((month, source), empty)
        before = counts.get((prev, source))
        tag = f"linkage:{source}"
        breakdown = "，".join(f"{CATEGORY_LABELS[k]} {cur[k]}" for k in CATEGORY_LABELS)
        figures = {k: cur[k] for k in ("total", "exact", "probabilistic", "clerical", "review", "unmatched")}

        min_rate = float(cfg.get("min_link_rate", source))
        out.append(
            ExpectationResult(
                "link_rate",
                f"关联率（已确认关联 / 全部记录）不低于 {min_rate:.0%}",
                cfg.severity("link_rate", WARNING),
                cur["total"] > 0 and cur["rate"] >= min_rate,
                unexpected_count=cur["total"] - cur["accepted"],
                element_count=cur["total"],
                observed=f"关联率 {cur['rate']:.2%}（{breakdown}；共 {cur['total']}）",
                details={**figures, "value": round(cur["rate"], 6), "threshold": min_rate},
                suite=SUITE,
                source=tag,
            )
        )

        max_drop = float(cfg.get("link_rate_drop_warning", source))
        desc = f"关联率较上月下降不超过 {max_drop * 100:.0f} 个百分点"
        if before is None or before["total"] == 0:
            out.append(
                ExpectationResult(
                    "link_rate_change",
                    desc,
                    cfg.severity("link_rate_change", WARNING),
                    True,
                    observed="无上月关联数据，未比较",
                    details={"skipped": "no previous month", "threshold": max_drop},
                    suite=SUITE,
                    source=tag,
                )
            )
        else:
            change = cur["rate"] - before["rate"]
            out.append(
                ExpectationResult(
                    "link_rate_change",
                    desc,
                    cfg.severity("link_rate_change", WARNING),
                    change >= -max_drop,
                    observed=f"本月 {cur['rate']:.2%} / 上月 {before['rate']:.2%}（{change * 100:+.1f} 个百分点）",
                    details={
                        "value": round(change, 6),
                        "previous_rate": round(before["rate"], 6),
                        "threshold": max_drop,
                    },
                    suite=SUITE,
                    source=tag,
                )
            )

        max_review = float(cfg.get("review_share_warning", source))
        share = cur["review"] / cur["total"] if cur["total"] else 0.0
        out.append(
            ExpectationResult(
                "review_backlog",
                f"待人工复核的关联不超过记录数的 {max_review:.0%}",
                cfg.severity("review_backlog", WARNING),
                share <= max_review,
                unexpected_count=cur["review"],
                element_count=cur["total"],
                observed=f"待复核 {cur['review']} 条（{share:.2%}）",
                details={"value": round(share, 6), "review": cur["review"], "threshold": max_review},
                suite=SUITE,
                source=tag,
            )
        )
    return out
