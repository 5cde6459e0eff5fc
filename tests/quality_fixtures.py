"""Small synthetic std frames and load_audit rows for the data-quality tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from lowincome.ingest import empty_std
from lowincome.normalize import id_check_digit
from lowincome.schema import (
    CIVIL_EVENT_TYPES,
    DISPOSITION_VALUES,
    HR_RECORD_TYPES,
    MONITOR_TYPES,
    RISK_TYPES,
    VISIT_TYPES,
)


def std_schema(source: str) -> dict[str, pl.DataType]:
    return dict(empty_std(source).schema)


def std_frame(source: str, month: dt.date, columns: dict[str, list]) -> pl.DataFrame:
    """A std.<source> frame: the given columns, the rest NULL, provenance filled."""
    n = len(next(iter(columns.values()))) if columns else 0
    schema = std_schema(source)
    data = {
        "month": [month] * n,
        "source": [source] * n,
        "source_file": [f"{source}.csv"] * n,
        "source_row": list(range(1, n + 1)),
        **columns,
    }
    return pl.DataFrame({k: pl.Series(k, data.get(k, [None] * n), dtype=t, strict=False) for k, t in schema.items()})


def make_ids(n: int, seed: int = 0, region: str = "620102") -> list[str]:
    """n distinct valid 18-digit IDs (GB 11643 check digit)."""
    rng = np.random.default_rng(seed)
    births = np.datetime64("1940-01-01") + rng.integers(0, 25000, n).astype("timedelta64[D]")
    seq = rng.permutation(n) % 1000
    body = [f"{region}{str(b).replace('-', '')}{s:03d}" for b, s in zip(births, seq)]
    ids = [b + id_check_digit(b) for b in body]
    return list(dict.fromkeys(ids))[:n] if len(set(ids)) == n else make_ids(n, seed + 1, region)


def good_frame(source: str, month: dt.date, n: int = 200, seed: int = 0) -> pl.DataFrame:
    """A clean month of `source` that passes every expectation."""
    rng = np.random.default_rng(seed)
    ids = make_ids(n, seed)
    names = [f"张{chr(0x4E00 + (i % 5000) + 100)}{chr(0x4E00 + (i // 5000) + 300)}" for i in range(n)]
    days = rng.integers(0, 28, n)
    in_month = [month + dt.timedelta(days=int(d)) for d in days]
    base = {
        "name": names,
        "name_raw": names,
        "id_number": ids,
        "id_number_raw": ids,
        "id_invalid_reason": [None] * n,
    }
    village = [f"620102{100 + i % 5:03d}{200 + i % 7:03d}" for i in range(n)]
    if source == "registry":
        size = 4
        hh = [f"H{i // size:06d}" for i in range(n)]
        members = np.bincount(np.arange(n) // size)
        cats = ["低保", "特困", "低保边缘", "其他"]
        cols = {
            **base,
            "household_id": hh,
            "person_key": ids,
            "sex": ["男" if i % 2 else "女" for i in range(n)],
            "birth_date": [dt.date(1960, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 20000, n)],
            "relation": ["户主" if i % size == 0 else "子女" for i in range(n)],
            "region_code": [village[i - i % size] for i in range(n)],
            "urban_rural": ["农村"] * n,
            "category": [cats[(i // size) % 4] for i in range(n)],
            "household_size": [int(members[i // size]) for i in range(n)],
            "household_annual_income": [float(20000 + (i // size) % 50 * 100) for i in range(n)],
            "disability_grade": [None if i % 3 else 1 + i % 4 for i in range(n)],
            "enrolled_on": [dt.date(2020, 1, 1)] * n,
        }
    elif source == "civil_affairs":
        cols = {
            **base,
            "region_code": village,
            "event_type": [CIVIL_EVENT_TYPES[i % 3] for i in range(n)],
            "amount": [float(500 + i % 300) for i in range(n)],
            "event_date": in_month,
        }
    elif source == "health_insurance":
        parts = rng.integers(0, 5000, (n, 4)).astype(float)
        cols = {
            **base,
            "sex": ["男"] * n,
            "birth_date": [dt.date(1970, 5, 1)] * n,
            "insured_region": ["620102"] * n,
            "visit_type": [VISIT_TYPES[i % 3] for i in range(n)],
            "settled_on": in_month,
            "diagnosis_icd10": ["C34.9" if i % 2 else "N18.5" for i in range(n)],
            "total_cost": parts.sum(axis=1).tolist(),
            "basic_paid": parts[:, 0].tolist(),
            "critical_illness_paid": parts[:, 1].tolist(),
            "assistance_paid": parts[:, 2].tolist(),
            "out_of_pocket": parts[:, 3].tolist(),
        }
    elif source == "human_resources":
        cols = {
            **base,
            "record_type": [HR_RECORD_TYPES[i % 5] for i in range(n)],
            "monthly_wage": [float(3000 + i % 1000) for i in range(n)],
            "amount": [None] * n,
            "start_date": [dt.date(2024, 1, 1)] * n,
            "end_date": [None] * n,
        }
    elif source == "rural_revitalization":
        cols = {
            **base,
            "rr_household_id": [f"RR{i // 3:06d}" for i in range(n)],
            "relation": ["户主" if i % 3 == 0 else "配偶" for i in range(n)],
            "region_code": village,
            "monitor_type": [MONITOR_TYPES[i % 3] for i in range(n)],
            "risk_type": [RISK_TYPES[i % 8] for i in range(n)],
            "per_capita_net_income": [8000.0] * n,
            "risk_cleared": [bool(i % 2) for i in range(n)],
            "identified_on": [dt.date(2024, 3, 1)] * n,
        }
    elif source == "dispositions":
        return std_frame(
            source,
            month,
            {
                "flag_id": [f"{month:%Y%m}-R{1 + i % 11:02d}-{i:08X}" for i in range(n)],
                "disposition": [DISPOSITION_VALUES[i % 4] for i in range(n)],
                "disposed_on": in_month,
                "handled_by": ["李*"] * n,
            },
        )
    else:
        raise ValueError(source)
    return std_frame(source, month, cols)


def load_row(source: str, month: dt.date, rows: int, **overrides) -> dict:
    """An ops.load_audit row of a cleanly loaded file of `rows` rows."""
    row = {
        "month": month,
        "source": source,
        "source_file": f"{source}.csv",
        "status": "loaded",
        "rows_read": rows,
        "rows_loaded": rows,
        "rows_quarantined": 0,
        "encoding": "utf-8",
        "sha256": "ab" * 32,
        "unknown_columns": [],
        "error": None,
        "manifest_rows": None,
        "manifest_sha256": None,
    }
    row.update(overrides)
    return row
