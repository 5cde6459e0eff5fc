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
  monthly income is still below edge_multiplier × S.
*/
WITH c AS (SELECT * FROM rule_ctx),
stops AS (
    SELECT e.household_id, list(rec('civil_affairs', e.month, e.source_row)) AS recs,
           string_agg('成员' || coalesce(registry_name(e.month, e.registry_row), '') || e.event_type || '（' || coalesce(strftime(e.event_date, '%Y-%m-%d'), '日期不详') || '）',
                      '；' ORDER BY e.source_row) AS whats,
           count(*) AS n_events
    FROM linked_civil_affairs e
    CROSS JOIN c
    WHERE e.month = c.month AND e.event_type IN ('低保停发', '特困终止')
    GROUP BY e.household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], s.recs) AS records,
    to_json({'stop_events': s.n_events, 'per_capita_monthly_income': round(hh.pc, 2),
             'household_annual_income': hh.income, 'household_size': hh.size,
             'dibao_standard': hh.s, 'edge_line': c.edge_multiplier * hh.s, 'category': hh.category}) AS figures,
    s.whats || '；停保后家庭人均月收入 ' || yuan(round(hh.pc, 2)) || ' 元，低于低保边缘线 '
        || yuan(c.edge_multiplier * hh.s) || ' 元' AS evidence_text,
    NULL AS action_extra,
    NULL AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM stops s
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE hh.pc < c.edge_multiplier * hh.s
