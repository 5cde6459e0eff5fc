/*
code: R03
name: 低保边缘未认定
severity: 中
sources: []
previous: []
*/
-- R03 低保边缘未认定: S ≤ pc < edge_multiplier × S and 救助类别 not in {低保, 特困, 低保边缘}.
SELECT
    hh.household_id AS household_key,
    [rec('registry', c.month, hh.hh_row)] AS records,
    to_json({'per_capita_monthly_income': round(hh.pc, 2), 'household_annual_income': hh.income,
             'household_size': hh.size, 'dibao_standard': hh.s, 'edge_line': c.edge * hh.s,
             'category': hh.category}) AS figures,
    '家庭人均月收入 ' || yuan(round(hh.pc, 2)) || ' 元（年收入 ' || yuan(hh.income) || ' 元 / ' || hh.size
        || ' 人 / 12），不低于低保标准 ' || yuan(hh.s) || ' 元且低于低保边缘线 ' || yuan(c.edge * hh.s)
        || ' 元；救助类别：' || coalesce(hh.category, '未填') AS evidence_text,
    '认定低保边缘家庭' AS recommended_action
FROM rule_households hh
CROSS JOIN rule_ctx c
WHERE hh.pc >= hh.s
  AND hh.pc < c.edge * hh.s
  AND coalesce(hh.category, '') NOT IN ('低保', '特困', '低保边缘')
