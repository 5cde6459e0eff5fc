"""Chinese for the internal codes that reach people: source names, load statuses,
ID-invalid reasons, standardised column names. One place, used by the report,
the workbooks' rule-run sheet and anything else that shows a reason text."""

from __future__ import annotations

import re

from lowincome.schema import SOURCE_LABELS, SOURCES

STATUS_PREFIXES = {
    "missing": "未交付",
    "rejected": "拒收",
    "critical": "严重级检查未通过",
    "loaded": "已入库",
}
ID_REASONS = {
    "blank": "身份证号为空",
    "excel_mangled": "身份证号被 Excel 改成科学计数法",
    "bad_format": "身份证号格式错误",
    "bad_check_digit": "身份证号校验位错误",
    "bad_birth_date": "身份证号中出生日期无效",
}
LINK_METHODS = {"exact_id": "身份证号精确匹配", "probabilistic": "概率匹配", "clerical": "人工核定"}
EXTRA_COLUMNS = {
    "source_row": "原始行号",
    "household_id": "户编号",
    "person_key": "人员标识",
    "id_number_raw": "身份证号（原值）",
    "id_invalid_reason": "身份证号问题",
    "name_raw": "姓名（原值）",
    "name_pinyin": "姓名拼音",
    "county_code": "县（区）代码",
    "township_code": "乡镇（街道）代码",
    "village_code": "村（社区）代码",
    "id_birth_date": "身份证出生日期",
    "id_sex": "身份证性别",
    "month": "月份",
    "source_file": "文件",
}


def column_labels() -> dict[str, str]:
    out = dict(EXTRA_COLUMNS)
    for spec in SOURCES.values():
        for c in spec.columns:
            out.setdefault(c.canonical, c.chinese)
    return out


_COLUMNS = column_labels()
_WORDS = {**ID_REASONS, **LINK_METHODS, **SOURCE_LABELS}
# whole words only, and never inside a file name (registry.xlsx stays as delivered)
_WORD_RE = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, _WORDS), key=len, reverse=True)) + r")(?![\w.])")
_PREFIX_RE = re.compile(r"\b(" + "|".join(STATUS_PREFIXES) + r"):\s*")


def column_label(name: str) -> str:
    return _COLUMNS.get(name, name)


def zh_text(text: str | None, expectations: dict[str, str] | None = None) -> str:
    """A reason / observed text with internal codes in Chinese: `missing: …` -> `未交付：…`,
    source names -> 民政事件 etc., ID reasons, and expectation names -> their descriptions."""
    if not text:
        return ""
    out = str(text)
    for name, description in sorted((expectations or {}).items(), key=lambda kv: -len(kv[0])):
        out = out.replace(name, f"「{description}」")
    out = _PREFIX_RE.sub(lambda m: STATUS_PREFIXES[m.group(1)] + "：", out)
    return _WORD_RE.sub(lambda m: _WORDS[m.group(1)], out)
