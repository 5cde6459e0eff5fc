-- Risk flags (rules.md, outputs.md): the month's flags with their lifecycle,
-- the state changes (history, for time-to-clear), rule runs and summaries.
-- Written by lowincome/rules.py, one month at a time, in one transaction.
CREATE SCHEMA IF NOT EXISTS flags;

-- One row per (month, household, rule) that fires in the month, plus one 已清零
-- row for the month a flag stops being active.
--   state      新增 (first active month) / 持续 (active, active the month before) /
--              已清零 (not active; written the month it stops firing or is closed
--              by a disposition, and for months a fired flag stays suppressed)
--   fired      the rule's condition holds in the month
--   suppressed fired, but hidden from caseworkers by a 核实不符 / 已纳入救助
--              disposition whose evidence is unchanged
CREATE TABLE IF NOT EXISTS flags.risk_flags (
    month DATE NOT NULL,
    flag_id VARCHAR NOT NULL,            -- flags.flag_id(month, rule_code, household_key), 35_flag_id.sql
    household_key VARCHAR NOT NULL,      -- registry 户编号, or RR:<监测户编号> (R08)
    rule_code VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,           -- 高 / 中 / 低
    severity_rank INTEGER NOT NULL,      -- 1 = 高, 2 = 中, 3 = 低
    state VARCHAR NOT NULL,              -- 新增 / 持续 / 已清零
    fired BOOLEAN NOT NULL,
    suppressed BOOLEAN NOT NULL,
    closed_by VARCHAR,                   -- 已清零 rows: 未再触发 / 已纳入救助 / 核实不符
    disposition_flag_id VARCHAR,         -- the disposed flag that closes / suppresses this one
    county_code VARCHAR,
    township_code VARCHAR,
    village_code VARCHAR,
    category VARCHAR,                    -- the household's 救助类别 in the month (NULL for RR:)
    evidence VARCHAR NOT NULL,           -- JSON {"rule", "figures", "records": [{source, month, source_row}]}
    evidence_text VARCHAR NOT NULL,      -- the evidence in one Chinese sentence
    evidence_hash VARCHAR NOT NULL,      -- md5 of figures + agency records: "evidence changed?"
    recommended_action VARCHAR NOT NULL,
    episode_start DATE NOT NULL,         -- first month of the current 新增…已清零 episode
    months_open INTEGER NOT NULL         -- months since episode_start (0 in the 新增 month)
);

-- Every state change: 新增 when an episode opens, 已清零 when it ends (with how
-- long it was open), so time-to-clear can be reported.
CREATE TABLE IF NOT EXISTS flags.flag_history (
    month DATE NOT NULL,
    flag_id VARCHAR NOT NULL,
    household_key VARCHAR NOT NULL,
    rule_code VARCHAR NOT NULL,
    from_state VARCHAR,                  -- NULL for a new episode
    to_state VARCHAR NOT NULL,           -- 新增 / 已清零
    reason VARCHAR NOT NULL,             -- 触发 / 未再触发 / 已纳入救助 / 核实不符
    episode_start DATE NOT NULL,
    months_open INTEGER NOT NULL
);

-- Which rules ran for the month, which were skipped and why.
CREATE TABLE IF NOT EXISTS flags.rule_runs (
    month DATE NOT NULL,
    rule_code VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,             -- ran / skipped / withheld
    reason VARCHAR,
    flags INTEGER NOT NULL,              -- rows the rule fired (incl. suppressed)
    active INTEGER NOT NULL              -- of which shown to caseworkers (新增 + 持续)
);

-- Whether the month's flags are published (withheld when the registry is unusable).
CREATE TABLE IF NOT EXISTS flags.month_status (
    month DATE NOT NULL,
    published BOOLEAN NOT NULL,
    reason VARCHAR,
    params_path VARCHAR
);

-- 村表 / 乡镇表 / 县表: flagged households (active flags) and their share of the
-- registry households, per rule and for all rules (rule_code = '合计').
CREATE TABLE IF NOT EXISTS flags.summary_village (
    month DATE NOT NULL,
    county_code VARCHAR,
    township_code VARCHAR,
    village_code VARCHAR,
    rule_code VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL,
    flagged_households INTEGER NOT NULL,
    registry_households INTEGER NOT NULL,
    share DOUBLE                          -- flagged / registry households (NULL when none)
);
CREATE TABLE IF NOT EXISTS flags.summary_township (
    month DATE NOT NULL,
    county_code VARCHAR,
    township_code VARCHAR,
    rule_code VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL,
    flagged_households INTEGER NOT NULL,
    registry_households INTEGER NOT NULL,
    share DOUBLE
);
CREATE TABLE IF NOT EXISTS flags.summary_county (
    month DATE NOT NULL,
    county_code VARCHAR,
    rule_code VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL,
    flagged_households INTEGER NOT NULL,
    registry_households INTEGER NOT NULL,
    share DOUBLE
);

-- Time to clear, per rule and month of clearing.
CREATE OR REPLACE VIEW flags.time_to_clear AS
SELECT month, rule_code, reason, count(*) AS cleared, avg(months_open) AS mean_months_open,
       max(months_open) AS max_months_open
FROM flags.flag_history
WHERE to_state = '已清零'
GROUP BY month, rule_code, reason;

-- Flags held back: a rule would fire, or would not, on a record of the household
-- that waits in the linkage review band (an absence R05's lapse branch or R08 reads,
-- an event or sum R01, R04, R06, R07, R10, R11 read), so the outcome is unknown. Not raised; listed for caseworkers as 待核实. A flag that
-- was active stays 持续 (carried = true) instead of being cleared on an unknown.
CREATE TABLE IF NOT EXISTS flags.held_back (
    month DATE NOT NULL,
    rule_code VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL,
    household_key VARCHAR NOT NULL,
    county_code VARCHAR,
    township_code VARCHAR,
    village_code VARCHAR,
    reason VARCHAR NOT NULL,             -- in Chinese: which record waits for review
    records VARCHAR NOT NULL,            -- JSON [{source, month, source_row}] incl. the pending records
    carried BOOLEAN NOT NULL,            -- an active flag kept 持续 this month
    category VARCHAR                     -- the household's 救助类别 in the month (NULL for RR:)
);
-- warehouses created before the column existed
ALTER TABLE flags.held_back ADD COLUMN IF NOT EXISTS category VARCHAR;

-- 待核实 as the township workbooks and the auditor's report list it: the held rows that are
-- not an active flag already (a carried flag is listed as 持续 in 预警清单).
CREATE OR REPLACE VIEW flags.to_verify AS
SELECT * FROM flags.held_back WHERE NOT carried;
