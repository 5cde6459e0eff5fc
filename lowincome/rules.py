"""The rule catalogue (rules.md) over the warehouse: the rules, the flag lifecycle
(新增 / 持续 / 已清零) and caseworkers' dispositions.

Each rule is one SQL file in `sql/rules/`: a header (a YAML block comment: code, name,
severity, sources, previous, action, params, description; README "Adding a rule") and
one SELECT over the context the files of `sql/rules_context/` create (rule_ctx,
rule_registry, rule_households, linked_<source>, rule_pending, pending_<source>). The catalogue `RULES`
is read from those headers. This module decides which rules can run for the month
(ops.source_status), evaluates them (`sql/rule_run/`), applies the lifecycle and
dispositions and the summaries (`sql/lifecycle/`), and replaces the month's rows of
the flags.* tables in one transaction. Values reach the SQL as DuckDB variables
(`getvariable('month')`). Everything is deterministic: rerunning a month gives the
same rows.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import duckdb
import polars as pl
import yaml

from lowincome.months import add_months
from lowincome.params import Params, ParamsError, load_params  # noqa: F401  (public API)
from lowincome.schema import AGENCY_SOURCES, EXTRACT_SOURCES, polars_schema
from lowincome.warehouse import query_pl

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
RULES_DIR = SQL_DIR / "rules"
PUBLISH_DIR = SQL_DIR / "publish"  # replaces the month's rows of flags.*
SEVERITY_RANK = {"高": 1, "中": 2, "低": 3}
HEADER_KEYS = ("code", "name", "severity", "sources", "previous", "action", "params", "description")
# The columns every rule file returns, in this order.
OUTPUT_COLUMNS = (
    "household_key",  # registry 户编号, or RR:<监测户编号>
    "records",  # [rec(source, month, source_row)], the records that raise the flag
    "figures",  # JSON of the figures compared
    "evidence_text",  # the evidence in one Chinese sentence
    "action_extra",  # NULL or a key of the header's action_extra
    "held_reason",  # NULL, or why the row is held back (an absence made unknown by the review band)
    "county_code",
    "township_code",
    "village_code",
    "category",  # the household's 救助类别 (NULL for RR:)
)


class RuleFileError(ValueError):
    """A rule file's header or output does not follow the rule-file format."""


def param_values(params: Params) -> dict[str, object]:
    """The parameters under their params.yaml names: what a rule header's `params` lists."""
    return {
        "dibao_standard": [
            {"county_code": county, "urban_rural": urban_rural, "standard": standard}
            for county, urban_rural, standard in params.standard_rows()
        ],
        "edge_multiplier": float(params.edge_multiplier),
        "medical_burden_ratio": float(params.medical_burden_ratio),
        "gradual_exit_months": int(params.gradual_exit_months),
        "major_disease_icd10_prefixes": list(params.major_disease_icd10_prefixes),
        "temp_assistance_repeat": {
            "count": int(params.temp_assistance_count),
            "months": int(params.temp_assistance_months),
        },
    }


PARAM_NAMES = tuple(param_values(Params()))


@dataclass(frozen=True)
class Rule:
    """One rule file: its header and its SQL."""

    code: str
    name: str
    severity: str  # 高 / 中 / 低
    sources: tuple[str, ...]  # agency sources read in M (the registry of M is always needed)
    previous: tuple[str, ...]  # sources read in M-1
    action: str  # recommended action; {param} placeholders name parameters of `params`
    params: tuple[str, ...]  # params.yaml keys the rule reads (columns of its rule_ctx)
    description: str
    path: Path
    action_extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK[self.severity]

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8").strip().rstrip(";")

    def action_for(self, values: Mapping[str, object]) -> str:
        """The recommended action with the parameters of the month filled in."""
        return self.action.format_map({p: values[p] for p in self.params})


def read_header(path: Path) -> dict:
    """The YAML header of a rule file (HEADER.md): the body of its leading block comment."""
    text = path.read_text(encoding="utf-8").strip()
    if not text.startswith("/*") or "*/" not in text:
        raise RuleFileError(f"{path.name}: a rule file starts with a /* YAML header */")
    header = yaml.safe_load(text.split("*/", 1)[0].removeprefix("/*"))
    if not isinstance(header, dict):
        raise RuleFileError(f"{path.name}: the header is not a YAML mapping")
    return header


def _rule_from_file(path: Path) -> Rule:
    h = read_header(path)
    where = path.name
    missing = [k for k in HEADER_KEYS if k not in h]
    if missing:
        raise RuleFileError(f"{where}: header lacks {', '.join(missing)}")
    code = str(h["code"])
    if not path.name.startswith(f"{code}_"):
        raise RuleFileError(f"{where}: file name must start with its code {code}_")
    if h["severity"] not in SEVERITY_RANK:
        raise RuleFileError(f"{where}: severity {h['severity']!r} is not one of 高 / 中 / 低")
    lists = {}
    for key, allowed in (
        ("sources", AGENCY_SOURCES),
        ("previous", EXTRACT_SOURCES),
        ("params", PARAM_NAMES),
    ):
        value = h[key] or []
        if not isinstance(value, list) or any(v not in allowed for v in value):
            raise RuleFileError(f"{where}: {key} {value!r} must be a list of {', '.join(allowed)}")
        lists[key] = tuple(value)
    extra = h.get("action_extra") or {}
    if not isinstance(extra, dict) or not all(isinstance(v, str) and v for v in extra.values()):
        raise RuleFileError(f"{where}: action_extra must map keys to words")
    action, name = h["action"], h["name"]
    if not (isinstance(action, str) and action.strip() and isinstance(name, str) and name.strip()):
        raise RuleFileError(f"{where}: name and action must be non-empty text")
    placeholders = {f for _, f, _, _ in string.Formatter().parse(action) if f}
    if not placeholders <= set(lists["params"]):
        raise RuleFileError(f"{where}: action names {sorted(placeholders)}, not all in params {list(lists['params'])}")
    return Rule(
        code=code,
        name=name.strip(),
        severity=h["severity"],
        sources=lists["sources"],
        previous=lists["previous"],
        action=action.strip(),
        params=lists["params"],
        description=" ".join(str(h["description"] or "").split()),
        path=path,
        action_extra=MappingProxyType({str(k): v for k, v in extra.items()}),
    )


def load_catalogue(rules_dir: Path | str = RULES_DIR) -> dict[str, Rule]:
    """Every `R*.sql` of `rules_dir`, by code, in code order, from the files' headers."""
    rules: dict[str, Rule] = {}
    for path in sorted(Path(rules_dir).glob("R*.sql")):
        rule = _rule_from_file(path)
        if rule.code in rules:
            raise RuleFileError(f"{path.name}: code {rule.code} also in {rules[rule.code].path.name}")
        rules[rule.code] = rule
    if not rules:
        raise RuleFileError(f"no rule files (R*.sql) in {rules_dir}")
    return dict(sorted(rules.items()))


RULES: dict[str, Rule] = load_catalogue()


@dataclass
class RuleRunResult:
    month: dt.date
    counts_by_rule: dict[str, int] = field(default_factory=dict)  # fired (incl. suppressed), rules that ran
    active_by_rule: dict[str, int] = field(default_factory=dict)  # 新增 + 持续
    counts_by_state: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # rule -> reason
    held_by_rule: dict[str, int] = field(default_factory=dict)  # held back: absence unknown (review band)
    suppressed: int = 0
    withheld: bool = False
    withheld_reason: str | None = None

    @property
    def ran(self) -> list[str]:
        return sorted(self.counts_by_rule)


# ---------------------------------------------------------------- source usability
def source_usability(
    con: duckdb.DuckDBPyConnection, months: list[dt.date]
) -> dict[tuple[dt.date, str], tuple[bool, str]]:
    """(month, source) -> (usable, reason) from ops.source_status; absent = not delivered."""
    frame = query_pl(
        con,
        "SELECT month, source, usable, reason FROM ops.source_status WHERE list_contains(?, month)",
        [months],
    )
    return {(m, s): (bool(u), r or "") for m, s, u, r in frame.iter_rows()}


def _unusable_reason(status: dict, month: dt.date, source: str) -> str | None:
    usable, reason = status.get((month, source), (False, "missing: 未交付（无加载记录）"))
    return None if usable else f"{source} {month:%Y-%m} {reason}"


# ---------------------------------------------------------------- SQL files
def _run_scripts(con: duckdb.DuckDBPyConnection, folder: str) -> None:
    """Run the SQL files of sql/<folder>/ in name order (each a multi-statement script)."""
    for path in sorted((SQL_DIR / folder).glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))


def _set_variables(con: duckdb.DuckDBPyConnection, values: Mapping[str, object]) -> None:
    for name, value in values.items():
        con.execute(f"SET VARIABLE {name} = ?", [value])


def _setup_context(con: duckdb.DuckDBPyConnection, params: Params, rules: Mapping[str, Rule]) -> None:
    """The context tables of sql/rules_context/ and the catalogue tables (variable month set)."""
    values = param_values(params)
    _set_variables(con, values)
    _run_scripts(con, "rules_context")
    con.executemany(
        "INSERT INTO rule_catalogue VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [r.code, r.name, r.severity, r.severity_rank, r.action_for(values), r.sources, r.previous, r.params]
            + [r.description]
            for r in rules.values()
        ],
    )
    extras = [[r.code, k, v] for r in rules.values() for k, v in r.action_extra.items()]
    if extras:
        con.executemany("INSERT INTO rule_action_extra VALUES (?, ?, ?)", extras)


def _run_rule(con: duckdb.DuckDBPyConnection, rule: Rule) -> None:
    """Evaluate one rule file into rule_fired / rule_held (sql/rule_run/)."""
    _set_variables(con, {"rule_code": rule.code, "rule_params": list(rule.params)})
    con.execute((SQL_DIR / "rule_run" / "10_context.sql").read_text(encoding="utf-8"))
    con.execute(f"CREATE OR REPLACE TEMP TABLE rule_out AS {rule.sql}")
    cols = tuple(c[0] for c in con.execute("DESCRIBE rule_out").fetchall())
    if cols != OUTPUT_COLUMNS:
        raise RuleFileError(f"{rule.path.name} returns {cols}; a rule returns {OUTPUT_COLUMNS}")
    unknown = [
        k
        for (k,) in con.execute("SELECT DISTINCT action_extra FROM rule_out WHERE action_extra IS NOT NULL").fetchall()
        if k not in rule.action_extra
    ]
    if unknown:
        raise RuleFileError(f"{rule.path.name}: action_extra {unknown} not in its header's action_extra")
    con.execute((SQL_DIR / "rule_run" / "20_collect.sql").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- publishing
def _publish(con: duckdb.DuckDBPyConnection, outcome: str, runs: pl.DataFrame) -> None:
    """Replace the month's rows of flags.* in one transaction: sql/publish/10_clear_month.sql,
    then 20_published.sql or 20_withheld.sql (`outcome`); `runs` are the flags.rule_runs rows."""
    con.register("rule_runs_out", runs.to_arrow())
    con.execute("BEGIN TRANSACTION")
    try:
        for name in ("10_clear_month.sql", f"20_{outcome}.sql"):
            con.execute((PUBLISH_DIR / name).read_text(encoding="utf-8"))
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("rule_runs_out")


def _rule_runs(
    month: dt.date,
    rules: Mapping[str, Rule],
    status: list[str],
    reason: list[str | None],
    fired: dict[str, tuple[int, int]],
) -> pl.DataFrame:
    """flags.rule_runs rows of `month`, one per catalogue rule; fired: rule -> (flags, active)."""
    return pl.DataFrame(
        {
            "month": [month] * len(rules),
            "rule_code": list(rules),
            "rule_name": [r.name for r in rules.values()],
            "status": status,
            "reason": reason,
            "flags": [fired.get(c, (0, 0))[0] for c in rules],
            "active": [fired.get(c, (0, 0))[1] for c in rules],
        },
        schema=polars_schema("flags.rule_runs"),
    )


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop this module's temp tables and views (rule_*, linked_*, pending_*) and reset its variables."""
    for kind, names in (
        ("VIEW", "SELECT view_name FROM duckdb_views() WHERE temporary"),
        ("TABLE", "SELECT table_name FROM duckdb_tables() WHERE temporary"),
    ):
        for (name,) in con.execute(names).fetchall():
            if name.startswith(("rule_", "linked_", "pending_")):
                con.execute(f"DROP {kind} IF EXISTS temp.{name}")
    ours = {"month", "params_path", "withheld_reason", "rule_code", "rule_params", *PARAM_NAMES}
    for (name,) in con.execute("SELECT name FROM duckdb_variables()").fetchall():
        if name in ours:
            con.execute(f"RESET VARIABLE {name}")


def run_rules(
    con: duckdb.DuckDBPyConnection, month: dt.date, params: Params, rules_dir: Path | str | None = None
) -> RuleRunResult:
    """Evaluate every rule for `month`, apply the lifecycle and dispositions and
    replace the month's rows of flags.* atomically. See the module docstring.
    `rules_dir` replaces sql/rules/ (a test's catalogue)."""
    rules = RULES if rules_dir is None else load_catalogue(rules_dir)
    month = dt.date(month.year, month.month, 1)
    prev = add_months(month, -1)
    result = RuleRunResult(month)
    status = source_usability(con, [month, prev])

    registry_problem = _unusable_reason(status, month, "registry")
    try:
        _set_variables(con, {"month": month, "params_path": params.source_path})
        if registry_problem:
            result.withheld = True
            result.withheld_reason = f"低收入人口数据库不可用，本月预警暂缓发布：{registry_problem}"
            result.skipped = dict.fromkeys(rules, result.withheld_reason)
            _set_variables(con, {"withheld_reason": result.withheld_reason})
            runs = _rule_runs(month, rules, ["withheld"] * len(rules), [result.withheld_reason] * len(rules), {})
            _publish(con, "withheld", runs)
            return result

        _setup_context(con, params, rules)
        ran: list[str] = []
        for rule in rules.values():
            problems = [_unusable_reason(status, month, s) for s in rule.sources]
            problems += [_unusable_reason(status, prev, s) for s in rule.previous]
            problems = [p for p in problems if p]
            if problems:
                result.skipped[rule.code] = "；".join(problems)
                continue
            _run_rule(con, rule)
            ran.append(rule.code)
        con.execute("CREATE OR REPLACE TEMP TABLE rule_ran AS SELECT unnest(?::VARCHAR[]) AS rule_code", [ran])
        _run_scripts(con, "lifecycle")  # rule_new_flags, rule_summary; sql/publish/ writes them below

        counts = query_pl(
            con,
            """
            SELECT rule_code, count(*) FILTER (WHERE fired) AS fired,
                   count(*) FILTER (WHERE state IN ('新增', '持续')) AS active
            FROM rule_new_flags GROUP BY rule_code""",
        )
        fired = {r: (f, a) for r, f, a in counts.iter_rows()}
        runs = _rule_runs(
            month,
            rules,
            ["ran" if c in ran else "skipped" for c in rules],
            [result.skipped.get(c) for c in rules],
            fired,
        )
        _publish(con, "published", runs)

        result.counts_by_rule = {c: fired.get(c, (0, 0))[0] for c in ran}
        held = query_pl(con, "SELECT rule_code, count(*) AS n FROM rule_held GROUP BY rule_code")
        result.held_by_rule = dict(zip(held["rule_code"].to_list(), held["n"].to_list()))
        result.active_by_rule = {c: fired.get(c, (0, 0))[1] for c in ran}
        states = query_pl(
            con,
            """
            SELECT state, count(*) AS n, count(*) FILTER (WHERE suppressed) AS suppressed
            FROM rule_new_flags GROUP BY state ORDER BY state""",
        )
        result.counts_by_state = dict(zip(states["state"].to_list(), states["n"].to_list()))
        result.suppressed = int(states["suppressed"].sum())
        return result
    finally:
        _drop_temp(con)
