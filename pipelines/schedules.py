import os

import dagster as dg

from pipelines.jobs import monthly_monitoring_job

# Deliveries for month M arrive in the first days of M+1: run M on this day of M+1,
# at 02:00 Beijing time (the partitions' timezone, Asia/Shanghai).
SCHEDULE_DAY = int(os.environ.get("MONITOR_SCHEDULE_DAY", "10"))

monthly_schedule = dg.build_schedule_from_partitioned_job(
    monthly_monitoring_job,
    day_of_month=SCHEDULE_DAY,
    hour_of_day=2,
    name="monthly_monitoring_schedule",
    description=(
        f"每月 {SCHEDULE_DAY} 日 02:00（北京时间）处理上月数据：各部门应在月初交付；"
        "交付齐全可由传感器 complete_delivery_sensor 提前启动（MONITOR_SCHEDULE_DAY 可调日期）"
    ),
)
