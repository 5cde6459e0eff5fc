/*
code: R08
name: 防返贫监测未入库
severity: 中
sources: [rural_revitalization]
previous: []
action: 录入低收入人口数据库
params: []
description: >
  A 乡村振兴 household (M's snapshot) with 风险消除 = 否 none of whose members has an accepted
  link to a registry person; keyed RR:<监测户编号>, its region from its own rows. Review-band
  links do not count as links, but they make "none links" unknown: such a household is held
  back (held_reason), not flagged, until a clerk decides.
*/
WITH c AS (SELECT * FROM rule_ctx),
rr AS (
    SELECT r.*, l.source_row IS NOT NULL AS linked, p.source_row IS NOT NULL AS pending
    FROM std.rural_revitalization r
    CROSS JOIN c
    LEFT JOIN linked_rural_revitalization l ON l.month = r.month AND l.source_row = r.source_row
    LEFT JOIN pending_rural_revitalization p ON p.month = r.month AND p.source_row = r.source_row
    WHERE r.month = c.month AND r.rr_household_id IS NOT NULL
), agg AS (
    SELECT rr_household_id,
           first(region_code ORDER BY relation <> '户主', source_row) FILTER (WHERE village_code IS NOT NULL) AS region12,
           first(county_code ORDER BY relation <> '户主', source_row) FILTER (WHERE county_code IS NOT NULL) AS county,
           first(risk_type ORDER BY relation <> '户主', source_row) FILTER (WHERE risk_type IS NOT NULL) AS risk_type,
           first(monitor_type ORDER BY relation <> '户主', source_row) FILTER (WHERE monitor_type IS NOT NULL) AS monitor_type,
           count(*) AS members,
           count(*) FILTER (WHERE pending) AS pending_members,
           list(rec('rural_revitalization', month, source_row)) AS recs
    FROM rr
    GROUP BY rr_household_id
    HAVING bool_or(NOT risk_cleared) AND NOT bool_or(linked)
)
SELECT
    'RR:' || rr_household_id AS household_key,
    recs AS records,
    to_json({'rr_household_id': rr_household_id, 'members': members, 'linked_members': 0,
             'pending_members': pending_members,
             'risk_type': risk_type, 'monitor_type': monitor_type, 'risk_cleared': false}) AS figures,
    '乡村振兴监测户 ' || rr_household_id || '（' || coalesce(monitor_type, '监测对象') || '，风险类型：'
        || coalesce(risk_type, '未填') || '，' || members || ' 人）风险未消除，无成员在低收入人口数据库中' AS evidence_text,
    NULL AS action_extra,
    CASE WHEN pending_members > 0
         THEN '是否入库待核实：' || pending_members || ' 名成员与数据库人员的匹配待人工核对' END AS held_reason,
    coalesce(county, substr(region12, 1, 6)) AS county_code,
    substr(region12, 1, 9) AS township_code,
    region12 AS village_code,
    NULL AS category
FROM agg
