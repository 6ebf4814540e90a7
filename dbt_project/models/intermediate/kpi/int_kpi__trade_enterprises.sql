-- 有进出口实绩企业数: enterprises with any trade in the period, counted once
-- (distinct, never summed over months or cities). City rows and the province
-- row (430000) are both computed from the enterprise-month fact.
with em as (
    select city_code, period, substr(period, 1, 4) as year, enterprise_code
    from {{ ref('fct_trade_enterprise_month') }}
),

city_first as (
    select city_code, year, enterprise_code, min(period) as first_period
    from em group by city_code, year, enterprise_code
),

province_first as (
    select year, enterprise_code, min(period) as first_period
    from em group by year, enterprise_code
),

city_periods as (
    select city_code, period, year, count(*) as in_month
    from em group by city_code, period, year
),

province_periods as (
    select period, year, count(distinct enterprise_code) as in_month
    from em group by period, year
)

select
    p.city_code,
    p.period,
    (select count(*) from city_first as f
      where f.city_code = p.city_code and f.year = p.year and f.first_period <= p.period) as enterprises_ytd,
    p.in_month as enterprises_month
from city_periods as p

union all

select
    '430000' as city_code,
    p.period,
    (select count(*) from province_first as f
      where f.year = p.year and f.first_period <= p.period) as enterprises_ytd,
    p.in_month as enterprises_month
from province_periods as p
