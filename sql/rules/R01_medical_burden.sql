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
  that is not 低保 / 特困 is also to be assessed for 支出型困难 or 单人保 (action_extra). Claims
  in the review band whose candidate is a member make the sum unknown: when the linked claims
  alone stay within the line and the pending ones would take it over, the household is held
  back (待核实, with the reason), as R10 does.
*/
WITH claims AS (
    SELECT h.household_id, h.month, h.source_row, h.out_of_pocket, h.pending
    FROM pending_or_linked_health_insurance h
    WHERE h.month BETWEEN (SELECT win12_start FROM rule_ctx) AND (SELECT month FROM rule_ctx)
), agg AS (
    SELECT household_id, coalesce(round(sum(out_of_pocket) FILTER (WHERE NOT pending), 2), 0) AS oop,
           round(sum(out_of_pocket), 2) AS oop_all,
           count(*) FILTER (WHERE NOT pending) AS n_claims, count(*) FILTER (WHERE pending) AS n_pending
    FROM claims
    GROUP BY household_id
), over AS (  -- the sums first: a prefecture's 12 months hold ~19M linked claims, few of them flag
    SELECT agg.*, hh.*, agg.oop > c.medical_burden_ratio * hh.income AS linked_over
    FROM agg
    JOIN rule_households hh USING (household_id)
    CROSS JOIN rule_ctx c
    WHERE agg.oop_all > c.medical_burden_ratio * hh.income
), recs AS (  -- a flag names its linked claims; a held household all of them
    SELECT c.household_id, list(rec('health_insurance', c.month, c.source_row)) AS recs
    FROM claims c
    JOIN over o USING (household_id)
    WHERE NOT (o.linked_over AND c.pending)
    GROUP BY c.household_id
)
SELECT
    o.household_id AS household_key,
    list_concat([rec('registry', c.month, o.hh_row)], recs.recs) AS records,
    to_json({'out_of_pocket_12m': o.oop, 'claims': o.n_claims,
             'household_annual_income': o.income, 'medical_burden_ratio': c.medical_burden_ratio,
             'category': o.category, 'pending_claims': o.n_pending}) AS figures,
    '近12个月个人自付医疗费用 ' || yuan(o.oop) || ' 元（' || o.n_claims || ' 笔结算），超过家庭年收入 '
        || yuan(o.income) || ' 元'
        || CASE WHEN c.medical_burden_ratio <> 1 THEN '的 ' || c.medical_burden_ratio || ' 倍' ELSE '' END AS evidence_text,
    CASE WHEN o.category IN ('低保', '特困') THEN NULL ELSE 'not_assisted' END AS action_extra,
    CASE WHEN NOT o.linked_over
         THEN '医疗支出待核实：近12个月已匹配个人自付 ' || yuan(o.oop) || ' 元，另有 ' || o.n_pending
              || ' 笔结算待人工核对匹配，计入后 ' || yuan(o.oop_all) || ' 元，超过家庭年收入 ' || yuan(o.income) || ' 元'
              || CASE WHEN c.medical_burden_ratio <> 1 THEN '的 ' || c.medical_burden_ratio || ' 倍' ELSE '' END END AS held_reason,
    o.county_code, o.township_code, o.village_code, o.category
FROM over o
JOIN recs USING (household_id)
CROSS JOIN rule_ctx c
