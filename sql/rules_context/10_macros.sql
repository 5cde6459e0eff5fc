-- Macros the rule files use to build evidence:
--   rec(source, month, source_row)  one evidence record (the flag's `records` list)
--   yuan(x)                         an amount in yuan for a Chinese sentence (thousands separators)
--   ym(d)                           a month as 2026年8月
CREATE OR REPLACE TEMP MACRO rec(s, m, r) AS {'source': s::VARCHAR, 'month': m::DATE, 'source_row': r::INTEGER};
CREATE OR REPLACE TEMP MACRO yuan(x) AS
    CASE WHEN x IS NULL THEN '—' WHEN x = round(x) THEN format('{:,.0f}', x) ELSE format('{:,.2f}', x) END;
CREATE OR REPLACE TEMP MACRO ym(d) AS strftime(d, '%Y') || '年' || month(d) || '月';
