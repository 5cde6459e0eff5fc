import os

import dagster as dg

# Every asset shares this one definition, so `dagster asset materialize
# --partition 2026-08-01` can select any of them together.
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=os.environ.get("MONITOR_FIRST_MONTH", "2024-01-01"),
)

# All warehouse writes go through this pool (limit 1 in dagster.yaml): DuckDB
# allows a single writing process. The Warehouse file lock backs it up for runs
# started outside a Dagster instance (tests, the CLI's in-process execution).
WAREHOUSE_POOL = "duckdb_warehouse"
