-- Closing dispositions (已纳入救助 / 核实不符) delivered by M for fired flags of earlier
-- months: per (household, rule) the one of the latest flag with the latest 处置日期 (then the
-- latest delivery), never row order. Rows tied at the top that disagree are a conflict:
-- none is applied (reported in ops.returned_issues). Reads the variable month.
CREATE OR REPLACE TEMP TABLE rule_dispositions AS
SELECT * EXCLUDE (rk, lo, hi, rn) FROM (
    SELECT *,
           min(disposition) OVER w AS lo, max(disposition) OVER w AS hi,
           row_number() OVER (PARTITION BY household_key, rule_code ORDER BY source_row) AS rn
    FROM (
        SELECT d.flag_id, d.disposition, d.disposed_on, d.month AS delivered, d.source_row, f.household_key, f.rule_code,
               f.month AS flag_month, f.evidence_hash AS flag_hash, f.episode_start AS flag_episode,
               rank() OVER (PARTITION BY f.household_key, f.rule_code
                            ORDER BY f.month DESC, d.disposed_on DESC NULLS LAST, d.month DESC) AS rk
        FROM std.dispositions d
        JOIN rule_usable u ON u.month = d.month AND u.source = 'dispositions'
        JOIN flags.risk_flags f ON f.flag_id = d.flag_id AND f.fired
        WHERE d.month <= getvariable('month') AND f.month < getvariable('month')
          AND d.disposition IN ('已纳入救助', '核实不符')
          AND f.rule_code IN (SELECT rule_code FROM rule_ran)
    ) WHERE rk = 1
    WINDOW w AS (PARTITION BY household_key, rule_code)
) WHERE lo = hi AND rn = 1;
