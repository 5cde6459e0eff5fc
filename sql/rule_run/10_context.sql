-- Run before each rule: rule_ctx, the one-row table a rule reads its month and parameters
-- from. It holds the calendar (month, month_end, prev_month, win12_start) and only the
-- parameters the rule's header lists (the variable rule_params), so a rule that reads a
-- parameter its header does not declare fails instead of passing unnoticed.
CREATE OR REPLACE TEMP TABLE rule_ctx AS
SELECT COLUMNS(lambda c: c IN ('month', 'month_end', 'prev_month', 'win12_start')
                         OR list_contains(getvariable('rule_params')::VARCHAR[], c))
FROM rule_inputs;
