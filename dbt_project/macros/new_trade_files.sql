{#- The trade files in force that an incremental trade fact has not read yet:
    a new month, or a correction that supersedes one (file ids only grow).
    Shared by fct_trade_month and fct_trade_enterprise_month. -#}
{% macro new_trade_files() -%}
    select file_id, city_code, period, month_start
    from {{ ref('stg_audit__current_submissions') }}
    where kind = 'trade'
    {% if is_incremental() %}
      and file_id not in (select distinct source_file_id from {{ this }})
    {% endif %}
{%- endmacro %}
