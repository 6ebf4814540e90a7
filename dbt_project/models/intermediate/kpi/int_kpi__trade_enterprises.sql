{#- 有进出口实绩企业数: enterprises with any trade in the period, counted once
    (distinct, never summed over months or cities). City rows and the province
    row (430000) are both computed from the enterprise-month fact: YTD(N) counts
    the enterprises whose first trading month of the year is ≤ N.
    Incremental by year: a build recomputes only the years that received a trade
    file (new or superseding) since the last build; file ids only grow. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['year'],
    on_schema_change='fail',
) }}

with all_em as (
    select city_code, period, substr(period, 1, 4) as year, enterprise_code, source_file_id
    from {{ ref('fct_trade_enterprise_month') }}
),

{% if is_incremental() %}
-- the years of the files read since the last build: file ids only grow, and
-- source_file_id is indexed, so this reads the new rows only
new_years as (
    select distinct substr(e.period, 1, 4) as year
    from {{ ref('fct_trade_enterprise_month') }} as e
    where e.source_file_id > coalesce((select max(t.max_source_file_id) from {{ this }} as t), 0)
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

year_files as (
    select year, max(source_file_id) as max_source_file_id from em group by year
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
    y.max_source_file_id
from rows as r
inner join year_files as y on y.year = r.year
