-- 项目维表 (SCD2): one row per project version, derived from the monthly ledgers
-- (see int_projects__versioned). A version is valid from the first period whose
-- ledger row shows its attributes to the period the next version starts
-- (exclusive); the current version has no end. A month missing from the
-- ledgers (gap, combined 1–2月) neither ends nor starts a version.
-- Where a version ends is computed here, over the whole history: rows in
-- int_projects__versioned never change once built (it is incremental), the
-- end of a version does when a later month arrives.
{{ config(indexes=[{'columns': ['project_key'], 'unique': true}]) }}
with spans as (
    select
        project_key,
        max(period) as last_seen_period,
        cast(count(*) as integer) as ledger_months
    from {{ ref('int_projects__versioned') }}
    group by project_key
),

starts as (
    select
        v.*,
        lead(v.period) over (partition by v.project_id order by v.version_number) as version_valid_to
    from {{ ref('int_projects__versioned') }} as v
    where v.is_version_start
),

latest_ledgers as (
    select city_code, max(period) as latest_ledger_period
    from {{ ref('stg_audit__current_submissions') }}
    where kind = 'workbook'
    group by city_code
),

versions as (
    select
        s.*,
        sp.last_seen_period as version_last_period,
        sp.ledger_months    as version_ledger_rows,
        lr.file_id          as version_last_file_id,
        lr.row_number       as version_last_row_number,
        ll.latest_ledger_period
    from starts as s
    inner join spans as sp
        on sp.project_key = s.project_key
    inner join {{ ref('int_projects__versioned') }} as lr
        on lr.project_key = s.project_key and lr.period = sp.last_seen_period
    left join latest_ledgers as ll
        on ll.city_code = s.city_code
)

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
from versions
