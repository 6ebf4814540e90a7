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
    province returned (ingestion/returns.py). A correction needs no such step (its city-month is
    replaced by delete+insert), but a return leaves no new file whose month would replace them.
    Returns are few: an index probe per returned file, whatever the history. -#}
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
