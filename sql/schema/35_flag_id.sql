-- flag_id: the one definition (docs/CONTRACTS.md). YYYYMM-Rnn-first 8 hex digits of
-- SHA-1(household_key), upper case, e.g. 202608-R02-3FA2C19B: the same for the same
-- (month, household, rule). The lifecycle SQL calls this macro; Python's
-- lowincome.schema.flag_id and the sample generator run this file rather than
-- copying it.
CREATE SCHEMA IF NOT EXISTS flags;

CREATE OR REPLACE MACRO flags.flag_id(flag_month, rule_code, household_key) AS
    strftime(flag_month::DATE, '%Y%m') || '-' || rule_code || '-' || upper(substr(sha1(household_key), 1, 8));
