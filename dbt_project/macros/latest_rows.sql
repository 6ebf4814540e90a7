{#- The latest row (greatest ``order_column``) of ``relation`` for each ``key`` value that
    ``keys_query`` selects: the anchors an incremental model continues from.

    Postgres: one descent of the (key, order_column) index per key (LATERAL ... LIMIT 1), so
    the cost is the number of keys, not the length of their history. The portable default
    reads every row of those keys. -#}
{% macro latest_rows(relation, key, order_column, keys_query) -%}
    {{ return(adapter.dispatch('latest_rows')(relation, key, order_column, keys_query)) }}
{%- endmacro %}

{% macro postgres__latest_rows(relation, key, order_column, keys_query) -%}
    select t.*
    from (select distinct {{ key }} from ({{ keys_query }}) as k0) as k
    cross join lateral (
        select x.*
        from {{ relation }} as x
        where x.{{ key }} = k.{{ key }}
        order by x.{{ order_column }} desc
        limit 1
    ) as t
{%- endmacro %}

{% macro default__latest_rows(relation, key, order_column, keys_query) -%}
    select t.*
    from {{ relation }} as t
    inner join (
        select {{ key }}, max({{ order_column }}) as latest
        from {{ relation }}
        where {{ key }} in (select {{ key }} from ({{ keys_query }}) as k0)
        group by {{ key }}
    ) as latest
        on latest.{{ key }} = t.{{ key }} and latest.latest = t.{{ order_column }}
{%- endmacro %}
