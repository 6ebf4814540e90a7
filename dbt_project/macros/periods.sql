{#- Period helpers. Postgres-specific SQL lives in the postgres__ macros only, so the
    models stay portable: another engine needs just an <adapter>__ sibling of each
    (adapter.dispatch picks it; tests/dbt/test_portable_models.py keeps the models clean). -#}

{#- 'YYYY-MM' text -> first day of that month (date) -#}
{% macro period_start(period) -%}
    {{ return(adapter.dispatch('period_start')(period)) }}
{%- endmacro %}

{% macro postgres__period_start(period) -%}
    to_date({{ period }} || '-01', 'YYYY-MM-DD')
{%- endmacro %}

{#- date -> 'YYYY-MM' text -#}
{% macro to_period(d) -%}
    {{ return(adapter.dispatch('to_period')(d)) }}
{%- endmacro %}

{% macro postgres__to_period(d) -%}
    to_char({{ d }}, 'YYYY-MM')
{%- endmacro %}

{#- last day of the month of a date -#}
{% macro month_end(d) -%}
    {{ return(adapter.dispatch('month_end')(d)) }}
{%- endmacro %}

{% macro postgres__month_end(d) -%}
    (date_trunc('month', {{ d }}) + interval '1 month - 1 day')::date
{%- endmacro %}

{#- timestamptz -> the calendar date in a time zone (e.g. Asia/Shanghai) -#}
{% macro local_date(ts, tz) -%}
    {{ return(adapter.dispatch('local_date')(ts, tz)) }}
{%- endmacro %}

{% macro postgres__local_date(ts, tz) -%}
    cast(timezone('{{ tz }}', {{ ts }}) as date)
{%- endmacro %}

{#- fresh planner statistics for a table just built (a post_hook) -#}
{% macro refresh_statistics(relation) -%}
    {{ return(adapter.dispatch('refresh_statistics')(relation)) }}
{%- endmacro %}

{% macro postgres__refresh_statistics(relation) -%}
    analyze {{ relation }}
{%- endmacro %}

{#- on-run-end: VACUUM of the models flagged meta.vacuum_for_reads that this run built, tables BI
    reads through index-only scans. It marks the pages just written all-visible (an incremental
    month is too small a share of the table for autovacuum to come soon), which a post_hook cannot:
    dbt's other threads hold snapshots older than the model's insert, and while they do no page
    it wrote is visible to all (3 years: the drill-down fetched 112 k heap rows, 367 ms p95).
    One statement, since on-run-end hooks run outside a transaction and VACUUM needs that. -#}
{% macro vacuum_for_reads(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set relations = [] -%}
    {%- for r in results if r.node.resource_type == 'model' and r.status == 'success'
                            and r.node.config.meta.get('vacuum_for_reads') -%}
        {%- do relations.append(r.node.relation_name) -%}
    {%- endfor -%}
    {{ return(adapter.dispatch('vacuum_for_reads')(relations) if relations else '') }}
{%- endmacro %}

{% macro postgres__vacuum_for_reads(relations) -%}
    vacuum {{ relations | join(', ') }}
{%- endmacro %}

{#- the province's own code (its rows in the marts), quoted: '430000' for Hunan -#}
{% macro province_code() -%}
    '{{ var("openecon_province_code") }}'
{%- endmacro %}

{#- pre_hook of a model whose grouping the planner would rather sort (it underestimates the rows):
    for this model's transaction only, hash aggregation, which spills far less -#}
{% macro prefer_hash_aggregation() -%}
    {{ return(adapter.dispatch('prefer_hash_aggregation')()) }}
{%- endmacro %}

{% macro postgres__prefer_hash_aggregation() -%}
    set local enable_sort = off
{%- endmacro %}
