-- 项目台账 history: one row per project per city-month ledger in force, with the
-- project's previous ledger row and the SCD2 version the row belongs to.
--
-- The history is derived from the ledgers themselves (not from when dbt ran),
-- so a rebuild from scratch, a backfill or months loaded in any order give the
-- same versions:
--   * rows of a project are ordered by period; a row starts a new version when
--     any tracked attribute differs from the project's previous ledger row
--     (paid-in is a monthly measure, not tracked);
--   * a month where the project is missing from the ledger (a gap, or the
--     January of a city that reports 1–2月 together) creates no version: the
--     next row is compared with the last row before the gap;
--   * a corrected re-submission replaces its month's rows upstream
--     (stg_audit__current_submissions), and the history follows.
-- A table, not a view: dim_project, fct_project_month and the tests all read
-- it, and the window passes are the expensive part.
{{ config(materialized='table') }}
{%- set tracked = [
    'project_name', 'county_code', 'park_code', 'industry_chain', 'investor',
    'investor_origin', 'source_region', 'fortune500', 'currency', 'contract_amount_10k',
    'stage', 'signed_date', 'registered_date', 'started_date', 'production_date',
    'land_area_mu',
] %}

with ledgers as (
    -- every ledger in force, even one that lists no project, with the city's
    -- previous one (December before a combined 1–2月 February) and latest one
    select
        city_code,
        period,
        lag(period) over (partition by city_code order by period) as previous_ledger_period,
        max(period) over (partition by city_code)                 as latest_ledger_period
    from {{ ref('stg_audit__current_submissions') }}
    where kind = 'workbook'
),

ledger_rows as (
    select
        p.city_code,
        p.period,
        p.month_start,
        p.project_id,
        p.project_name,
        p.county_code,
        nullif(p.park_code, '') as park_code,
        p.industry_chain,
        p.investor,
        p.investor_origin,
        p.source_region,
        p.fortune500,
        p.currency,
        p.contract_amount_10k,
        p.stage,
        p.signed_date,
        p.registered_date,
        p.started_date,
        p.production_date,
        p.paid_in_cumulative_10k,
        p.land_area_mu,
        p.file_id,
        p.row_number,
        l.previous_ledger_period,
        l.latest_ledger_period
    from {{ ref('stg_submissions__projects') }} as p
    inner join ledgers as l
        on l.city_code = p.city_code
       and l.period = p.period
),

with_previous as (
    select
        r.*,
        lag(r.period) over w                 as previous_period,
        lag(r.stage) over w                  as previous_stage,
        lag(r.paid_in_cumulative_10k) over w as previous_paid_in_cumulative_10k,
        lead(r.period) over w                as next_period,
        case
            when lag(r.period) over w is null then 1
            {%- for c in tracked %}
            when r.{{ c }} is distinct from lag(r.{{ c }}) over w then 1
            {%- endfor %}
            else 0
        end as starts_version
    from ledger_rows as r
    window w as (partition by r.project_id order by r.period)
),

numbered as (
    select
        *,
        cast(sum(starts_version) over (
            partition by project_id order by period rows between unbounded preceding and current row
        ) as integer) as version_number
    from with_previous
),

versioned as (
    select
        *,
        min(period) over v                                  as version_valid_from,
        cast(count(*) over v as integer)                    as version_ledger_rows,
        -- the version's last ledger row, and where the next version starts
        last_value(period) over v                           as version_last_period,
        last_value(next_period) over v                      as version_valid_to,
        last_value(file_id) over v                          as version_last_file_id,
        last_value(row_number) over v                       as version_last_row_number,
        max(version_number) over (partition by project_id)  as last_version_number
    from numbered
    window v as (
        partition by project_id, version_number order by period
        rows between unbounded preceding and unbounded following
    )
)

select
    {{ dbt.hash(dbt.concat(['project_id', "'|'", 'version_valid_from'])) }} as project_key,
    project_id,
    city_code,
    period,
    month_start,
    version_number,
    version_valid_from,
    starts_version = 1 as is_version_start,
    period = version_last_period as is_version_end,
    version_number = last_version_number as is_current_version,
    version_valid_to,
    version_last_period,
    version_ledger_rows,
    version_last_file_id,
    version_last_row_number,
    next_period,
    previous_period,
    previous_ledger_period,
    latest_ledger_period,
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
    previous_stage,
    signed_date,
    registered_date,
    started_date,
    production_date,
    land_area_mu,
    paid_in_cumulative_10k,
    previous_paid_in_cumulative_10k,
    -- increase since the project's previous ledger row (through a gap: since the
    -- last ledger that listed it; a project new to the ledger starts from 0);
    -- unknown when the city has no earlier ledger in the warehouse
    cast(case
        when previous_ledger_period is not null
            then paid_in_cumulative_10k - coalesce(previous_paid_in_cumulative_10k, 0)
    end as numeric(18, 2)) as paid_in_month_10k,
    file_id,
    row_number
from versioned
