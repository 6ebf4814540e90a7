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
-- Incremental by ledger (macros/ledger_partitions.sql): a run builds only the
-- ledgers not built yet, continuing each project from its last row already in
-- the table (its "anchor"). Only backward-looking columns live here, so rows
-- once built never change; where a version ends is dim_project's business.
-- depends_on: {{ ref('stg_audit__current_submissions') }}, {{ ref('stg_audit__submissions') }}, {{ ref('stg_raw__projects') }} (macros/ledger_partitions.sql)
{#- post_hook: the month just appended lies past the planner's statistics; without fresh ones it
    takes the month's 110 k rows for one and plans dim_project's joins as nested loops.
    Indexes only for what reads this table by them: an index on a key spread over the history
    (project_key, a hash) takes a month's rows at random leaf pages all over it, a cost that grows
    with the history (its insert at 3 years of the province's volume: 2.2 -> 1.4 s without it). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_ledger_partitions() }}",
    post_hook="{{ refresh_statistics(this) }}",
    indexes=[
        {'columns': ['project_id', 'period']},
        {'columns': ['city_code', 'period']},
        {'columns': ['file_id']},
    ],
) }}
{%- set tracked = [
    'project_name', 'county_code', 'park_code', 'industry_chain', 'investor',
    'investor_origin', 'source_region', 'fortune500', 'currency', 'contract_amount_10k',
    'stage', 'signed_date', 'registered_date', 'started_date', 'production_date',
    'land_area_mu',
] %}
{%- set carried = ['city_code', 'period', 'month_start', 'project_id'] + tracked + [
    'paid_in_cumulative_10k', 'file_id', 'row_number', 'previous_ledger_period',
] %}

with ledgers as (
    {{ ledgers_to_build() }}
),

new_rows as (
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
        p.land_area_mu,
        p.paid_in_cumulative_10k,
        p.file_id,
        p.row_number,
        l.previous_ledger_period
    from {{ ref('stg_raw__projects') }} as p
    inner join ledgers as l
        on l.file_id = p.file_id
),

{%- if is_incremental() %}
-- Each project's last row already built is where its new rows continue from (its anchor).
-- For the projects its city's last built ledger lists, that is their row there: one range of
-- the (city_code, period) index a city (macros/ledger_partitions.sql), all of it (an anchor of
-- a project the new ledger no longer lists yields no row). Only the others (new
-- projects, or back after a gap) are looked up one by one, a descent of the (project_id, period)
-- index each: for all of a month's 110 k projects that took 4 s at scale 10. (A project id
-- carries its city's code, ingestion/validate.py, so a project has rows in one city only.)
in_last_built as (
    select x.*
    from {{ this }} as x
    where {{ last_built_ledgers('x') }}
),

anchors as (
    select * from in_last_built
    union all
    {{ latest_rows(this, 'project_id', 'period',
                   'select n.project_id from new_rows as n where not exists '
                   '(select 1 from in_last_built as a where a.project_id = n.project_id)') }}
),
{%- endif %}

chained as (
    {%- if is_incremental() %}
    select
        {%- for c in carried %}
        {{ c }},
        {%- endfor %}
        1 as is_anchor,
        version_number as anchor_version_number,
        version_valid_from as anchor_version_valid_from
    from anchors
    union all
    {%- endif %}
    select
        {%- for c in carried %}
        {{ c }},
        {%- endfor %}
        0 as is_anchor,
        cast(null as integer) as anchor_version_number,
        cast(null as {{ dbt.type_string() }}) as anchor_version_valid_from
    from new_rows
),

with_previous as (
    select
        r.*,
        lag(r.period) over w                 as previous_period,
        lag(r.stage) over w                  as previous_stage,
        lag(r.paid_in_cumulative_10k) over w as previous_paid_in_cumulative_10k,
        case
            when r.is_anchor = 1 then 0
            when lag(r.period) over w is null then 1
            {%- for c in tracked %}
            when r.{{ c }} is distinct from lag(r.{{ c }}) over w then 1
            {%- endfor %}
            else 0
        end as starts_version
    from chained as r
    window w as (partition by r.project_id order by r.period)
),

versioned as (
    select
        *,
        cast(coalesce(max(anchor_version_number) over (partition by project_id), 0)
             + sum(starts_version) over running as integer) as version_number,
        -- periods only grow along a project, so the latest version start is the max
        max(case when is_anchor = 1 then anchor_version_valid_from
                 when starts_version = 1 then period end) over running as version_valid_from
    from with_previous
    window running as (partition by project_id order by period rows between unbounded preceding and current row)
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
    previous_period,
    previous_ledger_period,
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
where is_anchor = 0
