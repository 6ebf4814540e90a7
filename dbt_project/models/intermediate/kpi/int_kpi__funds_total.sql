-- funds_total (亿元) = 实际到位省外境内资金 + 实际使用外资, the foreign part converted
-- month by month: each month's inflow (YTD change) at that month's rate. The inflows and
-- rates are kept (one row per ledger in force, with its file) for kpi_contributions.
with f as (
    select
        w.city_code,
        w.period,
        w.file_id,
        cast(substr(w.period, 1, 4) as integer) as year,
        w.funds_domestic_100m_cny,
        w.fdi_100m_usd,
        r.usd_cny
    from {{ ref('int_kpi__project_window') }} as w
    left join {{ ref('usd_cny_rates') }} as r
        on r.period = w.period
),

inflows as (
    select
        *,
        fdi_100m_usd - coalesce(lag(fdi_100m_usd) over (partition by city_code, year order by period), 0)
            as fdi_month_100m_usd
    from f
)

select
    city_code,
    period,
    file_id,
    fdi_month_100m_usd,
    usd_cny,
    cast(funds_domestic_100m_cny
      + sum(fdi_month_100m_usd * usd_cny) over (
            partition by city_code, year order by period rows between unbounded preceding and current row
        ) as numeric(20, 6)) as funds_total_100m_cny
from inflows
