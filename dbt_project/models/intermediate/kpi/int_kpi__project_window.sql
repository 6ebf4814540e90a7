-- Project KPIs of each ledger in force (city C, period P = year Y, month N), from
-- fct_project_month (where conversions and the major-project rule live):
-- projects signed between 1 Jan Y and the end of P, the 四率 numerators and
-- denominators, and funds paid in since the December Y−1 ledger.
-- Incremental by ledger (macros/ledger_partitions.sql): a ledger's row reads that
-- ledger and the December before it, which is earlier, so a correction of that
-- December rebuilds this row too.
-- depends_on: {{ ref('stg_audit__current_submissions') }}, {{ ref('stg_audit__submissions') }}, {{ ref('stg_raw__projects') }} (macros/ledger_partitions.sql)
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_ledger_partitions() }}",
    indexes=[{'columns': ['file_id']}, {'columns': ['city_code', 'period']}],
) }}
with ledgers as (  -- every ledger to build, even one that lists no project
    {{ ledgers_to_build() }}
),

ledger as (
    select f.*, cast(substr(f.period, 1, 4) as integer) as year
    from {{ ref('fct_project_month') }} as f
    where f.file_id in (select file_id from ledgers)
),

signed as (  -- the components of macros/kpi_measures.sql, which the trace decomposes too
    select
        city_code,
        period,
        {%- for name, c in project_window_components().items() %}
        sum(case when {{ c.when }} then {{ c.value }} else 0 end) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from ledger
    where signed_in_year
    group by city_code, period
),

ledger_years as (
    select city_code, cast(substr(period, 1, 4) as integer) as year
    from ledgers
),

-- Paid-in at the end of last year, per project, where the city sent a December ledger. The years
-- come from the few ledgers, not from their rows: the planner, which expects a handful of rows
-- from ledgers to build, would look each row's December up by itself (1.9 -> 1.0 s a month at
-- the province's volume).
last_december as (
    {{ last_december_paid_in('ledger_years') }}
),

december_ledgers as (
    select distinct city_code, cast(substr(period, 1, 4) as integer) + 1 as for_year
    from {{ ref('stg_audit__current_submissions') }}
    where kind = 'workbook' and substr(period, 6, 2) = '12'
),

funds as (
    select
        l.city_code,
        l.period,
        -- null when there is no December ledger to measure from: unknown, not zero
        case when max(dl.for_year) is not null then coalesce(sum(case when l.currency = '人民币'
            then l.paid_in_cumulative_10k - coalesce(d.paid_in_cumulative_10k, 0) end), 0) / 10000 end
            as funds_domestic_100m_cny,
        case when max(dl.for_year) is not null then coalesce(sum(case when l.currency = '美元'
            then l.paid_in_cumulative_10k - coalesce(d.paid_in_cumulative_10k, 0) end), 0) / 10000 end
            as fdi_100m_usd
    from ledger as l
    left join last_december as d
        on d.city_code = l.city_code and d.project_id = l.project_id
       and d.period = cast(l.year - 1 as {{ dbt.type_string() }}) || '-12'
    left join december_ledgers as dl
        on dl.city_code = l.city_code and dl.for_year = l.year
    group by l.city_code, l.period
)

select
    g.city_code,
    g.period,
    g.file_id,
    g.previous_ledger_period,
    cast(coalesce(s.signed_projects, 0) as integer)                     as signed_projects,
    cast(coalesce(s.major_projects, 0) as integer)                      as major_projects,
    cast(coalesce(s.fortune500_projects, 0) as integer)                 as fortune500_projects,
    cast(coalesce(s.signed_investment_100m, 0) as numeric(20, 6))       as signed_investment_100m,
    cast(coalesce(s.performed_projects, 0) as integer)                  as performed_projects,
    cast(coalesce(s.started_projects, 0) as integer)                    as started_projects,
    cast(coalesce(s.producing_projects, 0) as integer)                  as producing_projects,
    cast(coalesce(s.paid_in_100m_cny, 0) as numeric(20, 6))             as paid_in_100m_cny,
    cast(coalesce(s.contract_100m_cny, 0) as numeric(20, 6))            as contract_100m_cny,
    cast(f.funds_domestic_100m_cny as numeric(20, 6))                   as funds_domestic_100m_cny,
    cast(f.fdi_100m_usd as numeric(20, 6))                              as fdi_100m_usd
from ledgers as g
left join signed as s on s.city_code = g.city_code and s.period = g.period
left join funds as f on f.city_code = g.city_code and f.period = g.period
