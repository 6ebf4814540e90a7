-- KPI × city × quarter-end period (03/06/09/12) from kpi_city_month, with the ranks,
-- the 示范区 membership and the progress benchmark used by both the quarterly bulletin
-- (一季一通报) and the performance appraisal (绩效考核).
-- Progress benchmark: 序时进度 N/12 for flows and distinct counts (cumulative over the
-- year); for ratios and stocks (a rate or a level is compared with its target at any
-- time of the year) the benchmark is 100% — the target itself.
with k as (
    select
        k.*,
        d.kind,
        d.higher_is_better,
        d.display_order,
        z.zone as demo_zone
    from {{ ref('kpi_city_month') }} as k
    inner join {{ ref('kpi_definitions') }} as d on d.kpi_code = k.kpi_code
    left join {{ ref('demo_zone_cities') }} as z on z.code = k.city_code
    where k.month in (3, 6, 9, 12)
),

province as (
    select kpi_code, period, yoy_pct as province_yoy_pct
    from k
    where city_code = {{ province_code() }}
),

scored as (
    select
        k.*,
        case when k.higher_is_better then k.value_ytd else -k.value_ytd end as rank_value,
        -- growth of a rate is its change in 个百分点; of anything else, 同比 %
        case when k.higher_is_better then 1 else -1 end
            * case when k.unit = '%' then k.yoy_pp else k.yoy_pct end     as growth_value,
        case when k.kind in ('ratio', 'stock') then cast(100 as numeric)
             else k.time_progress_pct end                                  as progress_benchmark_pct
    from k
)

select
    s.kpi_code,
    s.kpi_name_zh,
    s.unit,
    s.kind,
    s.higher_is_better,
    s.display_order,
    s.city_code,
    s.city_name,
    s.period,
    s.year,
    s.month,
    cast(s.month / 3 as integer)                                              as quarter_number,
    {{ dbt.concat(['cast(s.year as varchar)', "'Q'", 'cast(cast(s.month / 3 as integer) as varchar)']) }}
                                                                              as quarter,
    s.value_ytd,
    s.value_ytd_last_year,
    s.yoy_pct,
    s.yoy_pp,
    p.province_yoy_pct,
    s.annual_target,
    s.target_progress_pct,
    s.time_progress_pct,
    s.progress_benchmark_pct,
    s.target_progress_pct - s.progress_benchmark_pct                          as progress_gap_pp,
    s.demo_zone is not null                                                   as is_demo_zone_city,
    s.demo_zone,
    case when s.city_code <> {{ province_code() }} and s.rank_value is not null then rank() over (
        partition by s.kpi_code, s.period, s.city_code = {{ province_code() }}, s.rank_value is null
        order by s.rank_value desc) end                                       as rank_by_total,
    case when s.city_code <> {{ province_code() }} and s.growth_value is not null then rank() over (
        partition by s.kpi_code, s.period, s.city_code = {{ province_code() }}, s.growth_value is null
        order by s.growth_value desc) end                                     as rank_by_growth,
    case when s.demo_zone is not null and s.rank_value is not null then rank() over (
        partition by s.kpi_code, s.period, s.demo_zone is not null, s.rank_value is null
        order by s.rank_value desc) end                                       as rank_in_demo_zone
from scored as s
left join province as p on p.kpi_code = s.kpi_code and p.period = s.period
