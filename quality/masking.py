"""Masking of personal data shown to auditors: 身份证号 first 6 + last 4,
names as 张*, phone numbers first 3 + last 4."""

from __future__ import annotations

import json
import re
from typing import Any

from lowincome.privacy import mask_free_text, mask_id, mask_phone

ID_KEYS = {"身份证号", "id_number", "id_number_raw", "person_key"}
NAME_KEYS = {"姓名", "name", "name_raw", "name_pinyin"}
PHONE_KEYS = {"联系电话", "phone"}

_ID_LIKE = re.compile(r"[0-9０-９][0-9０-９Xx\-\s.E+]{13,}[0-9０-９Xx]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf·•．・]{2,}")


def mask_name(value: Any) -> Any:
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return s
    return s[0] + "*" * max(len(s) - 1, 1)


def mask_value(value: Any) -> Any:
    """An example value of a sensitive column, kind unknown: ID-like strings
    (or person_key 'household|name') are masked as IDs, anything else as a name."""
    if value is None or not isinstance(value, str):
        return value
    if "|" in value:  # person_key of a person without a valid ID
        head, _, name = value.rpartition("|")
        return f"{head}|{mask_name(name)}"
    if any(ch.isdigit() for ch in value):
        return mask_id(value)
    return mask_name(value)


def mask_text(text: str) -> str:
    """Free text (a malformed line): mask anything ID-like and every CJK run
    (names cannot be told from other words here; over-masking is safer)."""
    text = _ID_LIKE.sub(lambda m: mask_id(m.group(0)), mask_free_text(text))
    return _CJK_RUN.sub(lambda m: mask_name(m.group(0)), text)


def mask_record(record: dict) -> dict:
    out = {}
    for key, value in record.items():
        if key in ID_KEYS:
            out[key] = mask_id(value) if value not in (None, "") else value
        elif key in NAME_KEYS:
            out[key] = mask_name(value) if value not in (None, "") else value
        elif key in PHONE_KEYS:
            out[key] = mask_phone(value) if value not in (None, "") else value
        elif isinstance(value, str) and _ID_LIKE.fullmatch(value.strip() or "-"):
            out[key] = mask_id(value)
        elif isinstance(value, str):  # any other column, known or not (备注, a renamed 联系电话 …)
            out[key] = mask_free_text(value)
        else:
            out[key] = value
    return out


def mask_raw(raw: str | None) -> str:
    """A quarantined row as delivered (JSON object, or a raw line), masked."""
    if raw is None:
        return ""
    try:
        record = json.loads(raw)
    except (ValueError, TypeError):
        return mask_text(str(raw))
    if isinstance(record, list):  # a malformed line split into fields: field names unknown
        return "，".join("" if v is None else mask_text(str(v)) for v in record)
    if not isinstance(record, dict):
        return mask_text(str(raw))
    masked = mask_record(record)
    return "；".join(f"{k}={'' if v is None else v}" for k, v in masked.items())
