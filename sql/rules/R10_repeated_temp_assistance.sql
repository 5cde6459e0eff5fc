/*
code: R10
name: 多次临时救助
severity: 中
sources: [civil_affairs]
previous: []
*/
-- R10 多次临时救助: ≥ count 临时救助 events for H's linked members in the trailing
-- `months` months (usable civil_affairs months), and 救助类别 not in {低保, 特困}.
WITH c AS (SELECT * FROM rule_ctx),
t AS (
    SELECT l.household_id, count(*) AS n_events, sum(e.amount) AS amount,
           list(rec('civil_affairs', e.month, e.source_row)) AS recs
    FROM std.civil_affairs e
    JOIN rule_links l ON l.source = 'civil_affairs' AND l.month = e.month AND l.source_row = e.source_row
    CROSS JOIN c
    WHERE e.event_type = '临时救助' AND e.month BETWEEN c.rep_start AND c.month
    GROUP BY l.household_id
)
SELECT
    hh.household_id AS household_key,
    list_concat([rec('registry', c.month, hh.hh_row)], t.recs) AS records,
    to_json({'temporary_assistance_events': t.n_events, 'amount': t.amount, 'window_months': c.rep_months,
             'threshold': c.rep_count, 'category': hh.category}) AS figures,
    '近' || c.rep_months || '个月临时救助 ' || t.n_events || ' 次' || coalesce('（共 ' || yuan(t.amount) || ' 元）', '')
        || '，救助类别：' || coalesce(hh.category, '未填') AS evidence_text,
    '评估纳入低保' AS recommended_action
FROM t
JOIN rule_households hh USING (household_id)
CROSS JOIN rule_ctx c
WHERE t.n_events >= c.rep_count
  AND coalesce(hh.category, '') NOT IN ('低保', '特困')
