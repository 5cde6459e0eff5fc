-- The month's registry for the rules. Reads the DuckDB variable month and the temp tables
-- rule_inputs (month_end) and rule_standard (低保标准 per county and 城乡类型, from the parameters).
--   rule_usable      (month, source) pairs the rules may read: loaded and no critical check failed
--   rule_registry    M's registry persons with their age on the last day of M
--   rule_households  one row per registry household: its head's region, category, size and
--                    income, the standard S and the per-capita monthly income pc
CREATE OR REPLACE TEMP TABLE rule_usable AS
SELECT month, source FROM ops.source_status WHERE usable AND month <= getvariable('month');

CREATE OR REPLACE TEMP TABLE rule_registry AS
WITH r AS (
    SELECT *, coalesce(birth_date, id_birth_date) AS birth FROM std.registry
    WHERE month = getvariable('month') AND household_id IS NOT NULL
)
SELECT r.*,
    year(i.month_end) - year(r.birth)
      - CASE WHEN month(i.month_end) * 100 + day(i.month_end) < month(r.birth) * 100 + day(r.birth) THEN 1 ELSE 0 END AS age
FROM r CROSS JOIN rule_inputs i;

CREATE OR REPLACE TEMP TABLE rule_households AS
WITH h AS (
    SELECT household_id,
        first(source_row ORDER BY coalesce(relation <> '户主', true), source_row) AS hh_row,
        first(county_code ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE county_code IS NOT NULL) AS county_code,
        first(township_code ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE township_code IS NOT NULL) AS township_code,
        first(village_code ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE village_code IS NOT NULL) AS village_code,
        first(urban_rural ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE urban_rural IS NOT NULL) AS urban_rural,
        first(category ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE category IS NOT NULL) AS category,
        first(household_size ORDER BY coalesce(relation <> '户主', true), source_row) FILTER (WHERE household_size IS NOT NULL) AS size,
        first(household_annual_income ORDER BY coalesce(relation <> '户主', true), source_row)
            FILTER (WHERE household_annual_income IS NOT NULL) AS income,
        count(*) AS members_listed
    FROM rule_registry
    GROUP BY household_id
)
SELECT h.*,
    coalesce(sc.standard, sd.standard) AS s,
    CASE WHEN h.size > 0 THEN h.income / h.size / 12 END AS pc
FROM h
LEFT JOIN rule_standard sc ON sc.county_code = h.county_code AND sc.urban_rural = h.urban_rural
LEFT JOIN rule_standard sd ON sd.county_code IS NULL AND sd.urban_rural = h.urban_rural;
