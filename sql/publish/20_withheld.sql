-- A withheld month (the registry is unusable, outputs.md): no flags; every rule's run is
-- recorded as withheld (rule_runs_out) and the month as not published, with the reason.
-- After 10_clear_month.sql in one transaction. Reads the variables month, params_path and
-- withheld_reason.
INSERT INTO flags.rule_runs (month, rule_code, rule_name, status, reason, flags, active)
SELECT month, rule_code, rule_name, status, reason, flags, active FROM rule_runs_out ORDER BY rule_code;

INSERT INTO flags.month_status (month, published, reason, params_path)
VALUES (getvariable('month')::DATE, false, getvariable('withheld_reason'), getvariable('params_path'));
