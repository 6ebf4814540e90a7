{#- post_hook: an index on ``columns`` of ``relation`` holding only the rows where ``predicate``
    is true, for reads of a few flagged rows of a table that grows with the history (dbt's
    ``indexes`` config has no WHERE). ``key`` names it, with the run's start time so that a full refresh, whose old
    table keeps its index until dbt drops it, takes a new name; a table that has one already
    (an incremental run) gets no second. -#}
{% macro partial_index(relation, key, columns, predicate) -%}
    {{ return(adapter.dispatch('partial_index')(relation, key, columns, predicate)) }}
{%- endmacro %}

{#- an engine without partial indexes reads the table -#}
{% macro default__partial_index(relation, key, columns, predicate) -%}
{%- endmacro %}

{% macro postgres__partial_index(relation, key, columns, predicate) -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select count(*) from pg_indexes where schemaname = '" ~ relation.schema ~ "' and tablename = '"
            ~ relation.identifier ~ "' and indexname like '" ~ key ~ "\\_%'").columns[0].values()[0] -%}
        {%- if found == 0 -%}
create index {{ key }}_{{ run_started_at.strftime('%Y%m%d%H%M%S') }} on {{ relation }} ({{ columns | join(', ') }})
where {{ predicate }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
