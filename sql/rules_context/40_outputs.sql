-- What the rules produce, filled rule by rule by lowincome.rules:
--   rule_fired  one row per (rule, household) that fires this month
--   rule_held   one row per (rule, household) held back: the rule reads an absence, and a
--               record of the household waits in the linkage review band (held_reason)
CREATE OR REPLACE TEMP TABLE rule_fired (
    rule_code VARCHAR, household_key VARCHAR, county_code VARCHAR, township_code VARCHAR, village_code VARCHAR,
    category VARCHAR, records STRUCT(source VARCHAR, month DATE, source_row INTEGER)[], figures VARCHAR,
    evidence_text VARCHAR, recommended_action VARCHAR
);
CREATE OR REPLACE TEMP TABLE rule_held (
    rule_code VARCHAR, household_key VARCHAR, county_code VARCHAR, township_code VARCHAR, village_code VARCHAR,
    category VARCHAR, records STRUCT(source VARCHAR, month DATE, source_row INTEGER)[], reason VARCHAR
);
