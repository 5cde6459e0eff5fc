/*
code: R02
name: 低收入未纳入低保
severity: 高
sources: []
previous: []
*/
-- R02 低收入未纳入低保: pc < S and 救助类别 not in {低保, 特困}.
SELECT
    hh.household_id AS household_key,
    [rec('registry', c.month, hh.hh_row)] AS records,
    to_json({'per_capita_monthly_income': round(hh.pc, 2), 'household_annual_income': hh.income,
             'household_size': hh.size, 'dibao_standard': hh.s, 'category': hh.category}) AS figures,
    '家庭人均月收入 ' || yuan(round(hh.pc, 2)) || ' 元（年收入 ' || yuan(hh.income) || ' 元 / ' || hh.size
        || ' 人 / 12），低于低保标准 ' || yuan(hh.s) || ' 元；救助类别：' || coalesce(hh.category, '未填') AS evidence_text,
    '审核纳入低保' AS recommended_action
FROM rule_households hh
CROSS JOIN rule_ctx c
WHERE hh.pc < hh.s
  AND coalesce(hh.category, '') NOT IN ('低保', '特困')
