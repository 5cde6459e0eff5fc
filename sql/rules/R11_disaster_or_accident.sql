/*
code: R11
name: 突发灾害意外
severity: 高
sources: [civil_affairs, rural_revitalization]
previous: []
*/
-- R11 突发灾害意外: a linked 受灾救助 event in M, or a linked 乡村振兴 member (M's
-- snapshot) with 风险类型 in {因灾, 因意外事故} and 风险消除 = 否.
WITH c AS (SELECT * FROM rule_ctx),
ev AS (
    SELECT l.household_id, rec('civil_affairs', e.month, e.source_row) AS r, 0 AS k0, e.source_row AS k1,
           '成员' || coalesce(l.name, '') || '受灾救助' || coalesce(' ' || yuan(e.amount) || ' 元', '')
               || '（' || coalesce(strftime(e.event_date, '%Y-%m-%d'), '日期不详') || '）' AS what
    FROM std.civil_affairs e
    JOIN rule_links l ON l.source = 'civil_affairs' AND l.month = e.month AND l.source_row = e.source_row
    CROSS JOIN c
    WHERE e.month = c.month AND e.event_type = '受灾救助'
    UNION ALL
    SELECT l.household_id, rec('rural_revitalization', r.month, r.source_row), 1, r.source_row,
           '成员' || coalesce(l.name, '') || '乡村振兴监测风险类型' || r.risk_type || '，风险未消除'
    FROM std.rural_revitalization r
    JOIN rule_links l ON l.source = 'rural_revitalization' AND l.month = r.month AND l.source_row = r.source_row
    CROSS JOIN c
    WHERE r.month = c.month AND r.risk_type IN ('因灾', '因意外事故') AND NOT r.risk_cleared
), agg AS (
    SELECT household_id, list(r) AS recs, string_agg(what, '；' ORDER BY k0, k1) AS whats,
           count(*) FILTER (WHERE k0 = 0) AS n_relief, count(*) FILTER (WHERE k0 = 1) AS n_rr
    FROM ev
    GROUP BY household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], agg.recs) AS records,
    to_json({'disaster_relief_events': agg.n_relief, 'rr_disaster_members': agg.n_rr}) AS figures,
    agg.whats AS evidence_text,
    '临时救助（急难）' AS recommended_action
FROM agg
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
