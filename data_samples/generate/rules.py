"""The rule list the generator plants and grades, read from the rule files themselves.

Every `sql/rules/Rxx_*.sql` starts with one block comment whose body is YAML (code, name,
severity, sources, previous, action, params, description). Reading that
header is reading data of the repository, not importing pipeline code, so the generator
stays independent of `lowincome` while its rule list cannot drift from the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "sql" / "rules"
_REQUIRED = ("code", "name", "severity", "sources", "previous")


@dataclass(frozen=True)
class RuleHeader:
    code: str
    name: str
    severity: str
    sources: tuple[str, ...]  # agency sources of month M the rule needs (the registry of M always)
    previous: tuple[str, ...]  # what it reads of month M-1


def parse_header(text: str, where: str = "<rule>") -> RuleHeader:
    """The header of one rule file's text; ValueError when it has none or lacks a key."""
    text = text.strip()
    if not text.startswith("/*") or "*/" not in text:
        raise ValueError(f"{where}: no header (a leading /* YAML */ block comment)")
    doc = yaml.safe_load(text.split("*/", 1)[0].removeprefix("/*"))
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: the header is not a YAML mapping")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise ValueError(f"{where}: header lacks {', '.join(missing)}")
    return RuleHeader(
        code=str(doc["code"]),
        name=str(doc["name"]),
        severity=str(doc["severity"]),
        sources=tuple(doc["sources"] or ()),
        previous=tuple(doc["previous"] or ()),
    )


def read_rules(folder: Path = RULES_DIR) -> dict[str, RuleHeader]:
    """code -> header of every `R*.sql` in folder, in code order; the file name must start
    with the code."""
    out: dict[str, RuleHeader] = {}
    for path in sorted(Path(folder).glob("R*.sql")):
        h = parse_header(path.read_text(encoding="utf-8"), str(path))
        if not path.name.startswith(f"{h.code}_"):
            raise ValueError(f"{path}: header code {h.code} does not match the file name")
        if h.code in out:
            raise ValueError(f"{path}: rule {h.code} defined twice")
        out[h.code] = h
    if not out:
        raise ValueError(f"no rule files in {folder}")
    return dict(sorted(out.items()))


HEADERS = read_rules()
RULES = tuple(HEADERS)
RULE_SOURCES: dict[str, tuple[str, ...]] = {c: h.sources for c, h in HEADERS.items()}
RULE_PREVIOUS: dict[str, tuple[str, ...]] = {c: h.previous for c, h in HEADERS.items()}


def rule_ran(M: int, rule: str, delivered: set[tuple[int, str]]) -> bool:
    """A rule runs in M when the registry and every source it reads are delivered, and when it
    reads month M-1 (R05), M >= 1 and what it reads of M-1 is delivered too."""
    ok = (M, "registry") in delivered and all((M, s) in delivered for s in RULE_SOURCES[rule])
    if RULE_PREVIOUS[rule]:
        ok = ok and M >= 1 and all((M - 1, s) in delivered for s in RULE_PREVIOUS[rule])
    return ok
