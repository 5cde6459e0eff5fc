/*
code: R10
name: 多次临时救助
severity: 中
sources: [civil_affairs]
previous: []
action: 评估纳入低保
params: [temp_assistance_repeat]
description: >
  At least temp_assistance_repeat.count 临时救助 events for the household's linked members in
  the trailing temp_assistance_repeat.months months (usable civil_affairs months), and its
  救助类别 is neither 低保 nor 特困.
*/
WITH c AS (
    SELECT *, temp_assistance_repeat.count AS rep_count, temp_assistance_repeat.months AS rep_months,
           (month - to_months(temp_assistance_repeat.months - 1))::DATE AS rep_start
    FROM rule_ctx
),
t AS (
    SELECT e.household_id, count(*) AS n_events, sum(e.amount) AS amount,
           list(rec('civil_affairs', e.month, e.source_row)) AS recs
    FROM linked_civil_affairs e
    CROSS JOIN c
    WHERE e.event_type = '临时救助' AND e.month BETWEEN c.rep_start AND c.month
    GROUP BY e.household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], t.recs) AS records,
    to_json({'temporary_assistance_events': t.n_events, 'amount': t.amount, 'window_months': c.rep_months,
             'threshold': c.rep_count, 'category': hh.category}) AS figures,
    '近' || c.rep_months || '个月临时救助 ' || t.n_events || ' 次' || coalesce('（共 ' || yuan(t.amount) || ' 元）', '')
        || '，救助类别：' || coalesce(hh.category, '未填') AS evidence_text,
    NULL AS action_extra,
    NULL AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM t
JOIN rule_households hh USING (household_id)
CROSS JOIN c
WHERE t.n_events >= c.rep_count
  AND coalesce(hh.category, '') NOT IN ('低保', '特困')
