"""Month arithmetic. A month is the date of its first day everywhere in the code."""

from __future__ import annotations

import datetime as dt


def month_of(key: str) -> dt.date:
    """'2026-08-01' (a Dagster partition key) or '2026-08' -> date(2026, 8, 1)."""
    year, month = key.split("-")[:2]
    return dt.date(int(year), int(month), 1)


def add_months(month: dt.date, n: int) -> dt.date:
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def previous_month(month: dt.date) -> dt.date:
    return add_months(month, -1)


def month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)
