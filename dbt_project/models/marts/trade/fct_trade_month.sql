{#- 外贸月度事实: city × month × direction × trade mode × partner × HS chapter, from the trade
    files in force. Incremental: a run reads only trade files not yet in the
    table (new months, or corrections that supersede a month) and replaces those
    city-months, so a new month costs in proportion to that month; the rows of a file the
    province returned are dropped before (pre_hook).
    stg_raw__trade is a plain select-join view, which Postgres inlines: the filter on
    month_start keeps the new months' partitions of raw.trade, and the join on file_id
    finds the files' rows there by the BRIN index (trade_file_brin). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['city_code', 'period'],
    on_schema_change='fail',
    pre_hook=["{{ delete_returned_trade_files() }}", "{{ prefer_hash_aggregation() }}"],
    indexes=[{'columns': ['period', 'city_code']}, {'columns': ['source_file_id']}],
) }}

-- depends_on: {{ ref('stg_audit__submissions') }}  (the pre_hook's returned files)

with files as (
    {{ new_trade_files() }}
),

-- The distinct enterprises of a cell are counted in two hash aggregations (cell × enterprise,
-- then cell) rather than by count(distinct), which Postgres can only do by sorting all the
-- month's rows: at 2.2 M rows that sort spilled to disk and took 1.5–2× as long. The planner,
-- guessing fewer rows, would sort here too (pre_hook prefer_hash_aggregation()).
cell_enterprises as (
    select
        t.file_id,
        t.direction,
        t.trade_mode,
        t.partner_country,
        substring(t.hs_code, 1, 2) as hs_chapter,
        t.enterprise_code,
        sum(t.amount_cny)          as amount_cny,
        sum(t.amount_usd)          as amount_usd,
        count(*)                   as detail_rows
    from {{ ref('stg_raw__trade') }} as t
    where {{ new_trade_months('t.month_start') }}
        and t.file_id in (select file_id from files)
    group by t.file_id, t.direction, t.trade_mode, t.partner_country, substring(t.hs_code, 1, 2),
        t.enterprise_code
),

cells as (
    select
        file_id,
        direction,
        trade_mode,
        partner_country,
        hs_chapter,
        sum(amount_cny)         as amount_cny,
        sum(amount_usd)         as amount_usd,
        sum(detail_rows)        as detail_rows,
        count(enterprise_code)  as enterprises
    from cell_enterprises
    group by file_id, direction, trade_mode, partner_country, hs_chapter
)

select
    f.city_code,
    f.period,
    f.month_start,
    c.direction,
    c.trade_mode,
    c.partner_country,
    c.hs_chapter,
    c.amount_cny,
    c.amount_usd,
    cast(c.amount_cny / 100000000 as numeric(20, 8)) as value_100m_cny,
    cast(c.amount_usd / 100000000 as numeric(20, 8)) as value_100m_usd,
    cast(c.detail_rows as bigint)                    as detail_rows,
    c.enterprises,
    f.file_id                                        as source_file_id
from cells as c
inner join files as f
    on f.file_id = c.file_id
