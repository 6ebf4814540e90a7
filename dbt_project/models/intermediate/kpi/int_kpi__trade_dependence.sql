-- 外贸依存度 per city at quarter-end months: goods trade YTD (亿元) over the year's GDP
-- (seed city_gdp; last year's when the year has none yet) prorated to N/12, with the GDP
-- row used (kpi_contributions lists it as the seed input of the denominator).
with trade as (
    select * from {{ ref('int_kpi__trade_ytd') }}
),

gdp as (
    select cast(year as integer) as year, city_code, gdp_100m_cny from {{ ref('city_gdp') }}
)

select
    t.city_code,
    t.period,
    t.trade_ytd_100m_cny as numerator,
    coalesce(g.gdp_100m_cny, g_prev.gdp_100m_cny) * cast(substr(t.period, 6, 2) as integer) / 12 as denominator,
    coalesce(g.year, g_prev.year) as gdp_year,
    coalesce(g.gdp_100m_cny, g_prev.gdp_100m_cny) as gdp_100m_cny
from trade as t
left join gdp as g
    on g.city_code = t.city_code and g.year = cast(substr(t.period, 1, 4) as integer)
left join gdp as g_prev
    on g_prev.city_code = t.city_code and g_prev.year = cast(substr(t.period, 1, 4) as integer) - 1
where substr(t.period, 6, 2) in ('03', '06', '09', '12')
