"""Linkage settings as data (Splink-style): comparisons with ordered SQL levels,
blocking rules, classifier, thresholds, training and group context.

A settings file (YAML) round-trips through `LinkSettings.from_dict` / `to_dict`;
`sha` identifies the exact settings a month's links were made with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SETTINGS_DIR = Path(__file__).with_name("settings")
_COLUMN_REF = re.compile(r"\b([lr])\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Level:
    """One level of a comparison: holds when `sql` (over l./r. columns) is true."""

    label: str
    sql: str
    zh: str = ""  # how the review list and the report say it (Simplified Chinese)
    known: str = ""  # when the level can be tested; default: every l./r. column it reads is non-NULL

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """(side, column) pairs the level reads."""
        return tuple(dict.fromkeys(_COLUMN_REF.findall(self.sql)))

    @property
    def known_sql(self) -> str:
        return self.known or " AND ".join(f"{side}.{col} IS NOT NULL" for side, col in self.columns) or "TRUE"


@dataclass(frozen=True)
class Comparison:
    """Ordered levels; the first that holds is the pair's level, none -> 'disagree'."""

    name: str
    levels: tuple[Level, ...]
    zh: str = ""  # the comparison's name in Chinese
    zh_disagree: str = ""
    zh_missing: str = ""

    @property
    def labels(self) -> list[str]:
        return [lv.label for lv in self.levels] + ["disagree"]

    def zh_label(self, level: int) -> str:
        """Chinese wording of a level index (-1 missing, len(levels) disagree)."""
        if level < 0:
            return self.zh_missing or f"{self.zh or self.name}缺失"
        if level >= len(self.levels):
            return self.zh_disagree or f"{self.zh or self.name}不一致"
        return self.levels[level].zh or f"{self.zh or self.name}：{self.levels[level].label}"


@dataclass(frozen=True)
class BlockRule:
    """Candidate pairs agree on every `keys` column (same name on both sides)."""

    name: str
    keys: tuple[str, ...]
    where: str | None = None


@dataclass(frozen=True)
class GroupContext:
    """Records arrive in groups (households) and so do the registry persons: each
    other member of a record's group linked to the candidate's group multiplies
    its odds by `factor` (at most `max_members` counted); linked elsewhere divides."""

    column: str
    factor: float = 20.0
    max_members: int = 2
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Adjustment:
    """A fixed log-odds term added to every pair where `sql` holds: a prior that
    the data says something about (e.g. an event type paid only to enrolled persons)."""

    name: str
    sql: str
    weight: float
    zh: str = ""


def _adjustment(a: dict, comparisons: list[dict]) -> Adjustment:
    """An adjustment from the settings. `level: {comparison: label}` makes it hold where
    that comparison level holds (its own SQL, one definition), and `sql`, if also given."""
    conds = [a["sql"]] if a.get("sql") else []
    for cname, label in (a.get("level") or {}).items():
        c = next(c for c in comparisons if c["name"] == cname)
        lv = next(lv for lv in c["levels"] if lv["label"] == label)
        level = Level(lv["label"], lv["sql"], known=lv.get("known", ""))
        conds += [level.known_sql, level.sql]
    if not conds:
        raise ValueError(f"adjustment {a['name']!r} needs `sql` or `level`")
    sql = conds[0] if len(conds) == 1 else " AND ".join(f"({c})" for c in conds)
    return Adjustment(a["name"], sql, float(a["weight"]), a.get("zh", ""))


@dataclass(frozen=True)
class LinkSettings:
    name: str
    comparisons: tuple[Comparison, ...]
    blocking: tuple[BlockRule, ...]
    classifier: str = "logistic"  # logistic (needs a seed column) or ecm
    accept: float = 0.9
    review: float = 0.5
    ambiguity_margin: float = 3.0
    seed_column: str | None = None
    max_training_records: int = 4000
    random_state: int = 0
    masks: tuple[tuple[str, ...], ...] = ()
    simulate: dict[str, tuple[str, ...]] = field(default_factory=dict)
    one_to_one: bool = False
    group: GroupContext | None = None
    adjustments: tuple[Adjustment, ...] = ()
    exclude: str = ""  # SQL over l./r.: candidate pairs that cannot be matches, dropped before comparing
    evidence: dict = field(default_factory=dict, hash=False, compare=False)  # read by the caller's stages

    @classmethod
    def from_dict(cls, d: dict) -> LinkSettings:
        th = d.get("thresholds", {})
        tr = d.get("training", {})
        g = d.get("group")
        return cls(
            name=d.get("name", "settings"),
            comparisons=tuple(
                Comparison(
                    c["name"],
                    tuple(Level(lv["label"], lv["sql"], lv.get("zh", ""), lv.get("known", "")) for lv in c["levels"]),
                    c.get("zh", ""),
                    c.get("zh_disagree", ""),
                    c.get("zh_missing", ""),
                )
                for c in d["comparisons"]
            ),
            blocking=tuple(BlockRule(b["name"], tuple(b["keys"]), b.get("where")) for b in d["blocking"]),
            classifier=d.get("classifier", "logistic"),
            accept=float(th.get("accept", 0.9)),
            review=float(th.get("review", 0.5)),
            ambiguity_margin=float(th.get("ambiguity_margin", 3.0)),
            seed_column=tr.get("seed_column"),
            max_training_records=int(tr.get("max_records", 4000)),
            random_state=int(tr.get("random_state", 0)),
            masks=tuple(tuple(m) for m in tr.get("masks", ())),
            simulate={k: tuple(v) for k, v in (tr.get("simulate") or {}).items()},
            one_to_one=bool(d.get("one_to_one", False)),
            group=GroupContext(
                g["column"], float(g.get("factor", 20.0)), int(g.get("max_members", 2)), tuple(g.get("sources", ()))
            )
            if g
            else None,
            adjustments=tuple(_adjustment(a, d["comparisons"]) for a in d.get("adjustments", ())),
            exclude=d.get("exclude", ""),
            evidence=d.get("evidence") or {},
        )

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "classifier": self.classifier,
            "thresholds": {"accept": self.accept, "review": self.review, "ambiguity_margin": self.ambiguity_margin},
            "training": {
                "seed_column": self.seed_column,
                "max_records": self.max_training_records,
                "random_state": self.random_state,
                "masks": [list(m) for m in self.masks],
                "simulate": {k: list(v) for k, v in self.simulate.items()},
            },
            "one_to_one": self.one_to_one,
            "exclude": self.exclude,
            "blocking": [
                {"name": b.name, "keys": list(b.keys), **({"where": b.where} if b.where else {})} for b in self.blocking
            ],
            "comparisons": [
                {
                    "name": c.name,
                    "zh": c.zh,
                    "zh_disagree": c.zh_disagree,
                    "zh_missing": c.zh_missing,
                    "levels": [
                        {"label": lv.label, "sql": lv.sql, "zh": lv.zh, **({"known": lv.known} if lv.known else {})}
                        for lv in c.levels
                    ],
                }
                for c in self.comparisons
            ],
            "adjustments": [dataclasses.asdict(a) for a in self.adjustments],
            "evidence": self.evidence,
        }
        if self.group:
            d["group"] = dataclasses.asdict(self.group) | {"sources": list(self.group.sources)}
        return d

    @property
    def sha(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def replace(self, **changes) -> LinkSettings:
        return dataclasses.replace(self, **changes)

    def comparison(self, name: str) -> Comparison:
        return next(c for c in self.comparisons if c.name == name)


def load_settings(path: str | Path) -> LinkSettings:
    """Read a settings file; a bare name means `lowincome/linkage/settings/<name>.yaml`."""
    p = Path(path)
    if not p.suffix:
        p = SETTINGS_DIR / f"{p}.yaml"
    return LinkSettings.from_dict(yaml.safe_load(p.read_text(encoding="utf-8")))
