"""Run great-expectations 1.x suites on the month's std frame.

GX evaluates every expectation on every row. Two GX data sources, same suites:

* ``duckdb`` (default): a GX SQL data source (SQLAlchemy + ``duckdb_engine``) on an
  in-process DuckDB connection where the polars frame is registered as a view
  (Arrow, no copy to pandas). GX compiles each expectation to SQL over the whole
  view; DuckDB scans it with both cores.
* ``pandas``: a GX pandas data source on ``frame.to_pandas()`` (the original path,
  kept to compare results and timings).

Why DuckDB: measured with ``benchmarks/bench_dq.py`` (the generated sample's std
frames replicated to N rows per source, all five extract sources validated in one
process; "before" = RSS with the frames held). The 2-core machine was shared (load
average 8-11), so wall times are 2.5-4x the CPU time; CPU seconds (all threads) are
the comparable figure, and on an idle 2-core machine wall ~ CPU/2 .. CPU:

    engine   rows/source        rows   wall s    CPU s   RSS before   peak RSS (MiB)
    pandas       100,000     500,000     28.5     10.8         420          794
    pandas     1,000,000   5,000,000    528.1    133.0         862         3929
    pandas     2,000,000  10,000,000    838.4        -        1359         7538
    duckdb       100,000     500,000      8.8      3.0         479          540
    duckdb     1,000,000   5,000,000     33.1     12.8         921         1378
    duckdb     2,000,000  10,000,000     58.6     20.2        1426         2335
    duckdb  prefecture: registry 1M + 4 x 1.25M = 6M: 33.4 s wall, 12.3 s CPU, peak 1458

GX on pandas needs a pandas copy of every frame (object columns: several times the
polars size: +3 GB at 1M rows per source, +6 GB at 2M) and evaluates every map metric
with pandas/Python code on one core. On DuckDB, GX bundles the aggregate metrics of a
suite into few queries (~31 for the registry's 34 expectations), each a parallel scan
of the Arrow view that shares the polars buffers; what remains is GX's Python
overhead (~1-1.5 s per suite) and the two row-set expectations (compound and single
column uniqueness). Chunked pandas validation was not chosen: it keeps pandas' cost
per row (the 0.1M figure x 10 for 1M) and uniqueness cannot be decided chunk by
chunk. Handing GX pre-computed booleans was not chosen: GX would no longer evaluate
the expectations, and the examples auditors see would be lost.

GX 1.x does not support DuckDB out of the box; `quality/gx_duckdb.py` makes its SQL
path work (and says why each adjustment is needed).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quality.results import ExpectationResult

_LOCK = threading.RLock()
_CONTEXT = None
DATASOURCE = "lowincome_dq"
SQL_DATASOURCE = "lowincome_dq_duckdb"
ENGINES = ("duckdb", "pandas")


def gx_modules():
    """Import GX with analytics off (must happen before the first import)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


def get_context():
    """The process-wide ephemeral GX context, progress bars off."""
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            gx, _ = gx_modules()
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            ctx.data_sources.add_pandas(DATASOURCE)
            _CONTEXT = ctx
        return _CONTEXT


def _pandas_batch(asset_name: str, frame):
    ctx = get_context()
    ds = ctx.data_sources.get(DATASOURCE)
    try:
        asset = ds.get_asset(asset_name)
    except LookupError:
        asset = ds.add_dataframe_asset(asset_name)
    try:
        bd = asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        bd = asset.add_batch_definition_whole_dataframe("whole")
    return bd.get_batch(batch_parameters={"dataframe": frame.to_pandas()})


@dataclass
class GxCheck:
    """One expectation of a suite with our name, description and severity."""

    name: str
    description: str
    severity: str
    expectation: Any  # a great_expectations.expectations.Expectation
    # Formats the observed value from GX's result dict (default: unexpected / element counts).
    observe: Callable[[dict], str] | None = None
    # Mask examples (IDs, names) before they go to dq.results.
    mask_examples: bool = False
    details: dict = field(default_factory=dict)


def _default_observed(result: dict) -> str:
    if "observed_value" in result and result["observed_value"] is not None:
        return str(result["observed_value"])
    if "unexpected_count" in result:
        return f"{result.get('unexpected_count')}/{result.get('element_count')}"
    return ""


def _mask_deep(value: Any) -> Any:
    from quality.masking import mask_record, mask_value

    if isinstance(value, list):
        return [_mask_deep(v) for v in value]
    if isinstance(value, dict):  # a record (compound-key examples): mask by column name
        return mask_record(value)
    return mask_value(value)


def _clean(value: Any) -> Any:
    """JSON-friendly example value: numpy scalars to Python, floats rounded, dates as text."""
    if isinstance(value, (tuple, list)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 2)
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if str(value).endswith("00:00:00") else value.isoformat()
    return value


def _exception_message(info: dict) -> str:
    """GX's exception info of one result: flat, or keyed by the metric that failed."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    nested = [v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    return "; ".join(dict.fromkeys(str(v.get("exception_message")) for v in nested))


def run_checks(
    suite_name: str, frame, checks: list[GxCheck], examples: int = 5, engine: str = "duckdb"
) -> tuple[list[ExpectationResult], float]:
    """Validate a polars frame against the checks with GX on `engine` (duckdb /
    pandas, see the module docstring); one result per check, in the checks'
    order, and the GX run time in seconds."""
    gx, _ = gx_modules()
    if engine not in ENGINES:
        raise ValueError(f"unknown GX engine {engine!r}; one of {ENGINES}")
    if not checks:
        return [], 0.0
    with _LOCK:
        get_context()  # an ExpectationSuite needs the active context
        suite = gx.ExpectationSuite(name=suite_name)
        for check in checks:
            check.expectation.meta = {"name": check.name}
            suite.add_expectation(check.expectation)
        started = time.perf_counter()
        if engine == "pandas":
            batch = _pandas_batch(suite_name, frame)
        else:
            from quality import gx_duckdb

            batch = gx_duckdb.register_view(get_context(), SQL_DATASOURCE, suite_name, frame)
        try:
            validation = batch.validate(
                suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": examples}
            )
        finally:
            if engine == "duckdb":
                gx_duckdb.unregister_view(suite_name)  # the view must not keep the frame alive
        elapsed = time.perf_counter() - started
    by_name = {r.expectation_config.meta.get("name"): r for r in validation.results}
    out = []
    for check in checks:
        r = by_name.get(check.name)
        details = dict(check.details)
        details["gx_expectation"] = check.expectation.expectation_type
        if r is None:
            out.append(
                ExpectationResult(
                    check.name,
                    check.description,
                    check.severity,
                    False,
                    observed="未执行",
                    details={**details, "error": "GX returned no result"},
                    suite=suite_name,
                )
            )
            continue
        res = dict(r.result or {})
        error = _exception_message(r.exception_info or {})
        if error:
            details["error"] = error[:500]
        examples_list = res.get("partial_unexpected_list") or []
        if examples_list:
            cleaned = [_clean(v) for v in examples_list]
            details["examples"] = [_mask_deep(v) for v in cleaned] if check.mask_examples else cleaned
        if res.get("missing_count"):
            details["missing_count"] = res["missing_count"]
        if res.get("unexpected_percent") is not None:
            details["unexpected_percent"] = round(float(res["unexpected_percent"]), 4)
        observed = check.observe(res) if check.observe else _default_observed(res)
        out.append(
            ExpectationResult(
                expectation=check.name,
                description=check.description,
                severity=check.severity,
                success=bool(r.success),
                unexpected_count=res.get("unexpected_count"),
                element_count=res.get("element_count"),
                observed=observed,
                details=details,
                suite=suite_name,
            )
        )
    return out, elapsed
