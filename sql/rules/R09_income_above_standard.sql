/*
code: R09
name: 收入超标
severity: 低
sources: [human_resources]
previous: []
action: 启动救助渐退期（{gradual_exit_months}个月）
params: [dibao_standard, gradual_exit_months]
description: >
  救助类别 = 低保 and the sum of 月工资 on the linked members' 社保缴费 records of M, divided by
  家庭人口数, exceeds the 低保标准 S.
*/
WITH c AS (SELECT * FROM rule_ctx),
ss AS (
    SELECT h.household_id, round(sum(h.monthly_wage), 2) AS wage, count(*) AS n_records,
           list(rec('human_resources', h.month, h.source_row)) AS recs
    FROM linked_human_resources h
    CROSS JOIN c
    WHERE h.month = c.month AND h.record_type = '社保缴费'
    GROUP BY h.household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], ss.recs) AS records,
    to_json({'wages_in_month': ss.wage, 'contribution_records': ss.n_records, 'household_size': hh.size,
             'wage_per_capita': round(ss.wage / hh.size, 2), 'dibao_standard': hh.s, 'category': hh.category}) AS figures,
    ym(c.month) || '社保缴费工资合计 ' || yuan(ss.wage) || ' 元，按家庭人口 ' || hh.size || ' 人计人均 '
        || yuan(round(ss.wage / hh.size, 2)) || ' 元，超过低保标准 ' || yuan(hh.s) || ' 元' AS evidence_text,
    NULL AS action_extra,
    NULL AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM ss
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE hh.category = '低保' AND ss.wage / hh.size > hh.s
