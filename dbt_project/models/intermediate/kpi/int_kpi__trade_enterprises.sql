{#- 有进出口实绩企业数: enterprises with any trade in the period, counted once
    (distinct, never summed over months or cities). City rows and the province
    row (430000) are both computed from the enterprise-month fact: YTD(N) counts
    the enterprises whose first trading month of the year is ≤ N.
    Incremental by year: a build recomputes only the years whose trade files in force
    changed since the last build (a new or superseding file raises the year's highest file
    id; a return lowers its count of files), read from the few rows of audit, not the fact; a year
    left with no trade file in force (every one returned) loses its rows in the pre_hook.
    source_files came later: a table built before gets the column (append_new_columns) and its
    first build recomputes every year. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['year'],
    on_schema_change='append_new_columns',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where year not in (select substr(period, 1, 4) from {{ ref('stg_audit__current_submissions') }} where kind = 'trade'){% endif %}",
) }}

with all_em as (
    select city_code, period, substr(period, 1, 4) as year, enterprise_code, source_file_id
    from {{ ref('fct_trade_enterprise_month') }}
),

-- each year's trade files in force: what a year's rows were computed from
year_files as (
    select
        substr(period, 1, 4) as year,
        max(file_id)         as max_source_file_id,
        count(*)             as source_files
    from {{ ref('stg_audit__current_submissions') }}
    where kind = 'trade'
    group by substr(period, 1, 4)
),

{% if is_incremental() %}
{#- a table built before source_files existed gets the column only after this query: every year then -#}
{%- set counted = 'source_files' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
new_years as (
    select y.year
    from year_files as y
    {% if counted -%}
    where not exists (
        select 1 from {{ this }} as t
        where t.year = y.year
          and t.max_source_file_id = y.max_source_file_id
          and t.source_files = y.source_files
    )
    {%- endif %}
),
{% endif %}

em as (
    select * from all_em
    {% if is_incremental() %}
    -- 'YYYY' sorts before every period of year YYYY: a range on the indexed period
    where period > (select min(year) from new_years)
      and year in (select year from new_years)
    {% endif %}
),

city_new as (
    select city_code, first_period as period, count(*) as new_enterprises
    from (select city_code, min(period) as first_period from em group by city_code, year, enterprise_code) as f
    group by city_code, first_period
),

city_months as (
    select city_code, period, year, count(*) as in_month
    from em group by city_code, period, year
),

province_new as (
    select first_period as period, count(*) as new_enterprises
    from (select min(period) as first_period from em group by year, enterprise_code) as f
    group by first_period
),

province_months as (
    select period, year, count(distinct enterprise_code) as in_month
    from em group by period, year
),

rows as (
    select
        m.city_code,
        m.period,
        m.year,
        sum(coalesce(n.new_enterprises, 0)) over (
            partition by m.city_code, m.year order by m.period rows between unbounded preceding and current row
        ) as enterprises_ytd,
        m.in_month as enterprises_month
    from city_months as m
    left join city_new as n on n.city_code = m.city_code and n.period = m.period

    union all

    select
        {{ province_code() }} as city_code,
        m.period,
        m.year,
        sum(coalesce(n.new_enterprises, 0)) over (
            partition by m.year order by m.period rows between unbounded preceding and current row
        ) as enterprises_ytd,
        m.in_month as enterprises_month
    from province_months as m
    left join province_new as n on n.period = m.period
)

select
    r.city_code,
    r.period,
    r.year,
    cast(r.enterprises_ytd as bigint)   as enterprises_ytd,
    cast(r.enterprises_month as bigint) as enterprises_month,
    y.max_source_file_id,
    cast(y.source_files as bigint)      as source_files
from rows as r
inner join year_files as y on y.year = r.year
