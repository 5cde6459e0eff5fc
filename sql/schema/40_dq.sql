-- dq.results: one row per expectation per source per month (outputs.md).
CREATE TABLE IF NOT EXISTS dq.results (
    month DATE NOT NULL,
    source VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL,       -- stable expectation name
    description VARCHAR,                -- Chinese text for auditors
    severity VARCHAR NOT NULL,          -- critical / warning
    success BOOLEAN NOT NULL,
    unexpected_count BIGINT,
    element_count BIGINT,
    observed VARCHAR,                   -- observed value, as text / JSON
    details VARCHAR                     -- JSON
);
