-- Warehouse tables (outputs.md). std.<source> tables are created from
-- lowincome/schema.py (std_ddl), so the delivery contract is written once.
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS linkage;
CREATE SCHEMA IF NOT EXISTS flags;
CREATE SCHEMA IF NOT EXISTS dq;

CREATE TABLE IF NOT EXISTS ops.load_audit (
    month DATE NOT NULL,
    source VARCHAR NOT NULL,
    source_file VARCHAR,
    status VARCHAR NOT NULL,          -- loaded / rejected / missing
    rows_read INTEGER NOT NULL,
    rows_loaded INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL,
    encoding VARCHAR,
    sha256 VARCHAR,
    unknown_columns VARCHAR[],
    error VARCHAR,
    manifest_rows INTEGER,
    manifest_sha256 VARCHAR,
    optional_nulled VARCHAR,           -- JSON {column: count} of optional values that could not be parsed
    warnings VARCHAR[]                 -- what the delivery left ambiguous: codes, some with ":detail":
                                       -- duplicate_column, header_only, multiple_data_sheets, sheets_skipped,
                                       -- ids_stored_as_numbers, merged_cells, formulas_without_values,
                                       -- manifest_unknown_file, ambiguous_files
);
-- warehouses created before the column existed
ALTER TABLE ops.load_audit ADD COLUMN IF NOT EXISTS warnings VARCHAR[];

CREATE TABLE IF NOT EXISTS ops.quarantine (
    month DATE NOT NULL,
    source VARCHAR NOT NULL,
    source_file VARCHAR,
    source_row INTEGER NOT NULL,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR                        -- the row as delivered, JSON
);
