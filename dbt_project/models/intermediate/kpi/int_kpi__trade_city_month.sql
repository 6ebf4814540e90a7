{#- Goods trade per city and month (当月, yuan), and the detail rows each total sums (for
    kpi_contributions' trace): fct_trade_month summed over its partner × mode × HS chapter
    cells. Incremental like the trade facts: a build adds the city-months of the files read
    since the last one (file ids only grow), so the YTD and the contributions above it read
    14 rows a month, not the whole trade fact. A returned file's city-month is dropped (pre_hook). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['city_code', 'period'],
    on_schema_change='fail',
    pre_hook="{{ delete_returned_trade_files() }}",
) }}

-- depends_on: {{ ref('stg_audit__submissions') }}  (the pre_hook's returned files)

select
    city_code,
    period,
    sum(case when direction = '出口' then amount_cny else 0 end) as exports_cny,
    sum(case when direction = '进口' then amount_cny else 0 end) as imports_cny,
    sum(case when direction = '出口' then detail_rows else 0 end) as exports_rows,
    sum(case when direction = '进口' then detail_rows else 0 end) as imports_rows,
    max(source_file_id)                                          as source_file_id
from {{ ref('fct_trade_month') }}
{% if is_incremental() %}
-- source_file_id is indexed in fct_trade_month: this reads the new files' cells only
where source_file_id > (select coalesce(max(source_file_id), 0) from {{ this }})
{% endif %}
group by city_code, period
