-- 村表 / 乡镇表 / 县表 (flags.summary_village / _township / _county): per area and rule that
-- ran, and for all rules (rule_code 合计), the households with an active flag (新增 / 持续)
-- and the registry households. One table for the three levels: `level` says which, and the
-- area keys below the level are NULL. Every area of the registry or of a flag is listed
-- for every rule, with 0 where nothing fired. Reads the variable month.
CREATE OR REPLACE TEMP TABLE rule_summary AS
WITH levels(level, depth) AS (VALUES ('county', 1), ('township', 2), ('village', 3)),
active AS (
    SELECT county_code, township_code, village_code, rule_code, household_key
    FROM rule_new_flags WHERE state IN ('新增', '持续')
    UNION ALL
    SELECT county_code, township_code, village_code, '合计', household_key
    FROM rule_new_flags WHERE state IN ('新增', '持续')
), rules AS (
    SELECT rule_code, rule_name FROM rule_catalogue WHERE rule_code IN (SELECT rule_code FROM rule_ran)
    UNION ALL SELECT '合计', '全部规则'
), areas AS (
    SELECT DISTINCT county_code, township_code, village_code FROM rule_households
    UNION SELECT DISTINCT county_code, township_code, village_code FROM active
),
-- each row projected to each level: the keys below the level blanked
at_level AS (
    SELECT l.level, a.county_code,
           CASE WHEN l.depth >= 2 THEN a.township_code END AS township_code,
           CASE WHEN l.depth >= 3 THEN a.village_code END AS village_code
    FROM areas a CROSS JOIN levels l
), base AS (
    SELECT DISTINCT a.*, r.rule_code, r.rule_name FROM at_level a CROSS JOIN rules r
), flagged AS (
    SELECT l.level, f.county_code,
           CASE WHEN l.depth >= 2 THEN f.township_code END AS township_code,
           CASE WHEN l.depth >= 3 THEN f.village_code END AS village_code,
           f.rule_code, count(DISTINCT f.household_key) AS n
    FROM active f CROSS JOIN levels l
    GROUP BY ALL
), reg AS (
    SELECT l.level, h.county_code,
           CASE WHEN l.depth >= 2 THEN h.township_code END AS township_code,
           CASE WHEN l.depth >= 3 THEN h.village_code END AS village_code,
           count(*) AS n
    FROM rule_households h CROSS JOIN levels l
    GROUP BY ALL
)
SELECT x.level, getvariable('month')::DATE AS month, x.county_code, x.township_code, x.village_code,
       x.rule_code, x.rule_name,
       coalesce(f.n, 0)::INTEGER AS flagged_households, coalesce(y.n, 0)::INTEGER AS registry_households,
       CASE WHEN coalesce(y.n, 0) > 0 THEN coalesce(f.n, 0) / y.n END AS share
FROM base x
LEFT JOIN reg y
    ON y.level = x.level AND y.county_code IS NOT DISTINCT FROM x.county_code
   AND y.township_code IS NOT DISTINCT FROM x.township_code AND y.village_code IS NOT DISTINCT FROM x.village_code
LEFT JOIN flagged f
    ON f.level = x.level AND f.county_code IS NOT DISTINCT FROM x.county_code
   AND f.township_code IS NOT DISTINCT FROM x.township_code AND f.village_code IS NOT DISTINCT FROM x.village_code
   AND f.rule_code = x.rule_code;
