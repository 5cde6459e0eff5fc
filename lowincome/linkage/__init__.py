"""Record linkage: agency records -> registry persons (see chinese.py), on a
generic configuration-driven engine (engine.py); review lists (review.py)."""

from lowincome.linkage.chinese import LINK_COLUMNS, LinkageSettings, LinkResult, link_source
from lowincome.linkage.review import read_review_decisions, write_review_list

__all__ = [
    "LINK_COLUMNS",
    "LinkResult",
    "LinkageSettings",
    "link_source",
    "read_review_decisions",
    "write_review_list",
]
