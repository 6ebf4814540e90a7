-- 开放型经济指标月度表: one row per KPI, city (430000 = province) and month.
-- Flows are year to date (1–N月累计) with 当月 = YTD(N) − YTD(N−1); stocks are
-- as at month-end; ratios are recomputed from summed numerators and
-- denominators; distinct counts are distinct over the period. A combined
-- 1–2月 report has period YYYY-02 and value_month null: no January is invented.
with defs as (
    select kpi_code, name_zh, unit, kind, frequency from {{ ref('kpi_definitions') }}
),

periods as (
    select * from {{ ref('int_kpi__city_periods') }}
),

city as (
    select c.*, d.kind, d.frequency, p.year, p.month, p.is_combined_jan_feb
    from {{ ref('int_kpi__city_components') }} as c
    inner join defs as d on d.kpi_code = c.kpi_code
    inner join periods as p on p.city_code = c.city_code and p.period = c.period
),

city_with_month as (
    select
        c.*,
        case
            when c.is_combined_jan_feb then null
            when c.kind = 'stock' then c.value_ytd
            when c.kind = 'distinct' then c.value_month_direct
            when c.kind = 'ratio' then null
            -- flows: the change since the previous month (quarter for quarterly KPIs) of the same year
            when c.month = c.step then c.value_ytd
            when lag(c.month) over w = c.month - c.step then c.value_ytd - lag(c.value_ytd) over w
        end as value_month
    from (
        select *, case when frequency = 'quarterly' then 3 else 1 end as step from city
    ) as c
    window w as (partition by c.kpi_code, c.city_code, c.year order by c.month)
),

province_enterprises as (
    select * from {{ ref('int_kpi__trade_enterprises') }} where city_code = {{ province_code() }}
),

province as (
    select
        c.kpi_code,
        {{ province_code() }} as city_code,
        c.period,
        max(c.year) as year,
        max(c.month) as month,
        max(case when c.is_combined_jan_feb then 1 else 0 end) = 1 as is_combined_jan_feb,
        case
            when max(c.kind) = 'ratio' then max(c.factor) * sum(c.numerator) / nullif(sum(c.denominator), 0)
            when max(c.kind) = 'distinct' then max(e.enterprises_ytd)
            -- a sum over cities is unknown when one city's figure is unknown
            when count(*) = count(c.value_ytd) then sum(c.value_ytd)
        end as value_ytd,
        case
            when max(case when c.is_combined_jan_feb then 1 else 0 end) = 1 then null
            when max(c.kind) = 'distinct' then max(e.enterprises_month)
            when max(c.kind) = 'ratio' then null
            when count(*) = count(c.value_month) then sum(c.value_month)
        end as value_month
    from city_with_month as c
    left join province_enterprises as e on e.period = c.period and c.kind = 'distinct'
    group by c.kpi_code, c.period
),

all_rows as (
    select kpi_code, city_code, period, year, month, is_combined_jan_feb, value_ytd, value_month
    from city_with_month
    union all
    select kpi_code, city_code, period, year, month, is_combined_jan_feb, value_ytd, value_month
    from province
),

-- Comparisons by window functions, not self-joins: one pass, whatever the history.
compared as (
    select
        *,
        case when lag(year) over same_month = year - 1 then lag(value_ytd) over same_month end
            as value_ytd_last_year,
        case when city_code <> {{ province_code() }} and value_ytd is not null then rank() over (
            partition by kpi_code, period, city_code = {{ province_code() }}, value_ytd is null order by value_ytd desc
        ) end as rank_in_province
    from all_rows
    window same_month as (partition by kpi_code, city_code, month order by year)
)

select
    a.kpi_code,
    d.name_zh                                                       as kpi_name_zh,
    a.city_code,
    c.city_name,
    a.period,
    a.year,
    a.month,
    a.is_combined_jan_feb,
    a.value_month,
    a.value_ytd,
    a.value_ytd_last_year,
    case when a.value_ytd_last_year <> 0
         then 100 * (a.value_ytd - a.value_ytd_last_year) / abs(a.value_ytd_last_year) end as yoy_pct,
    case when d.unit = '%' then a.value_ytd - a.value_ytd_last_year end as yoy_pp,
    t.target                                                        as annual_target,
    case when t.target <> 0 then 100 * a.value_ytd / t.target end   as target_progress_pct,
    cast(round(100.0 * a.month / 12, 2) as numeric)                 as time_progress_pct,
    cast(a.rank_in_province as integer)                             as rank_in_province,
    d.unit
from compared as a
inner join defs as d on d.kpi_code = a.kpi_code
inner join {{ ref('dim_city') }} as c on c.city_code = a.city_code
left join {{ ref('annual_targets') }} as t
    on t.kpi_code = a.kpi_code and t.city_code = a.city_code and cast(t.year as integer) = a.year
