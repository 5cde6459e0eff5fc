/*
code: R05
name: 失业或断缴
severity: 中
sources: [human_resources]
previous: [human_resources, registry]
action: 就业救助
params: []
description: >
  A working-age (16..59 on the last day of M) linked member has 失业登记 in M, or had 社保缴费
  in M-1 and has neither 社保缴费 nor 就业登记 in M; identity across months is the registry
  person_key of the linked person. The lapse branch reads an absence: while a human_resources
  record of M waits in the review band with this person as its candidate, the absence is
  unknown and the household is held back (held_reason), not flagged. So is a household whose
  only evidence is a 失业登记 of M waiting in the review band: not evidence until a clerk links it,
  and one whose M-1 社保缴费 account (same name, amount and base; a job change keeps the base)
  comes again in M on a record that links to nobody (unlinked_human_resources): without a valid
  ID it may be the member's (at a prefecture such name-only records of common names score below
  the review band); under a valid ID outside the registry it is someone else's account, and an
  M-1 link on no whole ID (blank or Excel-mangled) was most likely that person's record. Either
  way M says nothing about the member.
*/
WITH hr AS (
    SELECT h.month, h.source_row, h.record_type, h.person_key, h.link_id_level, h.name, h.amount, h.monthly_wage
    FROM linked_human_resources h
    WHERE h.month IN ((SELECT month FROM rule_ctx), (SELECT prev_month FROM rule_ctx))
), c AS (SELECT * FROM rule_ctx),
pending AS (
    SELECT p.person_key, list(rec('human_resources', p.month, p.source_row)) AS recs
    FROM pending_human_resources p, c WHERE p.month = c.month
    GROUP BY p.person_key
), pending_unemployed AS (
    SELECT p.person_key, list(rec('human_resources', p.month, p.source_row)) AS recs
    FROM pending_human_resources p, c WHERE p.month = c.month AND p.record_type = '失业登记'
    GROUP BY p.person_key
),
unemployed AS (
    SELECT person_key, list(rec('human_resources', hr.month, hr.source_row)) AS recs, 'unemployed' AS why
    FROM hr, c WHERE hr.month = c.month AND record_type = '失业登记'
    GROUP BY person_key
), still_working AS (
    SELECT DISTINCT person_key FROM hr, c WHERE hr.month = c.month AND record_type IN ('社保缴费', '就业登记')
), lapsed AS (
    SELECT person_key, list(rec('human_resources', hr.month, hr.source_row)) AS recs, 'lapsed' AS why
    FROM hr, c WHERE hr.month = c.prev_month AND record_type = '社保缴费'
      AND person_key NOT IN (SELECT person_key FROM still_working)
    GROUP BY person_key
), same_account AS (
    SELECT hr.person_key,
           list(rec('human_resources', n.month, n.source_row)) FILTER (WHERE n.id_number IS NULL) AS recs,
           bool_or(n.id_number IS NULL) AS unplaced,
           bool_or(n.id_number IS NOT NULL AND hr.link_id_level IN ('missing', 'prefix')) AS moved
    FROM hr, c, unlinked_human_resources n
    WHERE hr.month = c.prev_month AND hr.record_type = '社保缴费' AND n.record_type = '社保缴费'
      AND n.name = hr.name AND n.amount IS NOT DISTINCT FROM hr.amount
      AND n.monthly_wage IS NOT DISTINCT FROM hr.monthly_wage
    GROUP BY hr.person_key
), cand AS (
    SELECT * FROM unemployed
    UNION ALL
    SELECT l.person_key, list_concat(l.recs, coalesce(p.recs, a.recs, [])),
           CASE WHEN p.person_key IS NOT NULL THEN 'lapsed_pending'
                WHEN a.moved THEN 'lapsed_moved'
                WHEN a.unplaced THEN 'lapsed_unlinked'
                ELSE 'lapsed' END
    FROM lapsed l LEFT JOIN pending p USING (person_key) LEFT JOIN same_account a USING (person_key)
    UNION ALL
    SELECT person_key, recs, 'unemployed_pending'
    FROM pending_unemployed
    WHERE person_key NOT IN (SELECT person_key FROM unemployed) AND person_key NOT IN (SELECT person_key FROM lapsed)
), hit AS (
    SELECT r.household_id, r.source_row, r.name, r.age, cand.why, cand.recs
    FROM cand
    JOIN rule_registry r USING (person_key)
    WHERE r.age BETWEEN 16 AND 59
), agg AS (
    SELECT household_id,
           flatten(list(list_concat([rec('registry', (SELECT month FROM rule_ctx), source_row)], recs))) AS recs,
           string_agg('成员' || coalesce(name, '') || '（' || age || '岁）'
                      || CASE WHEN why = 'unemployed' THEN ym((SELECT month FROM rule_ctx)) || '失业登记'
                              WHEN why = 'lapsed' THEN ym((SELECT prev_month FROM rule_ctx)) || '有社保缴费，'
                                   || ym((SELECT month FROM rule_ctx)) || '无社保缴费或就业登记'
                              WHEN why = 'unemployed_pending' THEN '的' || ym((SELECT month FROM rule_ctx))
                                   || '失业登记记录待人工核对匹配'
                              WHEN why = 'lapsed_moved' THEN ym((SELECT prev_month FROM rule_ctx))
                                   || '的社保缴费未凭身份证号匹配，该缴费记录' || ym((SELECT month FROM rule_ctx))
                                   || '以他人身份证号出现，上月匹配可能有误'
                              WHEN why = 'lapsed_unlinked' THEN ym((SELECT prev_month FROM rule_ctx))
                                   || '有社保缴费；' || ym((SELECT month FROM rule_ctx))
                                   || '有同名、同缴费基数的社保缴费记录（无有效身份证号）未能匹配，待核实是否本人'
                              ELSE ym((SELECT prev_month FROM rule_ctx)) || '有社保缴费，'
                                   || ym((SELECT month FROM rule_ctx)) || '的人社记录待人工核对匹配' END,
                      '；' ORDER BY why DESC, source_row) AS whats,
           count(DISTINCT source_row) FILTER (WHERE why = 'unemployed') AS n_unemployed,
           count(DISTINCT source_row) FILTER (WHERE why = 'lapsed') AS n_lapsed,
           count(DISTINCT source_row) FILTER (
               WHERE why IN ('lapsed_pending', 'unemployed_pending', 'lapsed_moved', 'lapsed_unlinked')) AS n_pending
    FROM hit
    GROUP BY household_id
)
SELECT
    hh.household_id AS household_key,
    agg.recs AS records,
    to_json({'unemployed_members': agg.n_unemployed, 'lapsed_members': agg.n_lapsed,
             'pending_members': agg.n_pending}) AS figures,
    agg.whats AS evidence_text,
    NULL AS action_extra,
    CASE WHEN agg.n_unemployed + agg.n_lapsed = 0
         THEN '失业或断缴待核实：' || agg.whats END AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM agg
JOIN rule_households hh USING (household_id)
