-- A published month: this run's flags, their state changes, rule runs, held-back rows,
-- month status and summaries into flags.*, after 10_clear_month.sql in one transaction.
-- Reads the variables month and params_path and the temp tables rule_new_flags,
-- rule_runs_out, rule_held, rule_catalogue and rule_summary.
INSERT INTO flags.risk_flags (
    month, flag_id, household_key, rule_code, rule_name, severity, severity_rank, state, fired, suppressed,
    closed_by, disposition_flag_id, county_code, township_code, village_code, category, evidence, evidence_text,
    evidence_hash, recommended_action, episode_start, months_open)
SELECT month, flag_id, household_key, rule_code, rule_name, severity, severity_rank, state, fired, suppressed,
    closed_by, disposition_flag_id, county_code, township_code, village_code, category, evidence, evidence_text,
    evidence_hash, recommended_action, episode_start, months_open
FROM rule_new_flags
ORDER BY severity_rank, county_code, township_code, village_code, household_key, rule_code;

-- every state change: an episode opens (新增) or an active flag ends (已清零)
INSERT INTO flags.flag_history (
    month, flag_id, household_key, rule_code, from_state, to_state, reason, episode_start, months_open)
SELECT month, flag_id, household_key, rule_code,
       CASE WHEN state = '已清零' THEN prev_state END,
       state, CASE WHEN state = '新增' THEN '触发' ELSE closed_by END, episode_start, months_open
FROM rule_new_flags
WHERE state = '新增' OR (state = '已清零' AND prev_active)
ORDER BY rule_code, household_key;

INSERT INTO flags.rule_runs (month, rule_code, rule_name, status, reason, flags, active)
SELECT month, rule_code, rule_name, status, reason, flags, active FROM rule_runs_out ORDER BY rule_code;

INSERT INTO flags.held_back (
    month, rule_code, rule_name, household_key, county_code, township_code, village_code, reason, records, carried,
    category)
SELECT getvariable('month')::DATE, h.rule_code, k.rule_name, h.household_key, h.county_code, h.township_code,
       h.village_code, h.reason, to_json(h.records), f.state IS NOT NULL AS carried, h.category
FROM rule_held h JOIN rule_catalogue k USING (rule_code)
LEFT JOIN rule_new_flags f ON f.household_key = h.household_key AND f.rule_code = h.rule_code
                          AND f.state = '持续' AND NOT f.fired
ORDER BY h.rule_code, h.household_key;

INSERT INTO flags.month_status (month, published, reason, params_path)
VALUES (getvariable('month')::DATE, true, NULL, getvariable('params_path'));

INSERT INTO flags.summary_village (
    month, county_code, township_code, village_code, rule_code, rule_name, flagged_households,
    registry_households, share)
SELECT month, county_code, township_code, village_code, rule_code, rule_name, flagged_households,
    registry_households, share
FROM rule_summary WHERE level = 'village'
ORDER BY county_code NULLS LAST, township_code NULLS LAST, village_code NULLS LAST, rule_code = '合计', rule_code;

INSERT INTO flags.summary_township (
    month, county_code, township_code, rule_code, rule_name, flagged_households, registry_households, share)
SELECT month, county_code, township_code, rule_code, rule_name, flagged_households, registry_households, share
FROM rule_summary WHERE level = 'township'
ORDER BY county_code NULLS LAST, township_code NULLS LAST, rule_code = '合计', rule_code;

INSERT INTO flags.summary_county (
    month, county_code, rule_code, rule_name, flagged_households, registry_households, share)
SELECT month, county_code, rule_code, rule_name, flagged_households, registry_households, share
FROM rule_summary WHERE level = 'county'
ORDER BY county_code NULLS LAST, rule_code = '合计', rule_code;
