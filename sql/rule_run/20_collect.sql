-- Run after each rule: its output (temp table rule_out, the fixed columns of
-- lowincome.rules.OUTPUT_COLUMNS) goes to rule_held where held_reason is set (the rule reads
-- an absence that a review-band record makes unknown) and to rule_fired otherwise. The
-- recommended action is the header's `action`, plus "；" and the header's `action_extra`
-- text the row names. Evidence records are deduplicated and sorted. Reads the variable
-- rule_code.
INSERT INTO rule_held
SELECT getvariable('rule_code'), o.household_key, o.county_code, o.township_code, o.village_code, o.category,
       list_sort(list_distinct(o.records)), o.held_reason
FROM rule_out o
WHERE o.held_reason IS NOT NULL;

INSERT INTO rule_fired
SELECT getvariable('rule_code'), o.household_key, o.county_code, o.township_code, o.village_code, o.category,
       list_sort(list_distinct(o.records)), o.figures, o.evidence_text,
       k.action || coalesce('；' || x.text, '')
FROM rule_out o
JOIN rule_catalogue k ON k.rule_code = getvariable('rule_code')
LEFT JOIN rule_action_extra x ON x.rule_code = k.rule_code AND x.key = o.action_extra
WHERE o.held_reason IS NULL;
