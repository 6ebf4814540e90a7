-- Every traced kpi_city_month cell equals the sum of its contributions exactly (at the mart's
-- precision, numeric(20, 6) in 亿元), and every city cell of a traced KPI with a value has them.
with sums as (
    select kpi_code, city_code, period,
           cast(sum(value_cny) / 100000000 as numeric(20, 6)) as traced
    from {{ ref('kpi_contributions') }}
    group by kpi_code, city_code, period
),

cells as (
    select kpi_code, city_code, period, value_ytd
    from {{ ref('kpi_city_month') }}
    where kpi_code in (select distinct kpi_code from {{ ref('kpi_contributions') }})
      and city_code <> {{ province_code() }}
      and value_ytd is not null
)

select c.kpi_code, c.city_code, c.period, c.value_ytd, s.traced
from cells as c
full outer join sums as s
    on s.kpi_code = c.kpi_code and s.city_code = c.city_code and s.period = c.period
where s.traced is null or c.value_ytd is null or s.traced <> c.value_ytd
