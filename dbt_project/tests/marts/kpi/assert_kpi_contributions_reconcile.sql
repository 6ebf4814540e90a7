-- Every city cell of kpi_city_month with a value equals what its contributions compute, exactly,
-- for every KPI, and every contribution belongs to such a cell:
--   flows, stocks   round(Σ value, part_scale) (part_scale null: unrounded)
--   distinct        Σ value
--   ratios          ratio_factor × round(Σ numerator, part_scale) / round(Σ denominator, part_scale),
--                   the same numeric expression as int_kpi__city_components (null when 0 / 0)
-- Rounding to part_scale gives each part the scale the KPI models keep (numeric(20, 6) for 亿元
-- sums from yuan, integers for counts, ...), so the division is the model's to the last digit.
with part_sums as (
    select
        kpi_code, city_code, period, part,
        case when max(part_scale) is null then sum(value) else round(sum(value), max(part_scale)) end as total,
        max(ratio_factor) as ratio_factor
    from {{ ref('kpi_contributions') }}
    group by kpi_code, city_code, period, part
),

traced as (
    select
        kpi_code, city_code, period,
        case when max(case when part in ('numerator', 'denominator') then 1 else 0 end) = 1
             then max(ratio_factor) * max(case when part = 'numerator' then total end)
                  / nullif(max(case when part = 'denominator' then total end), 0)
             else max(case when part in ('value', 'distinct') then total end)
        end as traced,
        count(*) as parts
    from part_sums
    group by kpi_code, city_code, period
),

cells as (
    select kpi_code, city_code, period, value_ytd
    from {{ ref('kpi_city_month') }}
    where city_code <> {{ province_code() }}
      and value_ytd is not null
)

select
    coalesce(c.kpi_code, t.kpi_code)   as kpi_code,
    coalesce(c.city_code, t.city_code) as city_code,
    coalesce(c.period, t.period)       as period,
    c.value_ytd,
    t.traced,
    t.parts
from cells as c
full outer join traced as t
    on t.kpi_code = c.kpi_code and t.city_code = c.city_code and t.period = c.period
where t.traced is null or c.value_ytd is null or t.traced <> c.value_ytd
   -- a ratio has both parts, anything else a single one
   or t.parts <> case when c.kpi_code in ({% for k in ratio_factors() %}'{{ k }}'{{ ', ' if not loop.last }}{% endfor %}) then 2 else 1 end
