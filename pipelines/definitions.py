import dagster as dg

from assets import all_assets
from pipelines.jobs import monthly_monitoring_job
from pipelines.resources import MonitorConfig
from pipelines.schedules import monthly_schedule
from pipelines.sensors import complete_delivery_sensor


def build_definitions(config: MonitorConfig | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=all_assets,
        jobs=[monthly_monitoring_job],
        schedules=[monthly_schedule],
        sensors=[complete_delivery_sensor],
        resources={"monitor": config or MonitorConfig.from_env()},
    )


defs = build_definitions()
