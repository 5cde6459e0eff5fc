-- The month's flags with their lifecycle state (rules.md "Lifecycle"): this month's fired
-- rows (rule_fired) against the previous run's flags (rule_prev_flags), rows held back
-- (rule_held) and closing dispositions (rule_dispositions).
--   新增  fires and was not active; 持续 fires and was active, or was active and its
--   absence is unknown this month (held back); 已清零 stops firing, or a disposition closes
--   it; a suppressed flag (核实不符 with unchanged evidence) is written as 已清零 each month.
-- Rule names and severities come from rule_catalogue (the rule files' headers).
-- Reads the variable month.
CREATE OR REPLACE TEMP TABLE rule_current AS
SELECT f.*,
    to_json({'rule': f.rule_code, 'month': getvariable('month'), 'household_key': f.household_key,
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
    getvariable('month')::DATE AS month,
    flags.flag_id(getvariable('month')::DATE, t.rule_code, t.household_key) AS flag_id,
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
    CASE WHEN t.state = '新增' THEN getvariable('month')::DATE ELSE (t.p).episode_start END AS episode_start,
    date_diff('month', CASE WHEN t.state = '新增' THEN getvariable('month')::DATE ELSE (t.p).episode_start END,
              getvariable('month')::DATE)::INTEGER AS months_open,
    t.prev_active, (t.p).state AS prev_state
FROM t
JOIN rule_catalogue k ON k.rule_code = t.rule_code
LEFT JOIN rule_households hh ON hh.household_id = t.household_key;
