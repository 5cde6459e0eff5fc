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
  救助类别 is neither 低保 nor 特困. 临时救助 records in the review band whose candidate is a
  member make the count unknown: when the linked events alone fall short and the pending ones
  would reach the threshold, the household is held back (待核实, with the reason), not flagged.
*/
WITH c AS (
    SELECT *, temp_assistance_repeat.count AS rep_count, temp_assistance_repeat.months AS rep_months,
           (month - to_months(temp_assistance_repeat.months - 1))::DATE AS rep_start
    FROM rule_ctx
),
ev AS (  -- a record waiting for a clerk leaves the count unknown while it may be the member's
    SELECT e.household_id, e.month, e.source_row, e.amount, e.pending,
           CASE WHEN e.pending THEN registry_name(e.month, e.registry_row) END AS member
    FROM pending_or_linked_civil_affairs e
    CROSS JOIN c
    WHERE e.event_type = '临时救助' AND e.month BETWEEN c.rep_start AND c.month
),
t AS (
    SELECT household_id, count(*) FILTER (WHERE NOT pending) AS n_events,
           count(*) FILTER (WHERE pending) AS n_pending,
           string_agg(DISTINCT member, '、' ORDER BY member) FILTER (WHERE pending) AS pending_members,
           round(sum(amount) FILTER (WHERE NOT pending), 2) AS amount,
           list(rec('civil_affairs', month, source_row)) FILTER (WHERE NOT pending) AS recs,
           list(rec('civil_affairs', month, source_row)) AS all_recs
    FROM ev
    GROUP BY household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)],
                CASE WHEN t.n_events >= c.rep_count THEN coalesce(t.recs, []) ELSE t.all_recs END) AS records,
    to_json({'temporary_assistance_events': t.n_events, 'amount': t.amount, 'window_months': c.rep_months,
             'threshold': c.rep_count, 'category': hh.category, 'pending_events': t.n_pending}) AS figures,
    '近' || c.rep_months || '个月临时救助 ' || t.n_events || ' 次' || coalesce('（共 ' || yuan(t.amount) || ' 元）', '')
        || '，救助类别：' || coalesce(hh.category, '未填') AS evidence_text,
    NULL AS action_extra,
    CASE WHEN t.n_events < c.rep_count
         THEN '临时救助次数待核实：近' || c.rep_months || '个月已匹配 ' || t.n_events || ' 次，另有'
              || coalesce('成员' || t.pending_members || '的', '') || ' ' || t.n_pending
              || ' 条临时救助记录待人工核对匹配' END AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM t
JOIN rule_households hh USING (household_id)
CROSS JOIN c
WHERE t.n_events + t.n_pending >= c.rep_count
  AND coalesce(hh.category, '') NOT IN ('低保', '特困')
