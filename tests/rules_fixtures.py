"""Hand-built warehouse fixtures for the rule tests: rows inserted directly into
std.*, linkage.links and ops.load_audit of a Warehouse in tmp_path."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import duckdb

from lowincome import schema
from lowincome.params import params_from_dict

PARAMS = params_from_dict(
    {
        "dibao_standard": {"default": {"urban": 700, "rural": 520}, "620102": {"urban": 760, "rural": 560}},
        "edge_multiplier": 1.5,
        "medical_burden_ratio": 1.0,
        "gradual_exit_months": 6,
        "major_disease_icd10_prefixes": ["C", "N18.5", "I21", "I63", "G12.2", "D61"],
        "temp_assistance_repeat": {"count": 2, "months": 6},
    }
)
M1, M2, M3 = dt.date(2026, 7, 1), dt.date(2026, 8, 1), dt.date(2026, 9, 1)
VILLAGE = "620102001001"  # rural S = 560, edge 840


def month_end(m: dt.date) -> dt.date:
    nxt = dt.date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def years_before(d: dt.date, n: int) -> dt.date:
    return d.replace(year=d.year - n)


@dataclass
class Person:
    id_number: str
    name: str
    birth: dt.date


class Fixture:
    """Builds a small warehouse month by month.

    household(): registry rows for a household in a month (returns the persons'
    registry rows). record(): an agency record, linked (decision accept by default)
    to a registry row of the same month when `person` is given.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.rows: dict[tuple[dt.date, str], int] = defaultdict(int)
        self.reg_rows: dict[tuple[dt.date, str], int] = {}  # (month, id_number) -> registry source_row
        self._seq = 0

    def _next(self, month: dt.date, source: str) -> int:
        self.rows[(month, source)] += 1
        return self.rows[(month, source)]

    def person(self, name: str, birth: dt.date = dt.date(1980, 5, 5)) -> Person:
        self._seq += 1
        return Person(f"620102{birth:%Y%m%d}{self._seq:03d}X", name, birth)

    def loaded(
        self, month: dt.date, sources=schema.EXTRACT_SOURCES + ("dispositions",), status: str = "loaded"
    ) -> None:
        for s in sources:
            self.con.execute("DELETE FROM ops.load_audit WHERE month = ? AND source = ?", [month, s])
            self.con.execute(
                "INSERT INTO ops.load_audit (month, source, source_file, status, rows_read, rows_loaded, rows_quarantined, error)"
                " VALUES (?, ?, ?, ?, 0, 0, 0, ?)",
                [month, s, f"{s}.csv", status, None if status == "loaded" else "test"],
            )

    def critical(self, month: dt.date, source: str) -> None:
        self.con.execute(
            "INSERT INTO dq.results (month, source, suite, expectation, severity, success) VALUES (?, ?, 's', 'row_count', 'critical', false)",
            [month, source],
        )

    def insert(self, table: str, values: dict) -> None:
        cols = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join("?" for _ in values)
        self.con.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(values.values()))

    def household(
        self,
        month: dt.date,
        household_id: str,
        members: list[Person],
        *,
        income: float | None,
        size: int | None = None,
        category: str = "其他",
        region: str = VILLAGE,
        urban_rural: str = "农村",
        disability: dict[int, tuple[int, str]] | None = None,
    ) -> list[int]:
        out = []
        for i, p in enumerate(members):
            row = self._next(month, "registry")
            grade, dtype = (disability or {}).get(i, (None, None))
            self.insert(
                "std.registry",
                {
                    "month": month,
                    "source": "registry",
                    "source_file": "registry.csv",
                    "source_row": row,
                    "household_id": household_id,
                    "name": p.name,
                    "name_raw": p.name,
                    "id_number": p.id_number,
                    "id_number_raw": p.id_number,
                    "id_birth_date": p.birth,
                    "birth_date": p.birth,
                    "relation": "户主" if i == 0 else "子女",
                    "region_code": region,
                    "county_code": region[:6],
                    "township_code": region[:9],
                    "village_code": region,
                    "urban_rural": urban_rural,
                    "category": category,
                    "household_size": len(members) if size is None else size,
                    "household_annual_income": income,
                    "disability_grade": grade,
                    "disability_type": dtype,
                    "person_key": p.id_number,
                },
            )
            self.reg_rows[(month, p.id_number)] = row
            out.append(row)
        return out

    def record(
        self,
        source: str,
        month: dt.date,
        person: Person | None,
        decision: str = "accept",
        method=None,
        detail=None,
        **cols,
    ) -> int:
        row = self._next(month, source)
        values = {"month": month, "source": source, "source_file": f"{source}.csv", "source_row": row}
        if person is not None:
            values |= {"name": person.name, "id_number": person.id_number, "id_number_raw": person.id_number}
        values |= cols
        self.insert(f"std.{source}", values)
        reg = self.reg_rows.get((month, person.id_number)) if person is not None else None
        if person is not None and reg is not None and decision != "none":
            hh = self.con.execute(
                "SELECT household_id, person_key FROM std.registry WHERE month = ? AND source_row = ?", [month, reg]
            ).fetchone()
            self.insert(
                "linkage.links",
                {
                    "month": month,
                    "source": source,
                    "source_row": row,
                    "registry_row": reg,
                    "registry_household_id": hh[0],
                    "registry_person_key": hh[1],
                    "match_score": 1.0 if decision == "accept" else 0.7,
                    "method": method or ("exact_id" if decision == "accept" else "probabilistic"),
                    "detail": detail,
                    "decision": decision,
                },
            )
        else:
            self.insert(
                "linkage.links",
                {
                    "month": month,
                    "source": source,
                    "source_row": row,
                    "match_score": 0.0,
                    "method": "probabilistic",
                    "decision": "none",
                },
            )
        return row

    # convenience wrappers
    def claim(self, month, person, oop, icd="J18.9", settled=None, decision="accept"):
        return self.record(
            "health_insurance",
            month,
            person,
            decision,
            out_of_pocket=float(oop),
            diagnosis_icd10=icd,
            settled_on=settled or month + dt.timedelta(days=9),
            visit_type="住院",
            total_cost=float(oop) * 2,
        )

    def civil(self, month, person, event, amount=None, date=None, decision="accept"):
        return self.record(
            "civil_affairs",
            month,
            person,
            decision,
            event_type=event,
            amount=None if amount is None else float(amount),
            event_date=date or month + dt.timedelta(days=4),
        )

    def hr(self, month, person, rtype, wage=None, decision="accept", method=None, detail=None):
        return self.record(
            "human_resources",
            month,
            person,
            decision,
            method,
            detail,
            record_type=rtype,
            monthly_wage=None if wage is None else float(wage),
        )

    def rr(self, month, person, rr_id, risk="因病", cleared=False, region=VILLAGE, decision="accept"):
        return self.record(
            "rural_revitalization",
            month,
            person,
            decision,
            rr_household_id=rr_id,
            risk_type=risk,
            risk_cleared=cleared,
            region_code=region,
            county_code=region[:6],
            township_code=region[:9],
            village_code=region,
            relation="户主",
            monitor_type="边缘易致贫户",
        )

    def disposition(self, month, flag_id, result, on=None, by="张社工", note=""):
        row = self._next(month, "dispositions")
        self.insert(
            "std.dispositions",
            {
                "month": month,
                "source": "dispositions",
                "source_file": "dispositions.xlsx",
                "source_row": row,
                "flag_id": flag_id,
                "disposition": result,
                "disposed_on": on or month + dt.timedelta(days=3),
                "handled_by": by,
                "note": note,
            },
        )
        return row
