"""What every asset declares the same way: owners, tags, code version, the
standard Dagster metadata (row count, column schema) built from plain values, and
the shape of the asset checks (partitioned specs, one result per family of
`quality/` expectations). The checks themselves sit beside the asset they check
(assets/ingestion.py, assets/linkage.py)."""

from __future__ import annotations

import warnings

import dagster as dg

from assets.partitions import monthly_partitions
from lowincome.privacy import mask_free_text
from quality.results import CRITICAL

OWNERS = ["team:data"]
TAGS = {"domain": "lowincome_monitoring"}
# Bump when an asset's logic changes so Dagster marks older materializations as stale.
CODE_VERSION = "2026.11"


def asset_kwargs(**tags: str) -> dict:
    return {"owners": OWNERS, "tags": {**TAGS, **tags}, "code_version": CODE_VERSION}


def table_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(kind)) for name, kind in columns])


def standard_metadata(row_count: int | None = None, columns: list[tuple[str, str]] | None = None) -> dict:
    """`dagster/row_count` and `dagster/column_schema`, which the UI plots and shows."""
    out: dict = {}
    if row_count is not None:
        out["dagster/row_count"] = dg.MetadataValue.int(int(row_count))
    if columns:
        out["dagster/column_schema"] = table_schema(columns)
    return out


def table_columns(warehouse, table: str) -> list[tuple[str, str]]:
    """(name, type) of a warehouse table, for the column schema."""
    schema, name = table.split(".", 1)
    with warehouse.reader() as con:
        return con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()


def check_spec(**kw) -> dg.AssetCheckSpec:
    """An asset check evaluated for the run's monthly partition."""
    with warnings.catch_warnings():  # partitioned checks are a preview feature of Dagster 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(partitions_def=monthly_partitions, **kw)


def check_result(key: dg.AssetKey, name: str, results: list) -> dg.AssetCheckResult:
    """One check from `quality/` expectation results: ERROR when a critical one failed,
    WARN when only warnings failed."""
    failed = [r for r in results if not r.success]
    critical = [r for r in failed if r.severity == CRITICAL]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
        metadata={
            "expectations": len(results),
            "failed": len(failed),
            "failed_critical": len(critical),
            "expectation_names": ", ".join(r.expectation for r in results),
            "failed_expectations": mask_free_text(
                "; ".join(f"{r.expectation}（{r.description}）: {r.observed}" for r in failed)
            ),
        },
    )
