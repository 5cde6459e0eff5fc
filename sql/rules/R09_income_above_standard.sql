/*
code: R09
name: 收入超标
severity: 低
sources: [human_resources]
previous: []
*/
-- R09 收入超标: 救助类别 = 低保 and (sum of 月工资 on linked members' 社保缴费
-- records in M) / 家庭人口数 > S.
WITH c AS (SELECT * FROM rule_ctx),
ss AS (
    SELECT l.household_id, sum(h.monthly_wage) AS wage, count(*) AS n_records,
           list(rec('human_resources', h.month, h.source_row)) AS recs
    FROM std.human_resources h
    JOIN rule_links l ON l.source = 'human_resources' AND l.month = h.month AND l.source_row = h.source_row
    CROSS JOIN c
    WHERE h.month = c.month AND h.record_type = '社保缴费'
    GROUP BY l.household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], ss.recs) AS records,
    to_json({'wages_in_month': ss.wage, 'contribution_records': ss.n_records, 'household_size': hh.size,
             'wage_per_capita': round(ss.wage / hh.size, 2), 'dibao_standard': hh.s, 'category': hh.category}) AS figures,
    ym(c.month) || '社保缴费工资合计 ' || yuan(ss.wage) || ' 元，按家庭人口 ' || hh.size || ' 人计人均 '
        || yuan(round(ss.wage / hh.size, 2)) || ' 元，超过低保标准 ' || yuan(hh.s) || ' 元' AS evidence_text,
    '启动救助渐退期（' || c.exit_months || '个月）' AS recommended_action
FROM ss
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE hh.category = '低保' AND ss.wage / hh.size > hh.s
