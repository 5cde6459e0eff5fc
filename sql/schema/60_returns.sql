-- Files returned by caseworkers and clerks (review decisions, dispositions): input,
-- not authority. One row per returned file per month, and one per refused row or
-- problem, so the auditor's report can say what was applied and what was not.
CREATE TABLE IF NOT EXISTS ops.returned_files (
    month DATE NOT NULL,
    kind VARCHAR NOT NULL,             -- review_decisions / dispositions
    source VARCHAR NOT NULL,           -- linkage source, or '*' for the file as a whole
    file VARCHAR,
    status VARCHAR NOT NULL,           -- read / corrupt
    rows_read INTEGER,
    rows_applied INTEGER,
    rows_refused INTEGER,
    error VARCHAR
);

CREATE TABLE IF NOT EXISTS ops.returned_issues (
    month DATE NOT NULL,
    kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR,
    row_number INTEGER,                -- data row as source_row (1 = first row under the header), NULL for the file as a whole
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL
);
