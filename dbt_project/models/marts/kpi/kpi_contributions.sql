{#- 指标溯源: each kpi_city_month value of a city decomposed into the inputs it is computed from,
    one row per contributing file (or seed) and part, for every KPI of kpi_definitions:

      part        value (flows, stocks), numerator / denominator (ratios), distinct (distinct counts)
      term        what the partial is (see the contract in _kpi__models.yml)
      value       the partial in `unit`: the KPI's own unit for value / distinct, the part's unit
                  for a ratio's numerator and denominator

    The rule per cell (assert_kpi_contributions_reconcile proves it at every build, exactly):
      flows, stocks   round(Σ value, part_scale) = value_ytd
      distinct        Σ value = value_ytd (each file adds the enterprises first seen in its month)
      ratios          ratio_factor × round(Σ numerator, part_scale) / round(Σ denominator, part_scale)
                      = value_ytd (part_scale null: exact, nothing rounded)

    Where the partials come from (the same intermediate models kpi_city_month is built from):
      goods trade         Σ 当月 of the trade files of months 1..N (int_kpi__trade_city_month; a
                          combined 1–2月 file is the 02 month)
      trade_enterprises   per trade file of months 1..N, the enterprises whose first month of the
                          year it is (int_kpi__trade_enterprises)
      trade_dependence    the trade files (numerator, 亿元) and the GDP seed (denominator, city_gdp
                          × N/12: source_kind seed)
      project KPIs        the ledger of the period (int_kpi__project_contributions); funds paid in
                          also the December Y−1 ledger (its base, negative)
      funds_total         the domestic part (ledger and December) and each month's foreign inflow
                          at that month's rate (int_kpi__funds_total), one row per ledger of 1..N
      parks, services     the workbook of the period, sheet 园区情况 / 服务贸易
    Province figures are computed from their cities' (kpi_city_month): traced through them.
    A table of a few rows per cell, read from per-ledger and per-city-month intermediates (the
    project and trade ones incremental by ledger and by file: the trade rows each file's partial
    reads come with its city-month totals, not from a pass over fct_trade_month, which grew with
    the history: 0.65 s on 1 year, 3.1 s on 3 at the province's volume). -#}
{{ config(
    materialized='table',
    indexes=[{'columns': ['kpi_code', 'city_code', 'period']}, {'columns': ['file_id']}],
) }}
{%- set factors = ratio_factors() %}

with cells as (
    select k.kpi_code, k.city_code, k.period
    from {{ ref('kpi_city_month') }} as k
    where k.city_code <> {{ province_code() }}
      and k.value_ytd is not null
),

-- a city-month's trade is one file in force (a correction replaces the month)
trade_months as (
    select m.city_code, m.period, m.exports_cny, m.imports_cny, m.source_file_id, m.exports_rows, m.imports_rows
    from {{ ref('int_kpi__trade_city_month') }} as m
),

-- per trade file: the partial of each goods-trade KPI (the month's own rows)
trade_measures as (
    select city_code, period, source_file_id, 'trade_total' as kpi_code, 'value' as part,
           exports_cny + imports_cny as value_cny, exports_rows + imports_rows as rows_used,
           cast(null as {{ dbt.type_string() }}) as direction
    from trade_months
    union all
    select city_code, period, source_file_id, 'exports', 'value', exports_cny, exports_rows, '出口' from trade_months
    union all
    select city_code, period, source_file_id, 'imports', 'value', imports_cny, imports_rows, '进口' from trade_months
    union all
    select city_code, period, source_file_id, 'trade_dependence', 'numerator', exports_cny + imports_cny,
           exports_rows + imports_rows, cast(null as {{ dbt.type_string() }})
    from trade_months
),

-- 有进出口实绩企业数: YTD(N) = Σ over the months 1..N of the enterprises first seen that month
new_enterprises as (
    select
        e.city_code,
        e.period,
        e.enterprises_ytd - coalesce(lag(e.enterprises_ytd) over (
            partition by e.city_code, e.year order by e.period), 0) as new_enterprises,
        m.source_file_id,
        m.exports_rows + m.imports_rows as rows_used
    from {{ ref('int_kpi__trade_enterprises') }} as e
    inner join trade_months as m on m.city_code = e.city_code and m.period = e.period
    where e.city_code <> {{ province_code() }}
),

parts as (
    -- goods trade and trade_dependence's numerator: the trade files of months 1..N
    select
        c.kpi_code, c.city_code, c.period, t.part, 'amount_cny' as term, t.period as source_period,
        t.source_file_id as file_id, 'trade' as source_kind, cast(null as {{ dbt.type_string() }}) as sheet,
        t.direction, t.rows_used, cast(t.value_cny as numeric) / 100000000 as value, '亿元' as unit,
        6 as part_scale, cast(null as numeric) as fx_rate, cast(null as numeric) as value_100m_usd,
        t.value_cny
    from cells as c
    inner join trade_measures as t
        on t.kpi_code = c.kpi_code and t.city_code = c.city_code
       and substr(t.period, 1, 4) = substr(c.period, 1, 4) and t.period <= c.period

    union all

    -- trade_dependence's denominator: the GDP seed, prorated to N/12
    select
        c.kpi_code, c.city_code, c.period, 'denominator', 'gdp_prorated', cast(d.gdp_year as {{ dbt.type_string() }}),
        cast(null as bigint), 'seed', cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }}),
        1, cast(d.denominator as numeric), '亿元', cast(null as integer), cast(null as numeric),
        cast(null as numeric), cast(null as numeric)
    from cells as c
    inner join {{ ref('int_kpi__trade_dependence') }} as d on d.city_code = c.city_code and d.period = c.period
    where c.kpi_code = 'trade_dependence'

    union all

    select
        c.kpi_code, c.city_code, c.period, 'distinct', 'new_enterprises', n.period, n.source_file_id, 'trade',
        cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }}), n.rows_used,
        cast(n.new_enterprises as numeric), '家', 0, cast(null as numeric), cast(null as numeric),
        cast(null as numeric)
    from cells as c
    inner join new_enterprises as n
        on n.city_code = c.city_code and substr(n.period, 1, 4) = substr(c.period, 1, 4) and n.period <= c.period
    where c.kpi_code = 'trade_enterprises'

    union all

    -- project KPIs: the ledger of the period (and for funds the December Y−1 ledger)
    select
        c.kpi_code, c.city_code, c.period, p.part, p.term, p.source_period, p.source_file_id, 'workbook',
        '项目台账', cast(null as {{ dbt.type_string() }}), p.rows_used, p.value, p.unit, p.part_scale,
        cast(null as numeric), cast(null as numeric), cast(null as numeric)
    from cells as c
    inner join {{ ref('int_kpi__project_contributions') }} as p
        on p.kpi_code = c.kpi_code and p.city_code = c.city_code and p.period = c.period

    union all

    -- funds_total: the domestic part as funds_domestic ...
    select
        c.kpi_code, c.city_code, c.period, p.part, 'domestic_' || p.term, p.source_period, p.source_file_id,
        'workbook', '项目台账', cast(null as {{ dbt.type_string() }}), p.rows_used, p.value, '亿元',
        p.part_scale, cast(null as numeric), cast(null as numeric), cast(null as numeric)
    from cells as c
    inner join {{ ref('int_kpi__project_contributions') }} as p
        on p.kpi_code = 'funds_domestic' and p.city_code = c.city_code and p.period = c.period
    where c.kpi_code = 'funds_total'

    union all

    -- ... and each month's foreign inflow (change of fdi_actual since the previous ledger of the
    -- year) at that month's rate
    select
        c.kpi_code, c.city_code, c.period, 'value', 'fdi_inflow', f.period, f.file_id, 'workbook', '项目台账',
        cast(null as {{ dbt.type_string() }}), cast(null as integer), f.fdi_month_100m_usd * f.usd_cny, '亿元', 6,
        f.usd_cny, f.fdi_month_100m_usd, cast(null as numeric)
    from cells as c
    inner join {{ ref('int_kpi__funds_total') }} as f
        on f.city_code = c.city_code and substr(f.period, 1, 4) = substr(c.period, 1, 4) and f.period <= c.period
    where c.kpi_code = 'funds_total'

    union all

    -- parks: Σ over the parks of the city in the period's workbook
    {%- for m in park_measures() %}
    select
        c.kpi_code, c.city_code, c.period, '{{ m.part }}', '{{ m.column }}', p.period, p.file_id, 'workbook',
        '园区情况', cast(null as {{ dbt.type_string() }}), cast(count(*) as integer),
        cast(sum(p.{{ m.column }}) as numeric), '{{ m.unit }}', {{ m.scale }},
        cast(null as numeric), cast(null as numeric), cast(null as numeric)
    from cells as c
    inner join {{ ref('fct_park_month') }} as p on p.city_code = c.city_code and p.period = c.period
    where c.kpi_code = '{{ m.kpi }}'
    group by c.kpi_code, c.city_code, c.period, p.period, p.file_id

    union all
    {%- endfor %}

    -- services trade: 出口 and 进口 of the period's 服务贸易 sheet (YTD, 万美元 → 亿美元)
    {%- for direction, column in [('exports', 'exports_10k_usd'), ('imports', 'imports_10k_usd')] %}
    select
        c.kpi_code, c.city_code, c.period, 'value', '{{ column }}', s.period, s.file_id, 'workbook', '服务贸易',
        cast(null as {{ dbt.type_string() }}), cast(count(*) as integer),
        cast(sum(s.{{ column }}) as numeric) / 10000, '亿美元', cast(null as integer),
        cast(null as numeric), cast(null as numeric), cast(null as numeric)
    from cells as c
    inner join {{ ref('stg_raw__services_trade') }} as s on s.city_code = c.city_code and s.period = c.period
    where c.kpi_code = 'services_trade'
    group by c.kpi_code, c.city_code, c.period, s.period, s.file_id
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select
    p.kpi_code,
    p.city_code,
    p.period,
    p.part,
    p.term,
    p.source_period,
    p.file_id,
    case when p.source_kind = 'seed' then 'city_gdp.csv' else s.file_name end     as file_name,
    s.sha256,
    s.received_at,
    p.source_kind,
    p.sheet,
    p.direction,
    s.rows                                                                        as file_rows,
    cast(p.rows_used as integer)                                                  as rows_used,
    p.value,
    p.unit,
    cast(p.part_scale as integer)                                                 as part_scale,
    cast(case p.kpi_code
        {%- for kpi, factor in factors.items() %}
        when '{{ kpi }}' then {{ factor }}
        {%- endfor %}
    end as numeric)                                                               as ratio_factor,
    p.fx_rate,
    p.value_100m_usd,
    cast(p.value_cny as numeric(24, 2))                                           as value_cny,
    cast(p.value_cny / 100000000 as numeric(20, 8))                               as value_100m_cny
from parts as p
left join {{ source('audit', 'submissions_in_force') }} as s
    on s.file_id = p.file_id
