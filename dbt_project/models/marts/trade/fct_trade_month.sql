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
    pre_hook="{{ delete_returned_trade_files() }}",
    indexes=[{'columns': ['period', 'city_code']}, {'columns': ['source_file_id']}],
) }}

-- depends_on: {{ ref('stg_audit__submissions') }}  (the pre_hook's returned files)

with files as (
    {{ new_trade_files() }}
)

select
    f.city_code,
    f.period,
    f.month_start,
    t.direction,
    t.trade_mode,
    t.partner_country,
    substring(t.hs_code, 1, 2)                           as hs_chapter,
    sum(t.amount_cny)                                    as amount_cny,
    sum(t.amount_usd)                                    as amount_usd,
    cast(sum(t.amount_cny) / 100000000 as numeric(20, 8)) as value_100m_cny,
    cast(sum(t.amount_usd) / 100000000 as numeric(20, 8)) as value_100m_usd,
    count(*)                                             as detail_rows,
    count(distinct t.enterprise_code)                    as enterprises,
    f.file_id                                            as source_file_id
from {{ ref('stg_raw__trade') }} as t
inner join files as f
    on f.file_id = t.file_id
where {{ new_trade_months('t.month_start') }}
group by f.city_code, f.period, f.month_start, t.direction, t.trade_mode, t.partner_country,
    substring(t.hs_code, 1, 2), f.file_id
