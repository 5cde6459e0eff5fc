"""Parameters of the rule catalogue (rules.md): load and validate the YAML file
that MONITOR_PARAMS points to."""

from __future__ import annotations

import math
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


# Plausible ranges (inclusive): a value outside is a typo or a unit error, and the
# month is refused before anything is written rather than flags silently changing.
# 低保标准 is yuan per person per month (the highest in China is under 2,000).
LIMITS: dict[str, tuple[float, float]] = {
    "dibao_standard": (50.0, 10_000.0),
    "edge_multiplier": (1.0, 5.0),
    "medical_burden_ratio": (0.01, 10.0),
    "gradual_exit_months": (1, 36),
    "temp_assistance_repeat.count": (1, 24),
    "temp_assistance_repeat.months": (1, 12),
}


def _zh_en(zh: str, en: str) -> str:
    return f"参数错误：{zh} / invalid parameter: {en}"


def _number(name: str, value, kind=float, limits: str | None = None):
    """A finite number of `kind` within LIMITS[limits or name]; else ParamsError (Chinese + English)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ParamsError(_zh_en(f"{name} 应为数字，实际为 {value!r}", f"{name}: expected a number, got {value!r}"))
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ParamsError(
            _zh_en(f"{name} 应为数字，实际为 {value!r}", f"{name}: expected a number, got {value!r}")
        ) from exc
    if not math.isfinite(v):
        raise ParamsError(
            _zh_en(f"{name} 不能为 NaN 或无穷大（{value!r}）", f"{name}: must be a finite number, got {value!r}")
        )
    if kind is int and v != int(v):
        raise ParamsError(
            _zh_en(f"{name} 应为整数，实际为 {value!r}", f"{name}: must be a whole number, got {value!r}")
        )
    lo, hi = LIMITS[limits or name]
    if not lo <= v <= hi:
        raise ParamsError(
            _zh_en(
                f"{name} = {value!r} 超出合理范围 [{lo:g}, {hi:g}]",
                f"{name} = {value!r} is outside the plausible range [{lo:g}, {hi:g}]",
            )
        )
    return int(v) if kind is int else v


def params_from_dict(raw: dict, source_path: str | None = None) -> Params:
    """Validate a parsed parameters mapping; raise ParamsError with a clear message."""
    if not isinstance(raw, dict):
        raise ParamsError(_zh_en("参数文件须为键值映射", "parameters file must be a mapping"))
    known = {
        "dibao_standard",
        "edge_multiplier",
        "medical_burden_ratio",
        "gradual_exit_months",
        "major_disease_icd10_prefixes",
        "temp_assistance_repeat",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ParamsError(_zh_en(f"未知参数 {', '.join(unknown)}", f"unknown parameter(s): {', '.join(unknown)}"))
    table = raw.get("dibao_standard")
    if not isinstance(table, dict) or "default" not in table:
        raise ParamsError(
            _zh_en(
                "dibao_standard 须为映射且含 default 项",
                "dibao_standard: a mapping with at least a 'default' entry is required",
            )
        )
    standards: dict[str, dict[str, float]] = {}
    for county, row in table.items():
        county = str(county)
        if county != "default" and not (len(county) == 6 and county.isdigit()):
            raise ParamsError(
                _zh_en(
                    f"dibao_standard 的县代码 {county!r} 不是 6 位数字",
                    f"dibao_standard: county key {county!r} is not a 6-digit code",
                )
            )
        if not isinstance(row, dict) or set(row) != {"urban", "rural"}:
            raise ParamsError(
                _zh_en(
                    f"dibao_standard[{county}] 须且仅须含 urban 与 rural",
                    f"dibao_standard[{county}]: needs exactly 'urban' and 'rural'",
                )
            )
        standards[county] = {
            k: _number(f"dibao_standard[{county}].{k}", row[k], limits="dibao_standard") for k in ("urban", "rural")
        }
    edge = _number("edge_multiplier", raw.get("edge_multiplier", Params.edge_multiplier))
    prefixes = raw.get("major_disease_icd10_prefixes", list(Params.major_disease_icd10_prefixes))
    if not isinstance(prefixes, (list, tuple)) or not all(isinstance(p, str) and p.strip() for p in prefixes):
        raise ParamsError(
            _zh_en(
                "major_disease_icd10_prefixes 须为非空字符串列表",
                "major_disease_icd10_prefixes: a list of non-empty strings is required",
            )
        )
    rep = raw.get("temp_assistance_repeat", {})
    if not isinstance(rep, dict) or set(rep) - {"count", "months"}:
        raise ParamsError(
            _zh_en(
                "temp_assistance_repeat 须为 {count, months} 映射",
                "temp_assistance_repeat: a mapping {count, months} is required",
            )
        )
    months = _number("temp_assistance_repeat.months", rep.get("months", Params.temp_assistance_months), int)
    return Params(
        dibao_standard=standards,
        edge_multiplier=edge,
        medical_burden_ratio=_number(
            "medical_burden_ratio", raw.get("medical_burden_ratio", Params.medical_burden_ratio)
        ),
        gradual_exit_months=_number(
            "gradual_exit_months", raw.get("gradual_exit_months", Params.gradual_exit_months), int
        ),
        major_disease_icd10_prefixes=tuple(sorted({p.strip().upper() for p in prefixes})),
        temp_assistance_count=_number(
            "temp_assistance_repeat.count", rep.get("count", Params.temp_assistance_count), int
        ),
        temp_assistance_months=months,
        source_path=source_path,
    )


def load_params(path: str | Path | None = None) -> Params:
    """Read the parameters YAML (path, else $MONITOR_PARAMS, else the sample file)."""
    path = Path(path or os.environ.get("MONITOR_PARAMS") or DEFAULT_PARAMS)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParamsError(
            f"参数错误：无法读取参数文件 {path} / invalid parameters: cannot read {path}: {exc.strerror or exc}"
        ) from exc
    except yaml.YAMLError as exc:
        raise ParamsError(
            f"参数错误：参数文件 {path} 不是合法的 YAML / invalid parameters: {path} is not valid YAML: "
            + " ".join(str(exc).split())
        ) from exc
    return params_from_dict(raw, str(path))
