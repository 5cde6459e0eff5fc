import dagster as dg

from assets import all_assets
from assets.resources import MonitorConfig
from pipelines.jobs import monthly_monitoring_job
from pipelines.province import ProvinceConfig, province_monthly_job
from pipelines.schedules import monthly_schedule
from pipelines.sensors import complete_delivery_sensor


def build_definitions(
    config: MonitorConfig | None = None, province: ProvinceConfig | None = None, jobs: list | None = None
) -> dg.Definitions:
    return dg.Definitions(
        assets=all_assets,
        jobs=[monthly_monitoring_job, *(jobs if jobs is not None else [province_monthly_job])],
        schedules=[monthly_schedule],
        sensors=[complete_delivery_sensor],
        resources={"monitor": config or MonitorConfig.from_env(), "province": province or ProvinceConfig.from_env()},
    )


defs = build_definitions()
