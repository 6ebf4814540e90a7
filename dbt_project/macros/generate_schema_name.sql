{#- Use the folder's schema (staging, marts, ...) as is, not <target>_<schema>:
    BI tools and auditors query fixed schema names (SPEC §4). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
