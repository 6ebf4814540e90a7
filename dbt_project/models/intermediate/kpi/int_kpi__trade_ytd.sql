-- Goods trade year to date (亿元): Σ 当月 of the trade files in force for months
-- 1..N of the year. A combined 1–2月 file is the city's 02 month.
with month_totals as (
    select city_code, period, exports_cny, imports_cny
    from {{ ref('int_kpi__trade_city_month') }}
)

select
    city_code,
    period,
    cast(sum(exports_cny) over w / 100000000 as numeric(20, 6))               as exports_ytd_100m_cny,
    cast(sum(imports_cny) over w / 100000000 as numeric(20, 6))               as imports_ytd_100m_cny,
    cast(sum(exports_cny + imports_cny) over w / 100000000 as numeric(20, 6)) as trade_ytd_100m_cny
from month_totals
window w as (partition by city_code, substr(period, 1, 4) order by period
             rows between unbounded preceding and current row)
