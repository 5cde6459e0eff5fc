"""Data quality: GX 1.x suites per source, linkage quality, the auditor's report.

No Dagster here: the asset checks in assets/ call these plain functions.
GX is imported lazily (on the first validation), so importing this package is cheap.
"""

from quality.config import QualityConfig, default_config
from quality.linkage_quality import linkage_quality
from quality.report import flags_withheld, write_report
from quality.results import ExpectationResult, results_frame, summarize, write_results
from quality.suites import validate_source

__all__ = [
    "ExpectationResult",
    "QualityConfig",
    "default_config",
    "flags_withheld",
    "linkage_quality",
    "results_frame",
    "summarize",
    "validate_source",
    "write_report",
    "write_results",
]
