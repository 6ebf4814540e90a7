{#- 重大项目: domestic contract investment ≥ 2亿元 (20000 万元), or foreign ≥ 3000万美元.
    One definition for every model; thresholds can be changed with dbt vars. -#}
{% macro is_major_project(currency, amount_10k) -%}
    (({{ currency }} = '人民币' and {{ amount_10k }} >= {{ var('major_project_min_10k_cny', 20000) }})
      or ({{ currency }} = '美元' and {{ amount_10k }} >= {{ var('major_project_min_10k_usd', 3000) }}))
{%- endmacro %}
