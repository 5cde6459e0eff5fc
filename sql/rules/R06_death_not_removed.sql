/*
code: R06
name: 死亡未销户
severity: 高
sources: [civil_affairs]
previous: []
action: 核实销户并停发
action_extra:
  paid_after_death: 追回死亡后发放的资金
params: []
description: >
  A registry member of the household (M's registry, by person_key) has a linked 死亡火化 event
  in any usable civil_affairs month <= M, dated on or before the end of M. The evidence lists
  低保金发放 / 特困供养金发放 to that person dated after death (then action_extra).
*/
WITH c AS (SELECT * FROM rule_ctx),
-- A 死亡火化 record in the review band whose candidate is a registry member (and no linked
-- death of that member) is not yet evidence: the household is held back with the reason
-- (待核实 in the workbook), never flagged on a probabilistic candidate alone.
pending_deaths AS (
    SELECT e.person_key, min(e.event_date) AS death_date,
           list(rec('civil_affairs', e.month, e.source_row)) AS recs
    FROM pending_civil_affairs e
    CROSS JOIN c
    WHERE e.event_type = '死亡火化' AND e.month <= c.month
      AND (e.event_date IS NULL OR e.event_date <= c.month_end)
    GROUP BY e.person_key
),
deaths AS (
    SELECT e.person_key, min(e.event_date) AS death_date,
           list(rec('civil_affairs', e.month, e.source_row)) AS recs
    FROM linked_civil_affairs e
    CROSS JOIN c
    WHERE e.event_type = '死亡火化' AND e.month <= c.month
      AND (e.event_date IS NULL OR e.event_date <= c.month_end)
    GROUP BY e.person_key
), paid AS (
    SELECT e.person_key, count(*) AS n_paid, round(sum(e.amount), 2) AS amount_paid,
           list(rec('civil_affairs', e.month, e.source_row)) AS recs
    FROM linked_civil_affairs e
    JOIN deaths d ON d.person_key = e.person_key
    CROSS JOIN c
    WHERE e.event_type IN ('低保金发放', '特困供养金发放') AND e.month <= c.month
      AND e.event_date > d.death_date
    GROUP BY e.person_key
), hit AS (
    SELECT r.household_id, r.source_row, r.name, d.death_date, false AS pending,
           list_concat([rec('registry', (SELECT month FROM c), r.source_row)], d.recs, coalesce(p.recs, [])) AS recs,
           coalesce(p.n_paid, 0) AS n_paid, coalesce(p.amount_paid, 0) AS amount_paid
    FROM deaths d
    JOIN rule_registry r USING (person_key)
    LEFT JOIN paid p USING (person_key)
    UNION ALL
    SELECT r.household_id, r.source_row, r.name, pd.death_date, true AS pending,
           list_concat([rec('registry', (SELECT month FROM c), r.source_row)], pd.recs) AS recs, 0, 0
    FROM pending_deaths pd
    JOIN rule_registry r USING (person_key)
    WHERE pd.person_key NOT IN (SELECT person_key FROM deaths)
), agg AS (
    SELECT household_id, flatten(list(recs)) AS recs,
           string_agg('成员' || coalesce(name, '')
                      || CASE WHEN pending THEN '的死亡火化记录（' || coalesce(strftime(death_date, '%Y-%m-%d'), '日期不详')
                                   || '）待人工核对匹配'
                              ELSE '已死亡火化（' || coalesce(strftime(death_date, '%Y-%m-%d'), '日期不详')
                                   || '），仍在低收入人口数据库中' END
                      || CASE WHEN n_paid > 0 THEN '；死亡后仍发放低保金/特困供养金 ' || n_paid || ' 笔共 ' || yuan(amount_paid) || ' 元'
                              ELSE '' END, '；' ORDER BY pending, source_row) AS whats,
           count(*) FILTER (WHERE NOT pending) AS n_dead, count(*) FILTER (WHERE pending) AS n_pending,
           sum(n_paid) AS n_paid, round(sum(amount_paid), 2) AS amount_paid,
           min(death_date) FILTER (WHERE NOT pending) AS death_date
    FROM hit
    GROUP BY household_id
)
SELECT
    hh.household_id AS household_key,
    agg.recs AS records,
    to_json({'deceased_members': agg.n_dead, 'death_date': agg.death_date,
             'payments_after_death': agg.n_paid, 'amount_after_death': agg.amount_paid,
             'pending_members': agg.n_pending}) AS figures,
    agg.whats AS evidence_text,
    CASE WHEN agg.n_paid > 0 THEN 'paid_after_death' END AS action_extra,
    CASE WHEN agg.n_dead = 0 THEN '死亡待核实：' || agg.whats END AS held_reason,
    hh.county_code, hh.township_code, hh.village_code, hh.category
FROM agg
JOIN rule_households hh USING (household_id)
