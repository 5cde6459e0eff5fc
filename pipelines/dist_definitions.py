"""The distributed deployment's code location: the same definitions, with the province
job's steps on Celery workers (broker and result backend from servers.sh's environment).

    DAGSTER_HOME=var/dist/dagster_home dg dev -m pipelines.dist_definitions   # UI on PostgreSQL
"""

from dagster_celery import celery_executor

from pipelines.definitions import build_definitions
from pipelines.province import build_province_job

CELERY_CONFIG = {
    "broker": {"env": "DAGSTER_CELERY_BROKER"},
    "backend": {"env": "DAGSTER_CELERY_BACKEND"},
    "config_source": {"worker_prefetch_multiplier": 1},
}

province_monthly_celery = build_province_job(celery_executor.configured(CELERY_CONFIG))


defs = build_definitions(jobs=[province_monthly_celery])


def province_job():
    """Entry point for dg.reconstructable: the workers import this module to run a step."""
    return defs.resolve_job_def(province_monthly_celery.name)


def run_month_distributed(partition_key: str, run_config: dict, tags: dict | None = None, instance=None):
    """Run the province job for one month on the Celery workers, recorded in the
    instance of DAGSTER_HOME (PostgreSQL). Returns the execution result."""
    import dagster as dg

    instance = instance or dg.DagsterInstance.get()
    result = dg.execute_job(
        dg.reconstructable(province_job),
        instance=instance,
        run_config=run_config,
        tags={"dagster/partition": partition_key, **(tags or {})},
        raise_on_error=False,
    )
    return result


def reexecute_from_failure(run_id: str, instance=None):
    """Retry a failed run: its failed and unfinished steps run again; the steps that
    succeeded keep their committed output."""
    import dagster as dg

    instance = instance or dg.DagsterInstance.get()
    parent = instance.get_run_by_id(run_id)
    return dg.execute_job(
        dg.reconstructable(province_job),
        instance=instance,
        raise_on_error=False,
        run_config=parent.run_config,
        tags=dict(parent.tags),
        reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance),
    )


def step_seconds(run_id: str, instance=None) -> dict[str, float]:
    """Wall seconds of every step of a run that succeeded, from the instance's event log."""
    import dagster as dg

    instance = instance or dg.DagsterInstance.get()
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS, limit=10_000).records
    return {
        r.event_log_entry.step_key: r.event_log_entry.dagster_event.event_specific_data.duration_ms / 1000
        for r in records
    }
