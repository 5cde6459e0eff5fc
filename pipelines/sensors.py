"""Start a month as soon as its delivery is complete: all five extracts, or
every file its _MANIFEST.json lists. A changed delivery (a file replaced or
added) starts the month again; an unchanged one never does."""

import dagster as dg

from assets.partitions import monthly_partitions
from assets.resources import MonitorConfig
from lowincome.monthly import delivery_status, inbox_months
from lowincome.schema import EXTRACT_SOURCES
from pipelines.jobs import monthly_monitoring_job


@dg.sensor(
    job=monthly_monitoring_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "收件箱某月交付齐全（五个文件，或 _MANIFEST.json 所列全部文件）即启动该月处理；"
        "文件被替换或新增时再次启动，交付未变化不重复启动。默认关闭，可在界面中开启"
    ),
)
def complete_delivery_sensor(context: dg.SensorEvaluationContext, monitor: MonitorConfig):
    valid_keys = set(monthly_partitions.get_partition_keys())
    requests = []
    for month in inbox_months(monitor.inbox_path):
        key = f"{month:%Y-%m-01}"
        status = delivery_status(monitor.inbox_path, month, EXTRACT_SOURCES)
        if key not in valid_keys or not status.complete:
            continue
        requests.append(dg.RunRequest(partition_key=key, run_key=f"{key}:{status.fingerprint()}"))
    if not requests:
        return dg.SkipReason("no complete delivery in the inbox")
    return requests
