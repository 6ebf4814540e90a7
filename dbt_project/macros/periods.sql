{#- Period helpers. Postgres-specific SQL lives here only, so the models stay
    portable: another engine needs just these macros rewritten. -#}

{#- 'YYYY-MM' text -> first day of that month (date) -#}
{% macro period_start(period) -%}
    to_date({{ period }} || '-01', 'YYYY-MM-DD')
{%- endmacro %}

{#- date -> 'YYYY-MM' text -#}
{% macro to_period(d) -%}
    to_char({{ d }}, 'YYYY-MM')
{%- endmacro %}

{#- last day of the month of a date -#}
{% macro month_end(d) -%}
    (date_trunc('month', {{ d }}) + interval '1 month - 1 day')::date
{%- endmacro %}

{#- timestamptz -> the calendar date in a time zone (e.g. Asia/Shanghai) -#}
{% macro local_date(ts, tz) -%}
    cast(timezone('{{ tz }}', {{ ts }}) as date)
{%- endmacro %}

{#- the province's own code (its rows in the marts), quoted: '430000' for Hunan -#}
{% macro province_code() -%}
    '{{ var("openecon_province_code") }}'
{%- endmacro %}
