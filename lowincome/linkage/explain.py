"""A probabilistic link's waterfall in words (Simplified Chinese), for the
review list and the auditor's report: the prior, then each comparison's level
and its weight in log-odds, then the identity evidence found.

    姓名一致 +4.5；姓名本村唯一 +1.1；身份证号缺失 0；出生日期缺失 0；同村 +3.2；先验 -2.9
"""

from __future__ import annotations

import json

from lowincome.linkage.settings import LinkSettings

EVIDENCE_ZH = {
    "id": "身份证号相符",
    "birth": "出生日期一致",
    "household": "同户其他成员已匹配到该户",
    "unique_name": "姓名在当地唯一",
    "unique_name_seen": "姓名在当地唯一（近几个月该部门记录中也无同名他人）",
    "id_prefix": "损坏的身份证号前几位一致",
    "history": "往月同一记录已匹配此人",
    "sole_namesake": "同名（含同音）者中唯一符合该发放类型的人员",
    "unique_name_seen_withheld": "姓名在当地唯一，但本月自检显示此类证据易误配新出现的同名他人，未采用",
    "claimed": "此人本月已有同类记录按身份证号匹配",
    "contradicted": "身份证号或出生日期指向他人",
}


def _signed(w: float) -> str:
    return "0" if abs(w) < 0.05 else f"{w:+.1f}"


def waterfall_zh(detail: str | None, settings: LinkSettings) -> str:
    """'姓名一致 +4.5；…；先验 -2.9' from a link's detail JSON ('' when it has no waterfall)."""
    if not detail:
        return ""
    d = json.loads(detail)
    weights = d.get("weights")
    if not weights:
        return ""
    parts = []
    for c in settings.comparisons:
        level = d.get(c.name)
        if level is None:
            continue
        idx = -1 if level == "missing" else c.labels.index(level)
        parts.append(f"{c.zh_label(idx)} {_signed(weights.get(c.name, 0.0))}")
    for a in settings.adjustments:
        if d.get(a.name):
            parts.append(f"{a.zh or a.name} {_signed(weights.get(a.name, 0.0))}")
    if d.get("sole_namesake"):
        parts.append(f"同名（含同音）者中唯一符合该发放类型 {_signed(weights.get('sole_namesake', 0.0))}")
    if d.get("household"):
        k = d["household"]
        parts.append(
            f"{'同户成员匹配到该户' if k > 0 else '同户成员匹配到他户'}（{abs(k)}人） {_signed(weights.get('household', 0.0))}"
        )
    parts.append(f"先验 {weights.get('prior', 0.0):+.1f}")
    return "；".join(parts)


def evidence_zh(detail: str | None) -> str:
    """The identity evidence of a link in words ('无' when none)."""
    if not detail:
        return ""
    kinds = json.loads(detail).get("evidence") or []
    return "、".join(EVIDENCE_ZH.get(k, k) for k in kinds) or "无"
