/*
code: R07
name: 停保后仍困难
severity: 高
sources: [civil_affairs]
previous: []
action: 复核停保决定或认定低保边缘
params: [dibao_standard, edge_multiplier]
description: >
  A linked member has a 低保停发 / 特困终止 event in M and the household's per-capita
  monthly income is still below edge_multiplier × S. A stop event of M in the review band
  whose candidate is a member (and no linked one in the household) holds the household
  back (待核实) with the reason, as R06 does with a death.
*/
WITH c AS (SELECT * FROM rule_ctx),
events AS (  -- M's stops: linked, and waiting in review with a member as candidate
    SELECT e.household_id, e.month, e.source_row, e.event_type, e.event_date,
           registry_name(e.month, e.registry_row) AS member, e.pending
    FROM pending_or_linked_civil_affairs e
    CROSS JOIN c
    WHERE e.month = c.month AND e.event_type IN ('低保停发', '特困终止')
),
stops AS (
    SELECT e.household_id, list(rec('civil_affairs', e.month, e.source_row) ORDER BY e.pending, e.source_row) AS recs,
           string_agg('成员' || coalesce(e.member, '')
                      || CASE WHEN e.pending THEN '的' || e.event_type || '记录' ELSE e.event_type END
                      || '（' || coalesce(strftime(e.event_date, '%Y-%m-%d'), '日期不详') || '）'
                      || CASE WHEN e.pending THEN '待人工核对匹配' ELSE '' END,
                      '；' ORDER BY e.pending, e.source_row) AS whats,
           count(*) FILTER (WHERE NOT e.pending) AS n_events,
           count(*) FILTER (WHERE e.pending) AS n_pending
    FROM events e
    GROUP BY e.household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], s.recs) AS records,
    to_json({'stop_events': s.n_events, 'pending_stop_events': s.n_pending, 'per_capita_monthly_income': round(hh.pc, 2),
             'household_annual_income': hh.income, 'household_size': hh.size,
             'dibao_standard': hh.s, 'edge_line': c.edge_multiplier * hh.s, 'category': hh.category}) AS figures,
    s.whats || '；停保后家庭人均月收入 ' || yuan(round(hh.pc, 2)) || ' 元，低于低保边缘线 '
        || yuan(c.edge_multiplier * hh.s) || ' 元' AS evidence_text,
    NULL AS action_extra,
    CASE WHEN s.n_events = 0 THEN '停保待核实：' || s.whats END AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM stops s
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE hh.pc < c.edge_multiplier * hh.s
