-- The flags each rule that ran this month published the last month it ran before M.
-- Reads the variable month and the temp tables rule_ran (rules that ran this month).
CREATE OR REPLACE TEMP TABLE rule_prev AS
SELECT rule_code, max(month) AS prev_month
FROM flags.rule_runs
WHERE status = 'ran' AND month < getvariable('month') AND rule_code IN (SELECT rule_code FROM rule_ran)
GROUP BY rule_code;

CREATE OR REPLACE TEMP TABLE rule_prev_flags AS
SELECT f.* FROM flags.risk_flags f JOIN rule_prev p ON p.rule_code = f.rule_code AND p.prev_month = f.month;
