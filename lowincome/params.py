"""Parameters of the rule catalogue (rules.md): load and validate the YAML file
that MONITOR_PARAMS points to."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_PARAMS = Path(__file__).resolve().parent.parent / "data_samples" / "params.yaml"


class ParamsError(ValueError):
    """The parameters file is missing, unreadable or invalid."""


@dataclass(frozen=True)
class Params:
    # county code (6 digits) -> {"urban": S, "rural": S}; "default" applies elsewhere.
    dibao_standard: dict[str, dict[str, float]] = field(
        default_factory=lambda: {"default": {"urban": 700.0, "rural": 520.0}}
    )
    edge_multiplier: float = 1.5
    medical_burden_ratio: float = 1.0
    gradual_exit_months: int = 6
    major_disease_icd10_prefixes: tuple[str, ...] = ("C", "N18.5", "I21", "I63", "G12.2", "D61")
    temp_assistance_count: int = 2
    temp_assistance_months: int = 6
    source_path: str | None = None

    def standard(self, county_code: str | None, urban: bool) -> float:
        """低保标准 S of a county for 城市 (urban=True) or 农村."""
        row = self.dibao_standard.get(str(county_code), self.dibao_standard["default"])
        return row["urban" if urban else "rural"]

    def standard_rows(self) -> list[tuple[str | None, str, float]]:
        """(county_code or None for the default, 城市/农村, S) for a SQL join."""
        rows = []
        for county, row in sorted(self.dibao_standard.items()):
            key = None if county == "default" else county
            rows.append((key, "城市", float(row["urban"])))
            rows.append((key, "农村", float(row["rural"])))
        return rows


def _positive(name: str, value, kind=float, allow_zero: bool = False):
    try:
        v = kind(value)
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"{name}: expected a number, got {value!r}") from exc
    if v < 0 or (v == 0 and not allow_zero):
        raise ParamsError(f"{name}: must be > 0, got {value!r}")
    if kind is int and float(value) != v:
        raise ParamsError(f"{name}: must be a whole number, got {value!r}")
    return v


def params_from_dict(raw: dict, source_path: str | None = None) -> Params:
    """Validate a parsed parameters mapping; raise ParamsError with a clear message."""
    if not isinstance(raw, dict):
        raise ParamsError("parameters file must be a mapping")
    known = {
        "dibao_standard", "edge_multiplier", "medical_burden_ratio", "gradual_exit_months",
        "major_disease_icd10_prefixes", "temp_assistance_repeat",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ParamsError(f"unknown parameter(s): {', '.join(unknown)}")
    table = raw.get("dibao_standard")
    if not isinstance(table, dict) or "default" not in table:
        raise ParamsError("dibao_standard: a mapping with at least a 'default' entry is required")
    standards: dict[str, dict[str, float]] = {}
    for county, row in table.items():
        county = str(county)
        if county != "default" and not (len(county) == 6 and county.isdigit()):
            raise ParamsError(f"dibao_standard: county key {county!r} is not a 6-digit code")
        if not isinstance(row, dict) or set(row) != {"urban", "rural"}:
            raise ParamsError(f"dibao_standard[{county}]: needs exactly 'urban' and 'rural'")
        standards[county] = {k: _positive(f"dibao_standard[{county}].{k}", row[k]) for k in ("urban", "rural")}
    edge = _positive("edge_multiplier", raw.get("edge_multiplier", Params.edge_multiplier))
    if edge < 1:
        raise ParamsError(f"edge_multiplier: must be ≥ 1, got {edge}")
    prefixes = raw.get("major_disease_icd10_prefixes", list(Params.major_disease_icd10_prefixes))
    if not isinstance(prefixes, (list, tuple)) or not all(isinstance(p, str) and p.strip() for p in prefixes):
        raise ParamsError("major_disease_icd10_prefixes: a list of non-empty strings is required")
    rep = raw.get("temp_assistance_repeat", {})
    if not isinstance(rep, dict) or set(rep) - {"count", "months"}:
        raise ParamsError("temp_assistance_repeat: a mapping {count, months} is required")
    months = _positive("temp_assistance_repeat.months", rep.get("months", Params.temp_assistance_months), int)
    if months > 12:
        raise ParamsError("temp_assistance_repeat.months: at most 12")
    return Params(
        dibao_standard=standards,
        edge_multiplier=edge,
        medical_burden_ratio=_positive("medical_burden_ratio", raw.get("medical_burden_ratio", Params.medical_burden_ratio)),
        gradual_exit_months=_positive("gradual_exit_months", raw.get("gradual_exit_months", Params.gradual_exit_months), int),
        major_disease_icd10_prefixes=tuple(sorted({p.strip().upper() for p in prefixes})),
        temp_assistance_count=_positive("temp_assistance_repeat.count", rep.get("count", Params.temp_assistance_count), int),
        temp_assistance_months=months,
        source_path=source_path,
    )


def load_params(path: str | Path | None = None) -> Params:
    """Read the parameters YAML (path, else $MONITOR_PARAMS, else the sample file)."""
    path = Path(path or os.environ.get("MONITOR_PARAMS") or DEFAULT_PARAMS)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParamsError(f"cannot read parameters file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ParamsError(f"parameters file {path} is not valid YAML: {exc}") from exc
    return params_from_dict(raw, str(path))
