-- The month's calendar and the rule parameters as one row, from DuckDB variables set by
-- lowincome.rules: month, and one variable per key of the parameters file (params.yaml).
--   rule_inputs    month, month_end, prev_month, win12_start (first month of the trailing
--                  12 months) and every parameter, under its params.yaml name
--   rule_standard  低保标准 S per county (NULL = the default) and 城乡类型 (城市 / 农村)
-- win12_start(): the first month of the trailing 12, one expression for rule_inputs and the
-- macros of 10_macros.sql. A constant (from the variable month), not a read of rule_inputs: a
-- filter on it prunes row groups by month at the scan, a subquery's is applied after it.
CREATE OR REPLACE TEMP MACRO win12_start() AS (getvariable('month')::DATE - INTERVAL 11 MONTH)::DATE;

CREATE OR REPLACE TEMP TABLE rule_inputs AS
SELECT
    getvariable('month')::DATE AS month,
    last_day(getvariable('month')::DATE) AS month_end,
    (getvariable('month')::DATE - INTERVAL 1 MONTH)::DATE AS prev_month,
    win12_start() AS win12_start,
    getvariable('dibao_standard')::STRUCT(county_code VARCHAR, urban_rural VARCHAR, standard DOUBLE)[] AS dibao_standard,
    getvariable('edge_multiplier')::DOUBLE AS edge_multiplier,
    getvariable('medical_burden_ratio')::DOUBLE AS medical_burden_ratio,
    getvariable('gradual_exit_months')::INTEGER AS gradual_exit_months,
    getvariable('major_disease_icd10_prefixes')::VARCHAR[] AS major_disease_icd10_prefixes,
    getvariable('temp_assistance_repeat')::STRUCT(count INTEGER, months INTEGER) AS temp_assistance_repeat;

CREATE OR REPLACE TEMP TABLE rule_standard AS
SELECT s.county_code, s.urban_rural, s.standard FROM (SELECT unnest(dibao_standard) AS s FROM rule_inputs);
