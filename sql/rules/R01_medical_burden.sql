/*
code: R01
name: 医疗支出型困难
severity: 高
sources: [health_insurance]
previous: []
*/
-- R01 医疗支出型困难: the household's linked members' 个人自付 over the trailing
-- 12 months (every usable health_insurance month in M-11..M) exceeds
-- medical_burden_ratio × 家庭年收入.
WITH claims AS (
    SELECT l.household_id, h.month, h.source_row, h.out_of_pocket
    FROM std.health_insurance h
    JOIN rule_links l ON l.source = 'health_insurance' AND l.month = h.month AND l.source_row = h.source_row
    WHERE h.month BETWEEN (SELECT win12_start FROM rule_ctx) AND (SELECT month FROM rule_ctx)
), agg AS (
    SELECT household_id, sum(out_of_pocket) AS oop, count(*) AS n_claims,
           list(rec('health_insurance', month, source_row)) AS recs
    FROM claims
    GROUP BY household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], agg.recs) AS records,
    to_json({'out_of_pocket_12m': round(agg.oop, 2), 'claims': agg.n_claims,
             'household_annual_income': hh.income, 'medical_burden_ratio': c.ratio,
             'category': hh.category}) AS figures,
    '近12个月个人自付医疗费用 ' || yuan(agg.oop) || ' 元（' || agg.n_claims || ' 笔结算），超过家庭年收入 '
        || yuan(hh.income) || ' 元' || CASE WHEN c.ratio <> 1 THEN '的 ' || c.ratio || ' 倍' ELSE '' END AS evidence_text,
    CASE WHEN hh.category IN ('低保', '特困') THEN '医疗救助'
         ELSE '医疗救助；评估支出型困难或单人保' END AS recommended_action
FROM agg
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE agg.oop > c.ratio * hh.income
