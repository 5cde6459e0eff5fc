"""Thresholds of the data-quality checks.

Defaults work for the demo. A YAML file (path in MONITOR_DQ_CONFIG, or passed
to `QualityConfig.load`) overrides any field; environment variables
`MONITOR_DQ_<FIELD>` override scalar fields last, e.g.
`MONITOR_DQ_ID_VALID_SHARE_CRITICAL=0.6`.

YAML example::

    id_valid_share_warning: 0.9
    per_source:                       # any scalar field, per source
      civil_affairs: {row_drop_critical: 0.7}
    severity_overrides:               # expectation name -> critical / warning
      household_size_matches_members: warning
    money_max: {amount: 50000}
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENV_FILE = "MONITOR_DQ_CONFIG"
ENV_PREFIX = "MONITOR_DQ_"


def _default_money_max() -> dict[str, float]:
    # Upper bound of a plausible value, yuan. Above it the value is most likely
    # a unit error (fen instead of yuan) or a typo.
    return {
        "household_annual_income": 1_000_000.0,
        "amount": 100_000.0,
        "total_cost": 5_000_000.0,
        "basic_paid": 5_000_000.0,
        "critical_illness_paid": 5_000_000.0,
        "assistance_paid": 1_000_000.0,
        "out_of_pocket": 2_000_000.0,
        "monthly_wage": 200_000.0,
        "per_capita_net_income": 500_000.0,
    }


def _default_date_lag() -> dict[str, int]:
    # "source.column" -> days before the delivered month still accepted.
    # 医保 settles some claims of the previous month's last days late: 15 days.
    return {"civil_affairs.event_date": 0, "health_insurance.settled_on": 15}


@dataclass
class QualityConfig:
    # Share of rows with a valid 身份证号 (id_invalid_reason IS NULL).
    id_valid_share_warning: float = 0.90
    id_valid_share_critical: float = 0.70
    # Row count against last month's loaded rows: a drop larger than this share.
    row_drop_warning: float = 0.20
    row_drop_critical: float = 0.50
    # Rows quarantined / rows read above this share -> warning.
    quarantine_share_warning: float = 0.02
    # 医保: total_cost = basic + critical illness + assistance + out of pocket, ± yuan.
    cost_tolerance_yuan: float = 1.0
    # Oldest plausible birth date.
    min_birth_year: int = 1900
    # Linkage (warnings only).
    min_link_rate: float = 0.30
    link_rate_drop_warning: float = 0.15
    review_share_warning: float = 0.05
    # GX data source the suites run on: "duckdb" (SQL over the frame, the fast path) or
    # "pandas" (the frame converted to pandas); same expectations, same results.
    gx_engine: str = "duckdb"
    # Maps and overrides.
    money_max: dict[str, float] = field(default_factory=_default_money_max)
    date_lag_days: dict[str, int] = field(default_factory=_default_date_lag)
    per_source: dict[str, dict[str, Any]] = field(default_factory=dict)
    severity_overrides: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, source: str | None = None) -> Any:
        """A scalar threshold, with the per-source override if any."""
        if source is not None and name in (self.per_source.get(source) or {}):
            return self.per_source[source][name]
        return getattr(self, name)

    def severity(self, expectation: str, default: str) -> str:
        sev = self.severity_overrides.get(expectation) or self.severity_overrides.get(expectation.split(":")[0])
        return sev if sev in ("critical", "warning") else default

    @classmethod
    def load(cls, path: str | Path | None = None, env: dict[str, str] | None = None) -> QualityConfig:
        env = dict(os.environ if env is None else env)
        path = path or env.get(ENV_FILE)
        values: dict[str, Any] = {}
        if path:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown data-quality settings: {sorted(unknown)}")
        cfg = cls()
        for key, value in values.items():
            current = getattr(cfg, key)
            if isinstance(current, dict):
                merged = dict(current)
                merged.update(value or {})
                value = merged
            setattr(cfg, key, value)
        for key, _f in known.items():
            raw = env.get(ENV_PREFIX + key.upper())
            if raw is None or isinstance(getattr(cfg, key), dict):
                continue
            setattr(cfg, key, type(getattr(cfg, key))(raw))
        return cfg


_DEFAULT: QualityConfig | None = None


def default_config() -> QualityConfig:
    """The configuration from the environment, read once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = QualityConfig.load()
    return _DEFAULT
