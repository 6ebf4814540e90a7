{#- 指标溯源: each kpi_city_month value of a city decomposed into the submission files it sums.

    Goods trade (trade_total, exports, imports) so far: a city's 1–N月 value is Σ 当月 of its
    trade files in force for months 1..N of the year (int_kpi__trade_ytd), so each contributing
    file is one row here with its month, its partial sum in yuan (exact) and the rows it holds.
    The sum of a cell's partials, in 亿元 at the mart's precision, is the cell's value exactly
    (tests/marts/kpi/assert_kpi_contributions_reconcile.sql). A province figure is the sum of
    its cities' figures (kpi_city_month): it is traced through its cities, not listed here.
    A table: a handful of rows per city-month, read from the per-city month totals. -#}
{{ config(
    materialized='table',
    indexes=[{'columns': ['kpi_code', 'city_code', 'period']}, {'columns': ['file_id']}],
) }}

with months as (
    select city_code, period, exports_cny, imports_cny, source_file_id
    from {{ ref('int_kpi__trade_city_month') }}
),

measures as (
    select city_code, period, source_file_id, 'trade_total' as kpi_code, exports_cny + imports_cny as value_cny,
           cast(null as {{ dbt.type_string() }}) as direction
    from months
    union all
    select city_code, period, source_file_id, 'exports', exports_cny, '出口' from months
    union all
    select city_code, period, source_file_id, 'imports', imports_cny, '进口' from months
),

cells as (
    select k.kpi_code, k.city_code, k.period
    from {{ ref('kpi_city_month') }} as k
    where k.kpi_code in ('trade_total', 'exports', 'imports')
      and k.city_code <> {{ province_code() }}
      and k.value_ytd is not null
)

select
    c.kpi_code,
    c.city_code,
    c.period,
    m.period                                          as source_period,
    m.source_file_id                                  as file_id,
    s.file_name,
    s.sha256,
    s.received_at,
    'trade'                                           as source_kind,
    m.direction,
    s.rows                                            as file_rows,
    cast(m.value_cny as numeric(24, 2))               as value_cny,
    cast(m.value_cny / 100000000 as numeric(20, 8))   as value_100m_cny
from cells as c
inner join measures as m
    on m.kpi_code = c.kpi_code
   and m.city_code = c.city_code
   and substr(m.period, 1, 4) = substr(c.period, 1, 4)
   and m.period <= c.period
inner join {{ source('audit', 'submissions_in_force') }} as s
    on s.file_id = m.source_file_id
