-- Whether a source's month can be used by the rules (docs/CONTRACTS.md).
CREATE OR REPLACE VIEW ops.source_status AS
SELECT
    a.month,
    a.source,
    a.status = 'loaded' AND c.failed IS NULL AS usable,
    CASE
        WHEN a.status <> 'loaded' THEN a.status || ': ' || coalesce(a.error, '')
        WHEN c.failed IS NOT NULL THEN 'critical: ' || c.failed
    END AS reason
FROM ops.load_audit a
LEFT JOIN (
    SELECT month, source, string_agg(expectation, '; ' ORDER BY expectation) AS failed
    FROM dq.results
    WHERE severity = 'critical' AND NOT success
    GROUP BY month, source
) c USING (month, source);
