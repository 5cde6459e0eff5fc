"""The rule catalogue (rules.md) over the warehouse: R01–R11, the flag lifecycle
(新增 / 持续 / 已清零) and caseworkers' dispositions.

Each rule is one SQL file in `sql/rules/` (a SELECT over std.*, linkage.links and
the temporary context tables this module creates); this module decides which
rules can run for the month (ops.source_status), evaluates them, applies the
lifecycle and dispositions, and replaces the month's rows of the flags.* tables
in one transaction. Everything is deterministic: rerunning a month gives the
same rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from lowincome.months import add_months, month_end
from lowincome.params import Params, ParamsError, load_params  # noqa: F401  (public API)
from lowincome.schema import polars_schema
from lowincome.warehouse import query_pl, replace_many

RULES_DIR = Path(__file__).resolve().parent.parent / "sql" / "rules"


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str  # 高 / 中 / 低
    sources: tuple[str, ...]  # agency sources read in M (the registry of M is always needed)
    needs_previous: tuple[str, ...] = ()  # sources read in M-1

    @property
    def severity_rank(self) -> int:
        return {"高": 1, "中": 2, "低": 3}[self.severity]

    @property
    def sql_path(self) -> Path:
        return next(RULES_DIR.glob(f"{self.code}_*.sql"))


RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule("R01", "医疗支出型困难", "高", ("health_insurance",)),
        Rule("R02", "低收入未纳入低保", "高", ()),
        Rule("R03", "低保边缘未认定", "中", ()),
        Rule("R04", "单人保候选", "中", ("health_insurance",)),
        Rule("R05", "失业或断缴", "中", ("human_resources",), ("human_resources", "registry")),
        Rule("R06", "死亡未销户", "高", ("civil_affairs",)),
        Rule("R07", "停保后仍困难", "高", ("civil_affairs",)),
        Rule("R08", "防返贫监测未入库", "中", ("rural_revitalization",)),
        Rule("R09", "收入超标", "低", ("human_resources",)),
        Rule("R10", "多次临时救助", "中", ("civil_affairs",)),
        Rule("R11", "突发灾害意外", "高", ("civil_affairs", "rural_revitalization")),
    )
}


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


# ---------------------------------------------------------------- context tables
_MACROS = """
CREATE OR REPLACE TEMP MACRO rec(s, m, r) AS {'source': s::VARCHAR, 'month': m::DATE, 'source_row': r::INTEGER};
CREATE OR REPLACE TEMP MACRO yuan(x) AS
    CASE WHEN x IS NULL THEN '—' WHEN x = round(x) THEN format('{:,.0f}', x) ELSE format('{:,.2f}', x) END;
CREATE OR REPLACE TEMP MACRO ym(d) AS strftime(d, '%Y') || '年' || month(d) || '月';
"""

_CONTEXT = """
CREATE OR REPLACE TEMP TABLE rule_usable AS
SELECT month, source FROM ops.source_status WHERE usable AND month <= $month;

CREATE OR REPLACE TEMP TABLE rule_registry AS
WITH r AS (
    SELECT *, coalesce(birth_date, id_birth_date) AS birth FROM std.registry
    WHERE month = $month AND household_id IS NOT NULL
)
SELECT *,
    year($month_end) - year(birth)
      - CASE WHEN month($month_end) * 100 + day($month_end) < month(birth) * 100 + day(birth) THEN 1 ELSE 0 END AS age
FROM r;

CREATE OR REPLACE TEMP TABLE rule_households AS
WITH h AS (
    SELECT household_id,
        first(source_row ORDER BY coalesce(relation <> '户主', true), source_row) AS hh_row,
        first(county_code ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE county_code IS NOT NULL) AS county_code,
        first(township_code ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE township_code IS NOT NULL) AS township_code,
        first(village_code ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE village_code IS NOT NULL) AS village_code,
        first(urban_rural ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE urban_rural IS NOT NULL) AS urban_rural,
        first(category ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE category IS NOT NULL) AS category,
        first(household_size ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE household_size IS NOT NULL) AS size,
        first(household_annual_income ORDER BY coalesce(relation <> '户主', true), source_row)
            FILTER (WHERE household_annual_income IS NOT NULL) AS income,
        count(*) AS members_listed
    FROM rule_registry
    GROUP BY household_id
)
SELECT h.*,
    coalesce(sc.standard, sd.standard) AS s,
    CASE WHEN h.size > 0 THEN h.income / h.size / 12 END AS pc
FROM h
LEFT JOIN rule_standard sc ON sc.county_code = h.county_code AND sc.urban_rural = h.urban_rural
LEFT JOIN rule_standard sd ON sd.county_code IS NULL AND sd.urban_rural = h.urban_rural;

CREATE OR REPLACE TEMP TABLE rule_links AS
SELECT l.month, l.source, l.source_row, l.registry_row, r.household_id, r.person_key, r.name
FROM linkage.links l
JOIN std.registry r ON r.month = l.month AND r.source_row = l.registry_row
JOIN rule_usable u ON u.month = l.month AND u.source = l.source
JOIN rule_usable ur ON ur.month = l.month AND ur.source = 'registry'
WHERE l.decision = 'accept' AND l.month <= $month AND r.household_id IS NOT NULL;

-- Records waiting for a clerk (review band), with the registry person they may be:
-- for the rules that read an absence, such a record makes the absence unknown.
CREATE OR REPLACE TEMP TABLE rule_pending AS
SELECT l.month, l.source, l.source_row, r.household_id, r.person_key
FROM linkage.links l
JOIN std.registry r ON r.month = l.month AND r.source_row = l.registry_row
WHERE l.decision = 'review' AND l.month <= $month;
"""

_FIRED_DDL = """
CREATE OR REPLACE TEMP TABLE rule_fired (
    rule_code VARCHAR, household_key VARCHAR, county_code VARCHAR, township_code VARCHAR, village_code VARCHAR,
    category VARCHAR, records STRUCT(source VARCHAR, month DATE, source_row INTEGER)[], figures VARCHAR,
    evidence_text VARCHAR, recommended_action VARCHAR
);
CREATE OR REPLACE TEMP TABLE rule_held (
    rule_code VARCHAR, household_key VARCHAR, county_code VARCHAR, township_code VARCHAR, village_code VARCHAR,
    records STRUCT(source VARCHAR, month DATE, source_row INTEGER)[], reason VARCHAR
);
"""


def _exec(con: duckdb.DuckDBPyConnection, script: str, params: dict | None = None) -> None:
    """Run a script statement by statement, passing each the named parameters it uses."""
    for stmt in re.split(r";\s*\n", script):
        if not stmt.strip() or all(line.strip().startswith("--") or not line.strip() for line in stmt.splitlines()):
            continue
        used = {k: v for k, v in (params or {}).items() if f"${k}" in stmt}
        con.execute(stmt, used) if used else con.execute(stmt)


def _setup_context(con: duckdb.DuckDBPyConnection, month: dt.date, params: Params) -> None:
    _exec(con, _MACROS)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE rule_ctx AS SELECT
            ?::DATE AS month, ?::DATE AS month_end, ?::DATE AS prev_month, ?::DATE AS win12_start,
            ?::DATE AS rep_start, ?::DOUBLE AS edge, ?::DOUBLE AS ratio, ?::INTEGER AS rep_count,
            ?::INTEGER AS rep_months, ?::INTEGER AS exit_months""",
        [
            month,
            month_end(month),
            add_months(month, -1),
            add_months(month, -11),
            add_months(month, -(params.temp_assistance_months - 1)),
            params.edge_multiplier,
            params.medical_burden_ratio,
            params.temp_assistance_count,
            params.temp_assistance_months,
            params.gradual_exit_months,
        ],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rule_standard (county_code VARCHAR, urban_rural VARCHAR, standard DOUBLE)"
    )
    con.executemany("INSERT INTO rule_standard VALUES (?, ?, ?)", params.standard_rows())
    con.execute("CREATE OR REPLACE TEMP TABLE rule_icd_prefixes (prefix VARCHAR)")
    if params.major_disease_icd10_prefixes:
        con.executemany("INSERT INTO rule_icd_prefixes VALUES (?)", [[p] for p in params.major_disease_icd10_prefixes])
    _exec(con, _CONTEXT, {"month": month, "month_end": month_end(month)})
    con.execute(_FIRED_DDL)


def _run_rule(con: duckdb.DuckDBPyConnection, rule: Rule) -> None:
    """Evaluate one rule into rule_fired. A rule that reads an absence may return
    `held_reason`: rows where it is set are held back (the absence is unknown while a
    record waits in the review band) and go to rule_held instead."""
    sql = rule.sql_path.read_text(encoding="utf-8").strip().rstrip(";")
    con.execute(f"CREATE OR REPLACE TEMP TABLE rule_out AS {sql}")
    cols = {c[0] for c in con.execute("DESCRIBE rule_out").fetchall()}
    if "village_code" in cols:  # the rule knows its own regions (R08)
        region = "o.county_code, o.township_code, o.village_code"
        category = "NULL"
        join = ""
    else:
        region = "hh.county_code, hh.township_code, hh.village_code"
        category = "hh.category"
        join = "JOIN rule_households hh ON hh.household_id = o.household_key"
    held = "false"
    if "held_reason" in cols:
        held = "o.held_reason IS NOT NULL"
        con.execute(
            f"""INSERT INTO rule_held
            SELECT ?, o.household_key, {region}, list_sort(list_distinct(o.records)), o.held_reason
            FROM rule_out o {join} WHERE {held}""",
            [rule.code],
        )
    con.execute(
        f"""INSERT INTO rule_fired
        SELECT ?, o.household_key, {region}, {category}, list_sort(list_distinct(o.records)), o.figures,
               o.evidence_text, o.recommended_action
        FROM rule_out o {join} WHERE NOT ({held})""",
        [rule.code],
    )


# ---------------------------------------------------------------- lifecycle
_LIFECYCLE = """
CREATE OR REPLACE TEMP TABLE rule_catalogue AS
SELECT * FROM (VALUES {catalogue}) t(rule_code, rule_name, severity, severity_rank);

-- The month each rule that ran last ran (and was published) before M.
CREATE OR REPLACE TEMP TABLE rule_prev AS
SELECT rule_code, max(month) AS prev_month
FROM flags.rule_runs
WHERE status = 'ran' AND month < $month AND rule_code IN (SELECT rule_code FROM rule_ran)
GROUP BY rule_code;

CREATE OR REPLACE TEMP TABLE rule_prev_flags AS
SELECT f.* FROM flags.risk_flags f JOIN rule_prev p ON p.rule_code = f.rule_code AND p.prev_month = f.month;

-- Closing dispositions delivered by M for fired flags of earlier months: per
-- (household, rule) the one of the latest flag with the latest 处置日期 (then the
-- latest delivery), never row order. Rows tied at the top that disagree are a
-- conflict: none is applied (reported in ops.returned_issues).
CREATE OR REPLACE TEMP TABLE rule_dispositions AS
SELECT * EXCLUDE (rk, lo, hi, rn) FROM (
    SELECT *,
           min(disposition) OVER w AS lo, max(disposition) OVER w AS hi,
           row_number() OVER (PARTITION BY household_key, rule_code ORDER BY source_row) AS rn
    FROM (
        SELECT d.flag_id, d.disposition, d.disposed_on, d.month AS delivered, d.source_row, f.household_key, f.rule_code,
               f.month AS flag_month, f.evidence_hash AS flag_hash, f.episode_start AS flag_episode,
               rank() OVER (PARTITION BY f.household_key, f.rule_code
                            ORDER BY f.month DESC, d.disposed_on DESC NULLS LAST, d.month DESC) AS rk
        FROM std.dispositions d
        JOIN rule_usable u ON u.month = d.month AND u.source = 'dispositions'
        JOIN flags.risk_flags f ON f.flag_id = d.flag_id AND f.fired
        WHERE d.month <= $month AND f.month < $month AND d.disposition IN ('已纳入救助', '核实不符')
          AND f.rule_code IN (SELECT rule_code FROM rule_ran)
    ) WHERE rk = 1
    WINDOW w AS (PARTITION BY household_key, rule_code)
) WHERE lo = hi AND rn = 1;

CREATE OR REPLACE TEMP TABLE rule_current AS
SELECT f.*,
    to_json({'rule': f.rule_code, 'month': $month, 'household_key': f.household_key,
             'figures': json(f.figures), 'records': f.records}) AS evidence,
    md5(f.figures || to_json(list_filter(f.records, lambda r: r.source <> 'registry'))) AS evidence_hash
FROM rule_fired f;

CREATE OR REPLACE TEMP TABLE rule_new_flags AS
WITH j AS (
    SELECT
        coalesce(c.household_key, p.household_key) AS household_key,
        coalesce(c.rule_code, p.rule_code) AS rule_code,
        c.household_key IS NOT NULL AS fired,
        coalesce(p.state IN ('新增', '持续'), false) AS prev_active,
        h.reason AS held_reason,
        c, p, d,
        d.flag_id IS NOT NULL AND p.household_key IS NOT NULL AND (
            (p.state IN ('新增', '持续') AND p.episode_start = d.flag_episode)
            OR (p.suppressed AND p.disposition_flag_id = d.flag_id)
        ) AS disposition_applies
    FROM rule_current c
    FULL JOIN rule_prev_flags p ON p.household_key = c.household_key AND p.rule_code = c.rule_code
    LEFT JOIN rule_held h
        ON h.household_key = coalesce(c.household_key, p.household_key)
       AND h.rule_code = coalesce(c.rule_code, p.rule_code)
    LEFT JOIN rule_dispositions d
        ON d.household_key = coalesce(c.household_key, p.household_key)
       AND d.rule_code = coalesce(c.rule_code, p.rule_code)
), s AS (
    SELECT *,
        fired AND disposition_applies AND (c).evidence_hash = (d).flag_hash AS is_suppressed
    FROM j
    -- a suppressed flag is written while it stays suppressed; a flag that stops
    -- firing is written once (the month it clears)
    WHERE fired OR prev_active
), t AS (
    SELECT *,
        CASE WHEN fired AND NOT is_suppressed THEN CASE WHEN prev_active THEN '持续' ELSE '新增' END
             -- an active flag whose absence is unknown this month is not cleared on it
             WHEN NOT fired AND held_reason IS NOT NULL AND NOT disposition_applies THEN '持续'
             ELSE '已清零' END AS state
    FROM s
)
SELECT
    $month::DATE AS month,
    flags.flag_id($month::DATE, t.rule_code, t.household_key) AS flag_id,
    t.household_key, t.rule_code, k.rule_name, k.severity, k.severity_rank, t.state, t.fired,
    t.is_suppressed AS suppressed,
    CASE WHEN t.state <> '已清零' THEN NULL
         WHEN t.is_suppressed OR (t.disposition_applies AND NOT t.fired) THEN (t.d).disposition
         ELSE '未再触发' END AS closed_by,
    CASE WHEN t.state = '已清零' AND (t.is_suppressed OR (t.disposition_applies AND NOT t.fired)) THEN (t.d).flag_id END
        AS disposition_flag_id,
    coalesce((t.c).county_code, (t.p).county_code) AS county_code,
    coalesce((t.c).township_code, (t.p).township_code) AS township_code,
    coalesce((t.c).village_code, (t.p).village_code) AS village_code,
    CASE WHEN t.fired THEN (t.c).category ELSE coalesce(hh.category, (t.p).category) END AS category,
    coalesce((t.c).evidence, (t.p).evidence) AS evidence,
    CASE WHEN t.state = '持续' AND NOT t.fired THEN '【待核实】' || t.held_reason || '；沿用上次预警：' || (t.p).evidence_text
         WHEN NOT t.fired THEN
             CASE WHEN t.disposition_applies THEN '已处置（' || (t.d).disposition || '），本月未再触发；上次预警：'
                  ELSE '本月未再触发；上次预警：' END || (t.p).evidence_text
         WHEN t.is_suppressed THEN '已处置（' || (t.d).disposition || '），证据未变化，本月不再提示：' || (t.c).evidence_text
         ELSE (t.c).evidence_text END AS evidence_text,
    coalesce((t.c).evidence_hash, (t.p).evidence_hash) AS evidence_hash,
    coalesce((t.c).recommended_action, (t.p).recommended_action) AS recommended_action,
    CASE WHEN t.state = '新增' THEN $month::DATE ELSE (t.p).episode_start END AS episode_start,
    date_diff('month', CASE WHEN t.state = '新增' THEN $month::DATE ELSE (t.p).episode_start END, $month::DATE)::INTEGER
        AS months_open,
    t.prev_active, (t.p).state AS prev_state
FROM t
JOIN rule_catalogue k ON k.rule_code = t.rule_code
LEFT JOIN rule_households hh ON hh.household_id = t.household_key;
"""

_SUMMARY = """
CREATE OR REPLACE TEMP TABLE rule_summary_base AS
WITH act AS (
    SELECT DISTINCT county_code, township_code, village_code, rule_code, household_key
    FROM rule_new_flags WHERE state IN ('新增', '持续')
), rules AS (
    SELECT rule_code, rule_name FROM rule_catalogue WHERE rule_code IN (SELECT rule_code FROM rule_ran)
    UNION ALL SELECT '合计', '全部规则'
), areas AS (
    SELECT DISTINCT county_code, township_code, village_code FROM rule_households
    UNION SELECT DISTINCT county_code, township_code, village_code FROM act
)
SELECT a.county_code, a.township_code, a.village_code, r.rule_code, r.rule_name
FROM areas a CROSS JOIN rules r;
"""


def _summary_sql(level: str) -> str:
    keys = {
        "village": ["county_code", "township_code", "village_code"],
        "township": ["county_code", "township_code"],
        "county": ["county_code"],
    }[level]
    k = ", ".join(keys)
    on = " AND ".join(f"x.{c} IS NOT DISTINCT FROM y.{c}" for c in keys)
    return f"""
    WITH base AS (SELECT DISTINCT {k}, rule_code, rule_name FROM rule_summary_base),
    act AS (
        SELECT {k}, rule_code, household_key FROM rule_new_flags WHERE state IN ('新增', '持续')
        UNION ALL
        SELECT {k}, '合计', household_key FROM rule_new_flags WHERE state IN ('新增', '持续')
    ),
    flagged AS (SELECT {k}, rule_code, count(DISTINCT household_key) AS n FROM act GROUP BY ALL),
    reg AS (SELECT {k}, count(*) AS n FROM rule_households GROUP BY ALL)
    SELECT $month::DATE AS month, {", ".join("x." + c for c in keys)}, x.rule_code, x.rule_name,
           coalesce(f.n, 0)::INTEGER AS flagged_households, coalesce(y.n, 0)::INTEGER AS registry_households,
           CASE WHEN coalesce(y.n, 0) > 0 THEN coalesce(f.n, 0) / y.n END AS share
    FROM base x
    LEFT JOIN reg y ON {on}
    LEFT JOIN flagged f ON {on.replace("y.", "f.")} AND f.rule_code = x.rule_code
    ORDER BY {", ".join("x." + c + " NULLS LAST" for c in keys)}, x.rule_code = '合计', x.rule_code
    """


_FLAG_COLUMNS = (
    "month, flag_id, household_key, rule_code, rule_name, severity, severity_rank, state, fired, suppressed, "
    "closed_by, disposition_flag_id, county_code, township_code, village_code, category, evidence, evidence_text, "
    "evidence_hash, recommended_action, episode_start, months_open"
)


_MONTH_TABLES = (
    "risk_flags",
    "flag_history",
    "rule_runs",
    "month_status",
    "held_back",
    "summary_village",
    "summary_township",
    "summary_county",
)


def _delete_month(con: duckdb.DuckDBPyConnection, month: dt.date) -> None:
    for table in _MONTH_TABLES:
        con.execute(f"DELETE FROM flags.{table} WHERE month = ?", [month])


def _rule_runs(
    month: dt.date, status: list[str], reason: list[str | None], fired: dict[str, tuple[int, int]]
) -> pl.DataFrame:
    """flags.rule_runs rows of `month`, one per catalogue rule; fired: rule -> (flags, active)."""
    return pl.DataFrame(
        {
            "month": [month] * len(RULES),
            "rule_code": list(RULES),
            "rule_name": [r.name for r in RULES.values()],
            "status": status,
            "reason": reason,
            "flags": [fired.get(c, (0, 0))[0] for c in RULES],
            "active": [fired.get(c, (0, 0))[1] for c in RULES],
        },
        schema=polars_schema("flags.rule_runs"),
    )


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE 'rule\\_%' ESCAPE '\\'"
        ).fetchall()
    ]
    for name in names:
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")


def run_rules(con: duckdb.DuckDBPyConnection, month: dt.date, params: Params) -> RuleRunResult:
    """Evaluate every rule for `month`, apply the lifecycle and dispositions and
    replace the month's rows of flags.* atomically. See the module docstring."""
    month = dt.date(month.year, month.month, 1)
    prev = add_months(month, -1)
    result = RuleRunResult(month)
    status = source_usability(con, [month, prev])

    registry_problem = _unusable_reason(status, month, "registry")
    if registry_problem:
        result.withheld = True
        result.withheld_reason = f"低收入人口数据库不可用，本月预警暂缓发布：{registry_problem}"
        result.skipped = dict.fromkeys(RULES, result.withheld_reason)
        runs = _rule_runs(month, ["withheld"] * len(RULES), [result.withheld_reason] * len(RULES), {})
        month_status = pl.DataFrame(
            {
                "month": [month],
                "published": [False],
                "reason": [result.withheld_reason],
                "params_path": [params.source_path],
            },
            schema=polars_schema("flags.month_status"),
        )
        inserts = {"rule_runs": runs, "month_status": month_status}
        replace_many(con, [(f"flags.{t}", inserts.get(t, pl.DataFrame()), "month = ?", [month]) for t in _MONTH_TABLES])
        return result

    try:
        _setup_context(con, month, params)
        ran: list[str] = []
        for rule in RULES.values():
            problems = [_unusable_reason(status, month, s) for s in rule.sources]
            problems += [_unusable_reason(status, prev, s) for s in rule.needs_previous]
            problems = [p for p in problems if p]
            if problems:
                result.skipped[rule.code] = "；".join(problems)
                continue
            _run_rule(con, rule)
            ran.append(rule.code)
        con.execute("CREATE OR REPLACE TEMP TABLE rule_ran AS SELECT unnest(?::VARCHAR[]) AS rule_code", [ran])
        catalogue = ", ".join(f"('{r.code}', '{r.name}', '{r.severity}', {r.severity_rank})" for r in RULES.values())
        _exec(con, _LIFECYCLE.replace("{catalogue}", catalogue), {"month": month})
        _exec(con, _SUMMARY)
        for lvl in ("village", "township", "county"):
            con.execute(f"CREATE OR REPLACE TEMP TABLE rule_summary_{lvl} AS {_summary_sql(lvl)}", {"month": month})

        counts = query_pl(
            con,
            """
            SELECT rule_code, count(*) FILTER (WHERE fired) AS fired,
                   count(*) FILTER (WHERE state IN ('新增', '持续')) AS active
            FROM rule_new_flags GROUP BY rule_code""",
        )
        fired = {r: (f, a) for r, f, a in counts.iter_rows()}
        runs = _rule_runs(
            month, ["ran" if c in ran else "skipped" for c in RULES], [result.skipped.get(c) for c in RULES], fired
        )
        con.register("rule_runs_in", runs.to_arrow())
        con.execute("BEGIN TRANSACTION")
        try:
            _delete_month(con, month)
            con.execute(
                f"INSERT INTO flags.risk_flags ({_FLAG_COLUMNS}) SELECT {_FLAG_COLUMNS} FROM rule_new_flags "
                "ORDER BY severity_rank, county_code, township_code, village_code, household_key, rule_code"
            )
            con.execute("""
                INSERT INTO flags.flag_history
                SELECT month, flag_id, household_key, rule_code,
                       CASE WHEN state = '已清零' THEN prev_state END,
                       state, CASE WHEN state = '新增' THEN '触发' ELSE closed_by END, episode_start, months_open
                FROM rule_new_flags
                WHERE state = '新增' OR (state = '已清零' AND prev_active)
                ORDER BY rule_code, household_key""")
            con.execute("INSERT INTO flags.rule_runs SELECT * FROM rule_runs_in")
            con.execute(
                """
                INSERT INTO flags.held_back
                SELECT $month::DATE, h.rule_code, k.rule_name, h.household_key, h.county_code, h.township_code,
                       h.village_code, h.reason, to_json(h.records), f.state IS NOT NULL AS carried
                FROM rule_held h JOIN rule_catalogue k USING (rule_code)
                LEFT JOIN rule_new_flags f ON f.household_key = h.household_key AND f.rule_code = h.rule_code
                                          AND f.state = '持续' AND NOT f.fired
                ORDER BY h.rule_code, h.household_key""",
                {"month": month},
            )
            con.execute("INSERT INTO flags.month_status VALUES (?, true, NULL, ?)", [month, params.source_path])
            for lvl in ("village", "township", "county"):
                con.execute(f"INSERT INTO flags.summary_{lvl} SELECT * FROM rule_summary_{lvl}")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("rule_runs_in")

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
