{{ config(materialized="table") }}
-- Every KPI of SPEC §4 for every city-month, long form, before province totals
-- and comparisons. Ratios carry their numerator and denominator so the province
-- can recompute them from sums; value = factor × numerator / denominator.
with p as (
    select * from {{ ref('int_kpi__project_window') }}
),

funds_total as (
    select * from {{ ref('int_kpi__funds_total') }}
),

trade as (
    select * from {{ ref('int_kpi__trade_ytd') }}
),

enterprises as (
    select * from {{ ref('int_kpi__trade_enterprises') }} where city_code <> {{ province_code() }}
),

parks as (
    select
        city_code,
        period,
        sum(enterprises)             as enterprises,
        sum(above_scale_enterprises) as above_scale,
        sum(factory_used_10k_m2)     as factory_used,
        sum(factory_built_10k_m2)    as factory_built,
        sum(tax_ytd_10k_cny)         as tax_ytd,
        sum(developed_area_mu)       as developed_area
    from {{ ref('fct_park_month') }}
    group by city_code, period
),

services as (
    select city_code, period, sum(exports_10k_usd + imports_10k_usd) / 10000 as services_100m_usd
    from {{ ref('stg_raw__services_trade') }}
    group by city_code, period
),

dependence as (  -- quarter-end months: trade YTD over the year's GDP prorated to N/12
    select * from {{ ref('int_kpi__trade_dependence') }}
),

components as (
    {% set plain = [
        ('signed_projects', 'p', 'signed_projects'),
        ('major_projects_signed', 'p', 'major_projects'),
        ('fortune500_projects', 'p', 'fortune500_projects'),
        ('signed_investment', 'p', 'signed_investment_100m'),
        ('funds_domestic', 'p', 'funds_domestic_100m_cny'),
        ('fdi_actual', 'p', 'fdi_100m_usd'),
        ('funds_total', 'funds_total', 'funds_total_100m_cny'),
        ('trade_total', 'trade', 'trade_ytd_100m_cny'),
        ('exports', 'trade', 'exports_ytd_100m_cny'),
        ('imports', 'trade', 'imports_ytd_100m_cny'),
        ('trade_enterprises', 'enterprises', 'enterprises_ytd'),
        ('park_enterprises', 'parks', 'enterprises'),
        ('park_above_scale', 'parks', 'above_scale'),
        ('services_trade', 'services', 'services_100m_usd'),
    ] %}
    {% for kpi, rel, col in plain %}
    select '{{ kpi }}' as kpi_code, city_code, period,
           cast({{ col }} as numeric) as value_ytd,
           cast(null as numeric) as numerator, cast(null as numeric) as denominator,
           cast(null as numeric) as factor,
           {{ 'cast(enterprises_month as numeric)' if kpi == 'trade_enterprises' else 'cast(null as numeric)' }}
               as value_month_direct
    from {{ rel }}
    union all
    {% endfor %}
    {% set ratios = [
        ('performance_rate', 'p', 'performed_projects', 'signed_projects'),
        ('start_rate', 'p', 'started_projects', 'signed_projects'),
        ('production_rate', 'p', 'producing_projects', 'signed_projects'),
        ('funds_rate', 'p', 'paid_in_100m_cny', 'contract_100m_cny'),
        ('factory_occupancy', 'parks', 'factory_used', 'factory_built'),
        ('tax_per_mu', 'parks', 'tax_ytd', 'developed_area'),
        ('trade_dependence', 'dependence', 'numerator', 'denominator'),
    ] %}
    {# value = factor × numerator / denominator, factors in macros/kpi_measures.sql #}
    {% for kpi, rel, num, den in ratios %}
    {% set factor = ratio_factors()[kpi] %}
    select '{{ kpi }}' as kpi_code, city_code, period,
           {{ factor }} * cast({{ num }} as numeric) / nullif(cast({{ den }} as numeric), 0) as value_ytd,
           cast({{ num }} as numeric) as numerator, cast({{ den }} as numeric) as denominator,
           cast({{ factor }} as numeric) as factor,
           cast(null as numeric) as value_month_direct
    from {{ rel }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from components
