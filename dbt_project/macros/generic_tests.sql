{#- Generic data tests used by the reference seeds and staging (dbt >= 1.10: arguments go under `arguments:`). -#}

{#- No two rows share the same values in these columns (a composite key). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
  {%- set cols = combination_of_columns | join(', ') %}
select {{ cols }}, count(*) as n_rows
from {{ model }}
group by {{ cols }}
having count(*) > 1
{% endtest %}


{#- The province row (var openecon_province_code) equals the sum of its cities, per group (e.g. year, kpi_code).
    Use `config: where:` to leave out ratios, which are not additive. -#}
{% test province_is_sum_of_cities(model, column_name, group_by, city_column='city_code',
                                  tolerance=0.05) %}
  {%- set keys = group_by | join(', ') %}
with rows as (
  select {{ keys }}, {{ city_column }} as city_code, {{ column_name }} as value from {{ model }}
),
province as (
  select {{ keys }}, value as province_value from rows where city_code = {{ province_code() }}
),
cities as (
  select {{ keys }}, sum(value) as cities_sum, count(*) as n_cities
  from rows where city_code <> {{ province_code() }} group by {{ keys }}
)
select *
from province full outer join cities using ({{ keys }})
where province_value is null
   or cities_sum is null
   or abs(province_value - cities_sum) > {{ tolerance }}
{% endtest %}


{#- The unit in this column is the unit kpi_definitions gives for the row's kpi_code. -#}
{% test unit_matches_kpi_definition(model, column_name, to, kpi_column='kpi_code',
                                    kpi_field='kpi_code', unit_field='unit') %}
select m.{{ kpi_column }}, m.{{ column_name }} as unit, d.{{ unit_field }} as expected_unit
from {{ model }} as m
left join {{ to }} as d on d.{{ kpi_field }} = m.{{ kpi_column }}
where d.{{ unit_field }} is null
   or m.{{ column_name }} is distinct from d.{{ unit_field }}
{% endtest %}
