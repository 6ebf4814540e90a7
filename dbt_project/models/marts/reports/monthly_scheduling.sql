-- 一月一调度: the project ledger in force of each city and month (fct_project_month),
-- with names and attributes of the valid dim_project version, the stage change,
-- overdue / stalled-funds flags and the city's 四率 (kpi_city_month) for the month.
-- Rules (also in marts/reports/_reports__models.yml):
--   签约超6个月未开工  is_overdue_not_started   : stage 签约/注册 and 签约日期 < month-end − 6 months
--   注册超12个月未投产 is_overdue_not_producing : stage not 投产/终止 and 注册日期 < month-end − 12 months
--   资金到位停滞      is_stalled_funds          : stage 签约/注册/开工, not fully paid in, and
--                      累计实际到位资金 ≤ the project's figure in the ledger 3 months
--                      earlier (null when that ledger does not list the project)
-- performance_appraisal counts the overdue and the terminated major projects of every quarter:
-- two partial indexes hold just those rows (7 % and 0.03 % of 3 M at 3 years; its query read all
-- of them twice, 0.62 -> 0.07 s).
-- Incremental by ledger (macros/ledger_partitions.sql): a month's rows depend on
-- that ledger, the one 3 months earlier and the month's 四率, so a new month adds
-- its own rows and a correction rebuilds from its month on.
-- depends_on: {{ ref('stg_audit__current_submissions') }}, {{ ref('stg_audit__submissions') }}, {{ ref('stg_raw__projects') }} (macros/ledger_partitions.sql)
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_ledger_partitions() }}",
    post_hook=[
        "{{ partial_index(this, 'overdue_majors', ['city_code', 'period'],
                          'is_major and (is_overdue_not_started or is_overdue_not_producing)') }}",
        "{{ partial_index(this, 'terminated_majors', ['city_code', 'period'],
                          'is_major and terminated_this_month') }}",
    ],
    indexes=[{'columns': ['city_code', 'period']}, {'columns': ['file_id']}],
) }}
with f as (
    select
        f.*,
        cast({{ dbt.last_day('f.month_start', 'month') }} as date) as month_end
    from {{ ref('fct_project_month') }} as f
    {%- if is_incremental() %}
    where f.file_id in (select file_id from ({{ ledgers_to_build() }}) as l)
    {%- endif %}
),

back3 as (
    select project_id, period, paid_in_cumulative_10k
    from {{ ref('fct_project_month') }}
),

rates as (
    select
        city_code,
        period,
        max(case when kpi_code = 'performance_rate' then value_ytd end) as performance_rate,
        max(case when kpi_code = 'start_rate' then value_ytd end)       as start_rate,
        max(case when kpi_code = 'production_rate' then value_ytd end)  as production_rate,
        max(case when kpi_code = 'funds_rate' then value_ytd end)       as funds_rate
    from {{ ref('kpi_city_month') }}
    where kpi_code in ('performance_rate', 'start_rate', 'production_rate', 'funds_rate')
    group by city_code, period
),

flagged as (
    select
        f.*,
        b.paid_in_cumulative_10k as paid_in_3m_ago_10k,
        b.project_id is not null as has_ledger_3m_ago,
        cast({{ dbt.dateadd('month', -6, 'f.month_end') }} as date)  as overdue_signed_before,
        cast({{ dbt.dateadd('month', -12, 'f.month_end') }} as date) as overdue_registered_before
    from f
    left join back3 as b
        on b.project_id = f.project_id
        -- the fact's key (project_id, period): a probe of its primary key per row
        and b.period = {{ to_period(dbt.dateadd('month', -3, 'f.month_start')) }}
)

select
    f.period,
    f.month_start,
    f.city_code,
    c.city_name,
    f.project_id,
    p.project_name,
    p.county_code,
    p.park_code,
    p.industry_chain,
    p.investor,
    p.fortune500,
    f.is_fortune500,
    f.is_major,
    f.currency,
    f.contract_amount_10k,
    f.contract_amount_100m_cny,
    f.stage,
    f.previous_stage,
    f.stage_changed,
    case when f.stage_changed
         then {{ dbt.concat(['f.previous_stage', "'→'", 'f.stage']) }} end    as stage_change_text,
    f.signed_date,
    f.registered_date,
    f.started_date,
    f.production_date,
    f.paid_in_cumulative_10k,
    f.paid_in_month_10k,
    f.paid_in_3m_ago_10k,
    coalesce(
        f.stage in ('签约', '注册') and f.signed_date < f.overdue_signed_before, false
    )                                                                           as is_overdue_not_started,
    coalesce(
        f.stage not in ('投产', '终止') and f.registered_date < f.overdue_registered_before, false
    )                                                                           as is_overdue_not_producing,
    case
        when f.stage not in ('签约', '注册', '开工') then false
        when f.paid_in_cumulative_10k >= f.contract_amount_10k then false
        when not f.has_ledger_3m_ago then null
        else f.paid_in_cumulative_10k <= f.paid_in_3m_ago_10k
    end                                                                         as is_stalled_funds,
    f.stage = '终止'                                                            as is_terminated,
    coalesce(f.stage = '终止' and f.previous_stage <> '终止', false)           as terminated_this_month,
    cast(r.performance_rate as numeric(10, 2))                                  as performance_rate,
    cast(r.start_rate as numeric(10, 2))                                        as start_rate,
    cast(r.production_rate as numeric(10, 2))                                   as production_rate,
    cast(r.funds_rate as numeric(10, 2))                                        as funds_rate,
    f.project_key,
    f.previous_ledger_period,
    f.file_id,
    f.row_number
from flagged as f
inner join {{ ref('dim_project') }} as p on p.project_key = f.project_key
inner join {{ ref('dim_city') }} as c on c.city_code = f.city_code
left join rates as r on r.city_code = f.city_code and r.period = f.period
