-- linkage.links: one row per agency record per month (outputs.md).
CREATE TABLE IF NOT EXISTS linkage.links (
    month DATE NOT NULL,
    source VARCHAR NOT NULL,
    source_row INTEGER NOT NULL,
    registry_row INTEGER,              -- std.registry.source_row in the same month; NULL when unmatched
    registry_household_id VARCHAR,     -- convenience copy of the linked registry row's household_id
    registry_person_key VARCHAR,       -- convenience copy of the linked registry row's person_key
    match_score DOUBLE NOT NULL,       -- in [0, 1]
    method VARCHAR NOT NULL,           -- exact_id / probabilistic / clerical
    decision VARCHAR NOT NULL,         -- accept / review / none
    detail VARCHAR                     -- JSON for auditors: exact/clerical {"reason": ...}; probabilistic
                                       -- {"name","id","birth","sex","region": level, "household": ±k,
                                       --  "ambiguous", "runner_up_score", "evidence": [...],
                                       --  "weights": {"prior", <comparison>: log-odds, "household"}}
);

-- linkage.model_runs: one row per (month, source): the settings and the fitted
-- model a month's links were made with, so they can be reproduced and explained.
CREATE TABLE IF NOT EXISTS linkage.model_runs (
    month DATE NOT NULL,
    source VARCHAR NOT NULL,
    settings_sha VARCHAR NOT NULL,     -- hash of the settings (lowincome/linkage/settings/registry.yaml + knobs)
    settings VARCHAR NOT NULL,         -- the settings as JSON
    classifier VARCHAR NOT NULL,       -- logistic / ecm
    model VARCHAR NOT NULL,            -- JSON: prior (log-odds), weight per comparison level, training counts
    counts VARCHAR NOT NULL            -- JSON: exact / probabilistic / clerical / review / unmatched / candidate_pairs
);

-- linkage.record_history: per month and source, the record keys (md5 of the
-- source's key columns, no ID; evidence.record_key in the settings) of accepted
-- links and the person each went to: link-history evidence for later months.
CREATE TABLE IF NOT EXISTS linkage.record_history (
    month DATE NOT NULL,
    source VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    person_key VARCHAR NOT NULL
);
