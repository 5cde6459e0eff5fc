import os

import dagster as dg

from pipelines.jobs import monthly_monitoring_job

# Deliveries for month M arrive in the first days of M+1: run M on this day of M+1.
SCHEDULE_DAY = int(os.environ.get("MONITOR_SCHEDULE_DAY", "10"))

monthly_schedule = dg.build_schedule_from_partitioned_job(
    monthly_monitoring_job,
    day_of_month=SCHEDULE_DAY,
    hour_of_day=2,
    name="monthly_monitoring_schedule",
)
