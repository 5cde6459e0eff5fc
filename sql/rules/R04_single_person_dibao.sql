/*
code: R04
name: 单人保候选
severity: 中
sources: [health_insurance]
previous: []
action: 重残重病参照单人户纳入低保
params: [major_disease_icd10_prefixes]
description: >
  救助类别 = 低保边缘 and a member (in M's registry) has 残疾等级 一级/二级, or 三级 with
  残疾类别 智力/精神, or a linked member has a major-disease claim (主诊断编码 starting with a
  configured prefix) in the trailing 12 months. A major-disease claim in the review band whose
  candidate is a member of M's registry is named as pending; when it is the household's only
  reason, the household is held back (待核实) with the reason, as R06 does with a death.
*/
WITH disabled AS (
    SELECT household_id, source_row, name, disability_grade, disability_type
    FROM rule_registry
    WHERE disability_grade IN (1, 2) OR (disability_grade = 3 AND disability_type IN ('智力', '精神'))
), major AS (  -- linked, and waiting in review with a member as candidate
    SELECT h.household_id, registry_name(h.month, h.registry_row) AS name, h.month, h.source_row, h.diagnosis_icd10,
           h.settled_on, h.pending
    FROM pending_or_linked_health_insurance h
    CROSS JOIN rule_ctx c
    WHERE h.month BETWEEN c.win12_start AND c.month
      AND list_bool_or([starts_with(upper(h.diagnosis_icd10), p) FOR p IN c.major_disease_icd10_prefixes])
), reasons AS (
    SELECT household_id, rec('registry', (SELECT month FROM rule_ctx), source_row) AS r,
           '成员' || coalesce(name, '') || '残疾等级' || ['一级', '二级', '三级', '四级'][disability_grade]
               || coalesce('（' || disability_type || '）', '') AS what,
           source_row AS k1, 0 AS k0
    FROM disabled
    UNION ALL
    SELECT household_id, rec('health_insurance', month, source_row),
           CASE WHEN pending
                THEN '成员' || coalesce(name, '') || '的近12个月重病就诊记录 ' || diagnosis_icd10
                     || '（' || coalesce(strftime(settled_on, '%Y-%m-%d'), '日期不详') || '）待人工核对匹配'
                ELSE '成员' || coalesce(name, '') || '近12个月重病就诊 ' || diagnosis_icd10
                     || '（' || strftime(settled_on, '%Y-%m-%d') || '）' END,
           source_row, CASE WHEN pending THEN 2 ELSE 1 END
    FROM major
), agg AS (
    SELECT household_id, list(r) AS recs,
           string_agg(what, '；' ORDER BY k0, what, k1) AS whats,
           count(*) FILTER (WHERE k0 = 0) AS n_disabled, count(*) FILTER (WHERE k0 = 1) AS n_major,
           count(*) FILTER (WHERE k0 = 2) AS n_pending
    FROM reasons
    GROUP BY household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], agg.recs) AS records,
    to_json({'category': hh.category, 'severely_disabled_members': agg.n_disabled,
             'major_disease_claims_12m': agg.n_major, 'pending_major_disease_claims_12m': agg.n_pending}) AS figures,
    '救助类别为低保边缘；' || agg.whats AS evidence_text,
    NULL AS action_extra,
    CASE WHEN agg.n_disabled + agg.n_major = 0 THEN '单人保待核实：' || agg.whats END AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM agg
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE hh.category = '低保边缘'
