"""Record linkage: agency records -> registry persons (registry.py), on a generic
settings-driven engine that runs as SQL over whole tables (engine.py, settings.py);
review lists (review.py)."""

from lowincome.linkage.registry import LINK_COLUMNS, LinkageSettings, LinkResult, link_source
from lowincome.linkage.review import read_review_decisions, write_review_list

__all__ = [
    "LINK_COLUMNS",
    "LinkResult",
    "LinkageSettings",
    "link_source",
    "read_review_decisions",
    "write_review_list",
]
