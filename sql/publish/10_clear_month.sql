-- Delete the month's rows of every flags.* table, before its new rows go in: the first step
-- of publishing a month (published or withheld), inside the caller's transaction.
-- Reads the variable month.
DELETE FROM flags.risk_flags WHERE month = getvariable('month');
DELETE FROM flags.flag_history WHERE month = getvariable('month');
DELETE FROM flags.rule_runs WHERE month = getvariable('month');
DELETE FROM flags.month_status WHERE month = getvariable('month');
DELETE FROM flags.held_back WHERE month = getvariable('month');
DELETE FROM flags.summary_village WHERE month = getvariable('month');
DELETE FROM flags.summary_township WHERE month = getvariable('month');
DELETE FROM flags.summary_county WHERE month = getvariable('month');
