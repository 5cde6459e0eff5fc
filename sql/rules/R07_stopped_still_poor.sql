/*
code: R07
name: 停保后仍困难
severity: 高
sources: [civil_affairs]
previous: []
*/
-- R07 停保后仍困难: a linked 低保停发 / 特困终止 event in M and pc < edge_multiplier × S.
WITH c AS (SELECT * FROM rule_ctx),
stops AS (
    SELECT l.household_id, list(rec('civil_affairs', e.month, e.source_row)) AS recs,
           string_agg('成员' || coalesce(l.name, '') || e.event_type || '（' || coalesce(strftime(e.event_date, '%Y-%m-%d'), '日期不详') || '）',
                      '；' ORDER BY e.source_row) AS whats,
           count(*) AS n_events
    FROM std.civil_affairs e
    JOIN rule_links l ON l.source = 'civil_affairs' AND l.month = e.month AND l.source_row = e.source_row
    CROSS JOIN c
    WHERE e.month = c.month AND e.event_type IN ('低保停发', '特困终止')
    GROUP BY l.household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], s.recs) AS records,
    to_json({'stop_events': s.n_events, 'per_capita_monthly_income': round(hh.pc, 2),
             'household_annual_income': hh.income, 'household_size': hh.size,
             'dibao_standard': hh.s, 'edge_line': c.edge * hh.s, 'category': hh.category}) AS figures,
    s.whats || '；停保后家庭人均月收入 ' || yuan(round(hh.pc, 2)) || ' 元，低于低保边缘线 ' || yuan(c.edge * hh.s) || ' 元' AS evidence_text,
    '复核停保决定或认定低保边缘' AS recommended_action
FROM stops s
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE hh.pc < c.edge * hh.s
