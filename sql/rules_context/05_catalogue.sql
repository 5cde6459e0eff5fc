-- The rule catalogue as tables, filled by lowincome.rules from the headers of sql/rules/*.sql
-- (the action with its parameters filled in for the month):
--   rule_catalogue     one row per rule
--   rule_action_extra  the header's action_extra: (rule, key) -> words appended to the action
CREATE OR REPLACE TEMP TABLE rule_catalogue (
    rule_code VARCHAR, rule_name VARCHAR, severity VARCHAR, severity_rank INTEGER, action VARCHAR,
    sources VARCHAR[], previous VARCHAR[], params VARCHAR[], description VARCHAR
);
CREATE OR REPLACE TEMP TABLE rule_action_extra (rule_code VARCHAR, key VARCHAR, text VARCHAR);
