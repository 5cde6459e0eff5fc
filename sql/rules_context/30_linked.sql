-- Agency records linked to registry persons, for the rules. Reads the variable month.
--   rule_links       accepted links of usable months <= M (the registry of that month usable too):
--                    民政 all of them, the other sources those of the trailing 12 months
--   linked_<source>  one view per agency source: its std rows of usable months <= M that have an
--                    accepted link, with the registry person's person_key, household_id and
--                    registry_row (the name: registry_name(month, registry_row), 10_macros.sql)
--                    and, for a probabilistic link, the level its ID comparison reached
--                    (link_id_level: missing, prefix for an Excel-mangled ID's digits, d1 for one
--                    typo ...; NULL for an exact-ID or clerical link).
--                    Rules read these views, never the links.
--   rule_pending     records waiting for a clerk (review band), with the registry person they may
--                    be: for the rules that read an absence, such a record makes the absence unknown
--                    (the same months as rule_links).
--   pending_<source> one view per agency source: its std rows waiting in the review band, with the
--                    candidate's person_key, household_id and registry_row. Rules read these, never
--                    rule_pending joined to std.
--   pending_or_linked_<source>  both, with `pending`: for a rule whose event or sum may rest on a
--                    record in review (R01, R04, R07, R10 hold the household then). For the sources
--                    such rules read: 民政 and 医保.
-- How far back: read_back() (10_macros.sql). Without that bound each month joined every earlier
-- month's links and std rows: the rules' cost grew with the history, not with the month.
-- The household and person come from the link row itself (linkage.links keeps the registry
-- person's household_id and person_key), never from a join to the months' registries. rule_links
-- is a view, not a table, so a rule that reads one source pays for that source's rows only,
-- with its filters pushed down to the scan. A table of every accepted link of 12 months, joined
-- to 12 registries, cost a prefecture 13 s and 5 GB at every month once the history is full
-- (measured at 1x with 12 months).
CREATE OR REPLACE TEMP VIEW rule_links AS
SELECT l.month, l.source, l.source_row, l.registry_row,
       l.registry_household_id AS household_id, l.registry_person_key AS person_key,
       json_extract_string(l.detail, '$.id') AS link_id_level
FROM linkage.links l
JOIN rule_usable u ON u.month = l.month AND u.source = l.source
JOIN rule_usable ur ON ur.month = l.month AND ur.source = 'registry'
WHERE l.decision = 'accept' AND l.month <= getvariable('month') AND l.registry_household_id IS NOT NULL
  AND read_back(l.source, l.month);

CREATE OR REPLACE TEMP VIEW linked_civil_affairs AS
SELECT s.*, l.registry_row, l.person_key, l.household_id, l.link_id_level
FROM std.civil_affairs s
JOIN rule_links l ON l.source = 'civil_affairs' AND l.month = s.month AND l.source_row = s.source_row;

CREATE OR REPLACE TEMP VIEW linked_health_insurance AS
SELECT s.*, l.registry_row, l.person_key, l.household_id, l.link_id_level
FROM std.health_insurance s
JOIN rule_links l ON l.source = 'health_insurance' AND l.month = s.month AND l.source_row = s.source_row;

CREATE OR REPLACE TEMP VIEW linked_human_resources AS
SELECT s.*, l.registry_row, l.person_key, l.household_id, l.link_id_level
FROM std.human_resources s
JOIN rule_links l ON l.source = 'human_resources' AND l.month = s.month AND l.source_row = s.source_row;

CREATE OR REPLACE TEMP VIEW linked_rural_revitalization AS
SELECT s.*, l.registry_row, l.person_key, l.household_id, l.link_id_level
FROM std.rural_revitalization s
JOIN rule_links l ON l.source = 'rural_revitalization' AND l.month = s.month AND l.source_row = s.source_row;

CREATE OR REPLACE TEMP TABLE rule_pending AS
SELECT l.month, l.source, l.source_row, l.registry_row, l.registry_household_id AS household_id,
       l.registry_person_key AS person_key
FROM linkage.links l
WHERE l.decision = 'review' AND l.registry_row IS NOT NULL AND l.month <= getvariable('month')
  AND read_back(l.source, l.month);

CREATE OR REPLACE TEMP VIEW pending_civil_affairs AS
SELECT s.*, p.registry_row, p.person_key, p.household_id
FROM std.civil_affairs s
JOIN rule_pending p ON p.source = 'civil_affairs' AND p.month = s.month AND p.source_row = s.source_row;

CREATE OR REPLACE TEMP VIEW pending_health_insurance AS
SELECT s.*, p.registry_row, p.person_key, p.household_id
FROM std.health_insurance s
JOIN rule_pending p ON p.source = 'health_insurance' AND p.month = s.month AND p.source_row = s.source_row;

CREATE OR REPLACE TEMP VIEW pending_human_resources AS
SELECT s.*, p.registry_row, p.person_key, p.household_id
FROM std.human_resources s
JOIN rule_pending p ON p.source = 'human_resources' AND p.month = s.month AND p.source_row = s.source_row;

CREATE OR REPLACE TEMP VIEW pending_rural_revitalization AS
SELECT s.*, p.registry_row, p.person_key, p.household_id
FROM std.rural_revitalization s
JOIN rule_pending p ON p.source = 'rural_revitalization' AND p.month = s.month AND p.source_row = s.source_row;

CREATE OR REPLACE TEMP VIEW pending_or_linked_civil_affairs AS
SELECT *, false AS pending FROM linked_civil_affairs
UNION ALL BY NAME
SELECT *, true AS pending FROM pending_civil_affairs;

CREATE OR REPLACE TEMP VIEW pending_or_linked_health_insurance AS
SELECT *, false AS pending FROM linked_health_insurance
UNION ALL BY NAME
SELECT *, true AS pending FROM pending_health_insurance;

-- unlinked_human_resources: 人社 rows of M that link to nobody (decision none). Such a row is
-- someone's record that linkage placed nowhere; R05 asks whether the member's M-1 contribution
-- account (the 人社 record key's fields: name, record type, amount and base) is among them:
-- - without a valid ID: at a prefecture a name-only contribution whose name many persons hold
--   scores below the review band; it may well be the member's;
-- - with a valid ID outside the registry: the account is someone else's, and an M-1 link that
--   rested on a blank or mangled ID (link_id_level) was most likely that person's record. At a
--   first month of 人社 an Excel-mangled ID's 9 digits (birth county + decade) linked an outsider's
--   contribution to a registry namesake; his own ID showed the next month. A link on a whole ID
--   (one typo away) is not doubted so: at a prefecture a namesake with the same contribution base
--   is common (1x: 23 such lapses, 8 of them real, all after typo'd-ID links).
CREATE OR REPLACE TEMP VIEW unlinked_human_resources AS
SELECT s.*
FROM std.human_resources s
JOIN linkage.links l ON l.source = 'human_resources' AND l.month = s.month AND l.source_row = s.source_row
WHERE l.decision = 'none' AND s.month = getvariable('month');
