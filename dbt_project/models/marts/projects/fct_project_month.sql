-- 项目月度事实: one row per project and month, i.e. per row of each ledger in
-- force, with the stage change and the funds paid in since the previous ledger.
--
-- Currency: amounts stay as submitted (万元 / 万美元, see currency) and are also
-- given in 亿元. 合同投资额 in 美元 converts at the rate of the signing month
-- (as the signed_investment KPI does), or at the period's rate while the project
-- is unsigned; paid-in converts at the period's rate. Rates come from the seed
-- usd_cny_rates; a missing rate leaves the 亿元 figure null (and fails a test).
-- Incremental by ledger like its source (macros/ledger_partitions.sql): a new
-- month adds that month's rows; a correction rebuilds from its month on.
-- depends_on: {{ ref('stg_audit__current_submissions') }}, {{ ref('stg_audit__submissions') }}, {{ ref('stg_raw__projects') }} (macros/ledger_partitions.sql)
{#- A project's rows are found by the primary key (project_id, period): a second index led by
    project_id took each month's rows at random leaf pages over the whole history too (its
    insert at 3 years of the province's volume: 2.0-2.6 -> 1.25-1.4 s without it). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_ledger_partitions() }}",
    indexes=[
        {'columns': ['file_id']},
        {'columns': ['city_code', 'period']},
    ],
) }}
with rows as (
    select v.*
    from {{ ref('int_projects__versioned') }} as v
    {%- if is_incremental() %}
    where v.file_id in (select file_id from ({{ ledgers_to_build() }}) as l)
    {%- endif %}
),

rates as (
    select
        cast({{ dbt.concat(['period', "'-01'"]) }} as date) as month_start,
        usd_cny
    from {{ ref('usd_cny_rates') }}
),

converted as (
    select
        r.*,
        cast(case when r.currency = '美元'
                  then case when r.signed_date is null then pr.usd_cny else sr.usd_cny end
                  else 1 end as numeric(10, 4))                  as contract_fx_rate,
        cast(case when r.currency = '美元' then pr.usd_cny else 1 end
             as numeric(10, 4))                                  as period_fx_rate
    from rows as r
    left join rates as pr
        on pr.month_start = r.month_start
    left join rates as sr
        on sr.month_start = cast({{ dbt.date_trunc('month', 'r.signed_date') }} as date)
)

select
    city_code,
    period,
    month_start,
    project_id,
    project_key,
    version_number,
    stage,
    previous_stage,
    previous_stage is not null and stage <> previous_stage                    as stage_changed,
    previous_period is null and previous_ledger_period is not null            as is_new_in_ledger,
    previous_period,
    previous_ledger_period,
    cast(case when previous_ledger_period is not null then
        (cast(substring(period, 1, 4) as integer) * 12 + cast(substring(period, 6, 2) as integer))
        - (cast(substring(previous_ledger_period, 1, 4) as integer) * 12
           + cast(substring(previous_ledger_period, 6, 2) as integer))
    end as integer)                                                           as months_since_previous_ledger,
    signed_date,
    registered_date,
    started_date,
    production_date,
    currency,
    contract_amount_10k,
    contract_fx_rate,
    cast(round(contract_amount_10k * contract_fx_rate / 10000, 6) as numeric(20, 6))
                                                                              as contract_amount_100m_cny,
    paid_in_cumulative_10k,
    cast(paid_in_month_10k as numeric(18, 2))                                 as paid_in_month_10k,
    period_fx_rate,
    cast(round(paid_in_cumulative_10k * period_fx_rate / 10000, 6) as numeric(20, 6))
                                                                              as paid_in_cumulative_100m_cny,
    cast(round(paid_in_month_10k * period_fx_rate / 10000, 6) as numeric(20, 6))
                                                                              as paid_in_month_100m_cny,
    {{ is_major_project('currency', 'contract_amount_10k') }}               as is_major,
    fortune500 <> '无'                                                        as is_fortune500,
    coalesce(
        signed_date >= cast({{ dbt.date_trunc('year', 'month_start') }} as date)
        and signed_date <= cast({{ dbt.last_day('month_start', 'month') }} as date),
        false
    )                                                                         as signed_in_year,
    file_id,
    row_number
from converted
