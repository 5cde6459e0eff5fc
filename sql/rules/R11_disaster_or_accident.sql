/*
code: R11
name: 突发灾害意外
severity: 高
sources: [civil_affairs, rural_revitalization]
previous: []
action: 临时救助（急难）
params: []
description: >
  A linked 受灾救助 event in M, or a linked 乡村振兴 member (M's snapshot) with 风险类型 in
  {因灾, 因意外事故} and 风险消除 = 否. Such a record waiting in the review band with a member as
  its candidate is not evidence until a clerk links it: a household with nothing else is held
  back (待核实, with the reason), not flagged; beside a linked one it is named.
*/
WITH c AS (SELECT * FROM rule_ctx),
ev AS (
    SELECT e.household_id, rec('civil_affairs', e.month, e.source_row) AS r, 0 AS k0, e.source_row AS k1,
           '成员' || coalesce(registry_name(e.month, e.registry_row), '') || '受灾救助' || coalesce(' ' || yuan(e.amount) || ' 元', '')
               || '（' || coalesce(strftime(e.event_date, '%Y-%m-%d'), '日期不详') || '）' AS what
    FROM linked_civil_affairs e
    CROSS JOIN c
    WHERE e.month = c.month AND e.event_type = '受灾救助'
    UNION ALL
    SELECT r.household_id, rec('rural_revitalization', r.month, r.source_row), 1, r.source_row,
           '成员' || coalesce(registry_name(r.month, r.registry_row), '') || '乡村振兴监测风险类型' || r.risk_type || '，风险未消除'
    FROM linked_rural_revitalization r
    CROSS JOIN c
    WHERE r.month = c.month AND r.risk_type IN ('因灾', '因意外事故') AND NOT r.risk_cleared
    UNION ALL
    -- waiting for a clerk: the member may be the candidate (named, not yet evidence on its own)
    SELECT e.household_id, rec('civil_affairs', e.month, e.source_row), 2, e.source_row,
           '成员' || coalesce(g.name, '') || '的受灾救助记录待人工核对匹配'
    FROM pending_civil_affairs e
    LEFT JOIN rule_registry g USING (person_key)
    CROSS JOIN c
    WHERE e.month = c.month AND e.event_type = '受灾救助'
    UNION ALL
    SELECT r.household_id, rec('rural_revitalization', r.month, r.source_row), 2, r.source_row,
           '成员' || coalesce(g.name, '') || '的乡村振兴因灾/意外风险记录待人工核对匹配'
    FROM pending_rural_revitalization r
    LEFT JOIN rule_registry g USING (person_key)
    CROSS JOIN c
    WHERE r.month = c.month AND r.risk_type IN ('因灾', '因意外事故') AND NOT r.risk_cleared
), agg AS (
    SELECT household_id, list(r) AS recs, string_agg(what, '；' ORDER BY k0, k1) AS whats,
           count(*) FILTER (WHERE k0 = 0) AS n_relief, count(*) FILTER (WHERE k0 = 1) AS n_rr,
           count(*) FILTER (WHERE k0 = 2) AS n_pending
    FROM ev
    GROUP BY household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], agg.recs) AS records,
    to_json({'disaster_relief_events': agg.n_relief, 'rr_disaster_members': agg.n_rr,
             'pending_records': agg.n_pending}) AS figures,
    agg.whats AS evidence_text,
    NULL AS action_extra,
    CASE WHEN agg.n_relief + agg.n_rr = 0 THEN '受灾意外待核实：' || agg.whats END AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM agg
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
