/*
code: R01
name: 医疗支出型困难
severity: 高
sources: [health_insurance]
previous: []
action: 医疗救助
action_extra:
  not_assisted: 评估支出型困难或单人保
params: [medical_burden_ratio]
description: >
  The household's linked members' 个人自付 over the trailing 12 months (every usable
  health_insurance month in M-11..M) exceeds medical_burden_ratio × 家庭年收入. A household
  that is not 低保 / 特困 is also to be assessed for 支出型困难 or 单人保 (action_extra).
*/
WITH claims AS (
    SELECT h.household_id, h.month, h.source_row, h.out_of_pocket
    FROM linked_health_insurance h
    WHERE h.month BETWEEN (SELECT win12_start FROM rule_ctx) AND (SELECT month FROM rule_ctx)
), agg AS (
    SELECT household_id, round(sum(out_of_pocket), 2) AS oop, count(*) AS n_claims
    FROM claims
    GROUP BY household_id
), over AS (  -- the sums first: a prefecture's 12 months hold ~19M linked claims, few of them flag
    SELECT agg.*, hh.*
    FROM agg
    JOIN rule_households hh USING (household_id)
    CROSS JOIN rule_ctx c
    WHERE agg.oop > c.medical_burden_ratio * hh.income
), recs AS (
    SELECT household_id, list(rec('health_insurance', month, source_row)) AS recs
    FROM claims
    WHERE household_id IN (SELECT household_id FROM over)
    GROUP BY household_id
)
SELECT
    o.household_id AS household_key,
    list_concat([rec('registry', c.month, o.hh_row)], recs.recs) AS records,
    to_json({'out_of_pocket_12m': o.oop, 'claims': o.n_claims,
             'household_annual_income': o.income, 'medical_burden_ratio': c.medical_burden_ratio,
             'category': o.category}) AS figures,
    '近12个月个人自付医疗费用 ' || yuan(o.oop) || ' 元（' || o.n_claims || ' 笔结算），超过家庭年收入 '
        || yuan(o.income) || ' 元'
        || CASE WHEN c.medical_burden_ratio <> 1 THEN '的 ' || c.medical_burden_ratio || ' 倍' ELSE '' END AS evidence_text,
    CASE WHEN o.category IN ('低保', '特困') THEN NULL ELSE 'not_assisted' END AS action_extra,
    NULL AS held_reason,
    o.county_code, o.township_code, o.village_code, o.category
FROM over o
JOIN recs USING (household_id)
CROSS JOIN rule_ctx c
