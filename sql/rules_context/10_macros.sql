-- Macros the rule files use to build evidence:
--   rec(source, month, source_row)  one evidence record (the flag's `records` list)
--   yuan(x)                         an amount in yuan for a Chinese sentence (thousands separators)
--   ym(d)                           a month as 2026年8月
--   registry_name(month, row)       the registry person's name in that month's registry: the
--                                   person a linked record names (evidence text); a lookup, so
--                                   a rule that does not show names does not pay for it. Months of
--                                   the trailing 12 only (NULL before: no rule shows the name of an
--                                   older record), so the lookup reads 12 registries, not the history
--   read_back(source, month)        whether the rules read that source's records of that month:
--                                   民政 every month (R06: a death, and the payments after it, of
--                                   any month), the other sources the trailing 12 months, the longest
--                                   window a rule reads (R01, R04; R10's is at most 12, params.py).
--                                   Bounded by win12_start() (00_inputs.sql), which prunes the links'
--                                   row groups by month (at 24 months of history a bound read from
--                                   rule_inputs let the links scan read 24 months, not 12)
CREATE OR REPLACE TEMP MACRO rec(s, m, r) AS {'source': s::VARCHAR, 'month': m::DATE, 'source_row': r::INTEGER};
CREATE OR REPLACE TEMP MACRO yuan(x) AS
    CASE WHEN x IS NULL THEN '—' WHEN x = round(x) THEN format('{:,.0f}', x) ELSE format('{:,.2f}', x) END;
CREATE OR REPLACE TEMP MACRO ym(d) AS strftime(d, '%Y') || '年' || month(d) || '月';
CREATE OR REPLACE TEMP MACRO read_back(s, m) AS s = 'civil_affairs' OR m >= win12_start();
CREATE OR REPLACE TEMP MACRO registry_name(m, r) AS
    (SELECT name FROM std.registry WHERE month = m AND source_row = r AND month >= win12_start());
