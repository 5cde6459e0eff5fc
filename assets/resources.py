"""Resources: where the month's inputs and outputs live, from the environment.

They sit in `assets/` (beside `partitions.py`) so the assets can declare them without
importing `pipelines`, which assembles the assets into Definitions.

Each setting reads its environment variable through Dagster's EnvVar when it is
set, and otherwise falls back to a project-local default so the demo runs with
no setup.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from lowincome.warehouse import DEFAULT_MEMORY_LIMIT, Warehouse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "MONITOR_INBOX": PROJECT_ROOT / "var" / "inbox",
    "MONITOR_WAREHOUSE": PROJECT_ROOT / "var" / "warehouse.duckdb",
    "MONITOR_EXPORTS": PROJECT_ROOT / "var" / "exports",
    "MONITOR_PARAMS": PROJECT_ROOT / "data_samples" / "params.yaml",
}


def setting(name: str) -> str | dg.EnvVar:
    """EnvVar(name) when the variable is set, else the demo default."""
    return dg.EnvVar(name) if os.environ.get(name) else str(DEFAULTS[name])


def resolved(name: str) -> Path:
    return Path(os.environ.get(name) or DEFAULTS[name])


class MonitorConfig(dg.ConfigurableResource):
    """Paths of one deployment: inbox, warehouse, exports, rule parameters."""

    inbox: str
    warehouse: str
    exports: str
    params: str
    # Optional region-name table (代码,名称); a `regions.csv` in the month folder or the inbox root wins.
    regions: str = ""
    # DuckDB's memory for the warehouse connections (lowincome/warehouse.py says why it is capped)
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT

    @classmethod
    def from_env(cls) -> MonitorConfig:
        return cls(
            inbox=setting("MONITOR_INBOX"),
            warehouse=setting("MONITOR_WAREHOUSE"),
            exports=setting("MONITOR_EXPORTS"),
            params=setting("MONITOR_PARAMS"),
            regions=os.environ.get("MONITOR_REGIONS", ""),
            duckdb_memory_limit=os.environ.get("MONITOR_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT,
        )

    def open_warehouse(self) -> Warehouse:
        return Warehouse(self.warehouse, memory_limit=self.duckdb_memory_limit)

    @property
    def inbox_path(self) -> Path:
        return Path(self.inbox)

    @property
    def exports_path(self) -> Path:
        return Path(self.exports)

    def region_names(self, month) -> dict[str, str]:
        """Names of county / township / village codes for the month's outputs ({} = show codes)."""
        from lowincome.regions import region_names

        return region_names(self.inbox_path / f"{month:%Y-%m}", self.regions or None)
