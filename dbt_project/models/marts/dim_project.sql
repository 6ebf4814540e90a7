-- 项目维表 (SCD2): one row per project version, derived from the monthly ledgers
-- (see int_projects__versioned). A version is valid from the first period whose
-- ledger row shows its attributes to the period the next version starts
-- (exclusive); the current version has no end. A month missing from the
-- ledgers (gap, combined 1–2月) neither ends nor starts a version.
-- One pass over the version-start rows: the version's end and last row come
-- from window functions upstream, not from a self-join.
select
    project_key,
    project_id,
    city_code,
    version_number,
    project_name,
    county_code,
    park_code,
    industry_chain,
    investor,
    investor_origin,
    source_region,
    fortune500,
    currency,
    contract_amount_10k,
    stage,
    signed_date,
    registered_date,
    started_date,
    production_date,
    land_area_mu,
    {{ is_major_project('currency', 'contract_amount_10k') }}           as is_major,
    fortune500 <> '无'                                                    as is_fortune500,
    period                                                                as valid_from,
    month_start                                                           as valid_from_date,
    version_valid_to                                                      as valid_to,
    cast({{ dbt.concat(['version_valid_to', "'-01'"]) }} as date)         as valid_to_date,
    version_valid_to is null                                              as is_current,
    version_last_period                                                   as last_seen_period,
    version_last_period = latest_ledger_period                            as is_in_latest_ledger,
    version_ledger_rows                                                   as ledger_months,
    file_id                                                               as first_file_id,
    row_number                                                            as first_row_number,
    version_last_file_id                                                  as last_file_id,
    version_last_row_number                                               as last_row_number
from {{ ref('int_projects__versioned') }}
where is_version_start
