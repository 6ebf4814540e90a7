-- 项目维表 (SCD2): one row per project version, derived from the monthly ledgers
-- (see int_projects__versioned). A version is valid from the first period whose
-- ledger row shows its attributes to the period the next version starts
-- (exclusive); the current version has no end. A month missing from the
-- ledgers (gap, combined 1–2月) neither ends nor starts a version.
-- Rows in int_projects__versioned never change once built, but where a version
-- ends does when a later month arrives. Incremental by version
-- (macros/dim_project_state.sql): a new month rewrites the current versions it
-- changes, continuing each from the row built before (its span, last row and
-- end) with the new months' rows, and adds the versions they start; a city with
-- a corrected, returned or late ledger is worked out again from its whole
-- history. Either way equals a full refresh (tests/dbt/test_kpi.py).
-- depends_on: {{ ref('stg_audit__current_submissions') }}
{#- project_key and (project_id, valid_from) are indexed by their constraints (the yml): each
    index more costs every month's rewrite of the current versions. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='project_key',
    on_schema_change='fail',
    pre_hook="{{ delete_recomputed_cities() }}",
    post_hook="{{ record_dim_project_ledgers() }}",
    indexes=[{'columns': ['city_code', 'last_seen_period']}],
) }}
{%- set attributes = [
    'project_id', 'city_code', 'version_number', 'project_name', 'county_code', 'park_code',
    'industry_chain', 'investor', 'investor_origin', 'source_region', 'fortune500', 'currency',
    'contract_amount_10k', 'stage', 'signed_date', 'registered_date', 'started_date',
    'production_date', 'land_area_mu',
] %}

with
{%- if is_incremental() %}
changes as (
    {{ dim_project_changes() }}
),

new_rows as (
    -- a recomputed city's whole history (its rows were deleted by the pre_hook); an appended
    -- city's new months
    select v.*
    from {{ ref('int_projects__versioned') }} as v
    inner join changes as c
        on c.city_code = v.city_code
    where (c.is_append = 0 or c.reflected_period is null or v.period > c.reflected_period)
      and {{ dim_project_rows_to_read('v') }}
),

-- In an appended city, the current versions already built that the new months change: those
-- of the latest ledger built (whether they are still in the latest ledger; nearly all of a
-- month's), and those of the other projects with new rows (their span, last row or end), a
-- few new or back after a gap, looked up one by one. No other version changes.
seen_last as (
    select b.project_key, b.project_id
    from {{ this }} as b
    inner join changes as c
        on c.city_code = b.city_code and c.is_append = 1
    where b.is_current and b.last_seen_period = c.reflected_period
),

built as (
    select d.*
    from {{ this }} as d
    where d.is_current
      and d.project_key in (
          select project_key from seen_last
          union
          select b.project_key
          from {{ this }} as b
          where b.is_current
            and b.project_id in (
                select n.project_id
                from new_rows as n
                inner join changes as c
                    on c.city_code = n.city_code and c.is_append = 1
                where not exists (select 1 from seen_last as l where l.project_id = n.project_id)
            )
      )
),

starts as (
    select
        project_key,
        {%- for c in attributes %}
        {{ c }},
        {%- endfor %}
        valid_from as period,
        valid_from_date as month_start,
        first_file_id as file_id,
        first_row_number as row_number
    from built
    union all
    select
        project_key,
        {%- for c in attributes %}
        {{ c }},
        {%- endfor %}
        period,
        month_start,
        file_id,
        row_number
    from new_rows
    where is_version_start
),

-- each version's rows: those built before (as one summary each) and the new ones
rows_seen as (
    select project_key, last_seen_period as period, ledger_months as months, last_file_id as file_id,
           last_row_number as row_number
    from built
    union all
    select project_key, period, 1, file_id, row_number
    from new_rows
),
{%- else %}
starts as (
    select *
    from {{ ref('int_projects__versioned') }}
    where is_version_start
),

rows_seen as (
    select project_key, period, 1 as months, file_id, row_number
    from {{ ref('int_projects__versioned') }}
),
{%- endif %}

spans as (
    select
        project_key,
        max(period) as last_seen_period,
        cast(sum(months) as integer) as ledger_months
    from rows_seen
    group by project_key
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
        lead(s.period) over (partition by s.project_id order by s.version_number) as version_valid_to,
        sp.last_seen_period as version_last_period,
        sp.ledger_months    as version_ledger_rows,
        lr.file_id          as version_last_file_id,
        lr.row_number       as version_last_row_number,
        ll.latest_ledger_period
    from starts as s
    inner join spans as sp
        on sp.project_key = s.project_key
    inner join rows_seen as lr
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
