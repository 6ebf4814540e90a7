{#- 外贸企业月度事实: city × month × enterprise, the base of 有进出口实绩企业数,
    which is a distinct count over a period and never a sum of months.
    Incremental like fct_trade_month. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ delete_returned_trade_files() }}", "{{ delete_replaced_trade_months() }}"],
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
    t.enterprise_code,
    sum(case when t.direction = '出口' then t.amount_cny else 0 end) as exports_cny,
    sum(case when t.direction = '进口' then t.amount_cny else 0 end) as imports_cny,
    f.file_id                                                         as source_file_id
from {{ ref('stg_raw__trade') }} as t
inner join files as f
    on f.file_id = t.file_id
where {{ new_trade_months('t.month_start') }}
group by f.city_code, f.period, f.month_start, t.enterprise_code, f.file_id
