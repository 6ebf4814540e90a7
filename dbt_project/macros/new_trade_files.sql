{#- The trade files in force that an incremental trade fact has not read yet:
    a new month, or a correction that supersedes one (file ids only grow).
    Shared by fct_trade_month and fct_trade_enterprise_month. -#}
{% macro new_trade_files() -%}
    select s.file_id, s.city_code, s.period, s.month_start
    from {{ ref('stg_audit__current_submissions') }} as s
    where s.kind = 'trade'
    {% if is_incremental() %}
      -- an index probe per file in force (source_file_id is indexed), not a scan of the table
      and not exists (select 1 from {{ this }} as b where b.source_file_id = s.file_id)
    {% endif %}
{%- endmacro %}


{#- A condition on the trade rows' month_start (raw.trade's partition key) that keeps the months
    of new_trade_files(): a list of constants, because Postgres prunes partitions when it plans
    on constants, and a join alone would make it look into every month's partition. -#}
{% macro new_trade_months(column) -%}
    {%- if execute and is_incremental() -%}
        {%- set months = run_query("select distinct month_start from (" ~ new_trade_files() ~ ") as f")
                         .columns[0].values() -%}
        {%- if months | length == 0 -%}
            1 = 0
        {%- else -%}
            {{ column }} in ({% for m in months | sort %}cast('{{ m }}' as date){{ ", " if not loop.last }}{% endfor %})
        {%- endif -%}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{#- pre_hook of the trade models built from new_trade_files(): drop the rows of trade files the
    province returned (ingestion/returns.py): a return leaves no new file whose month would
    replace them. Returns are few: an index probe per returned file, whatever the history. -#}
{% macro delete_returned_trade_files() -%}
{%- if is_incremental() %}
delete from {{ this }}
where source_file_id in (
    select s.file_id
    from {{ ref('stg_audit__submissions') }} as s
    where s.kind = 'trade' and s.returned_at is not null
)
{%- endif %}
{%- endmacro %}


{#- pre_hook of the trade models built from new_trade_files(), which append: drop the rows of the
    city-months a new file in force replaces (a correction, or a month re-sent after a return).
    The city-months are constants found when the hook runs, so Postgres probes the (city_code,
    period) index for each: dbt's delete+insert joined the whole fact with its unanalysed
    temporary table, a scan of every row (2.1 s at 3 years of the province's volume, growing
    with the history), and a join with new_trade_files() is planned the same way. -#}
{% macro delete_replaced_trade_months() -%}
{%- if execute and is_incremental() %}
    {%- set cells = run_query("select distinct city_code, period from (" ~ new_trade_files() ~ ") as f"
                               ~ " order by city_code, period").rows -%}
    {%- if cells | length > 0 %}
delete from {{ this }}
where {% for c in cells %}(city_code = '{{ c[0] }}' and period = '{{ c[1] }}'){{ "\n   or " if not loop.last }}{% endfor %}
    {%- endif %}
{%- endif %}
{%- endmacro %}
