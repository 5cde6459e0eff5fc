import os

import dagster as dg

# The first month the pipeline covers: a deployment setting (MONITOR_FIRST_MONTH,
# YYYY-MM-01). `make demo` / `make dev` set it to the demo's first month.
FIRST_MONTH = os.environ.get("MONITOR_FIRST_MONTH", "2026-01-01")
TIMEZONE = "Asia/Shanghai"

# Every asset shares this one definition, so `dg launch --job monthly_monitoring
# --partition 2026-08-01` (or any asset selection) runs them together. Month boundaries and
# the schedule follow Beijing time.
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, timezone=TIMEZONE)

# All warehouse writes go through this pool (limit 1 in dagster.yaml): DuckDB
# allows a single writing process. The Warehouse file lock backs it up for runs
# started outside a Dagster instance (tests, the CLI's in-process execution).
WAREHOUSE_POOL = "duckdb_warehouse"
