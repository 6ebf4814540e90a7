-- 开放型经济指标月度表: one row per KPI, city (430000 = province) and month, for every
-- KPI, city and month the province has any data for (int_kpi__grid), whether the city
-- reported or not. Flows are year to date (1–N月累计) with 当月 = YTD(N) − YTD(N−1);
-- stocks are as at month-end; ratios are recomputed from summed numerators and
-- denominators; distinct counts are distinct over the period. A combined 1–2月 report
-- has period YYYY-02 and value_month null, and its January row is `combined` with no
-- values: no January is invented. A `missing` or `combined` row has null values.
--
-- Province rows (430000) are computed over the cities that have a figure (reported and
-- a value, or for a ratio a denominator): cities_reported counts them, is_complete says
-- all 14 have a figure covering the whole window 1..N, and report_status is
-- reported (complete) / partial (some) / missing (none). A province figure over fewer
-- cities is kept (BI users may want it) but never complete.
-- 同比 only compares like with like (yoy_basis = complete): both years complete; for a
-- city, last year's same month not a combined January (February compares 1–2月 with 1–2月).
with defs as (
    select kpi_code, name_zh, unit, kind, frequency from {{ ref('kpi_definitions') }}
),

grid as (
    select g.*, d.kind, d.frequency
    from {{ ref('int_kpi__grid') }} as g
    inner join defs as d on d.kpi_code = g.kpi_code
),

n_cities as (
    select count(*) as n from {{ ref('dim_city') }} where level = 'city'
),

-- the cities' figures: components of the files in force, where the grid says reported
city as (
    select c.*, g.kind, g.frequency, g.year, g.month, g.is_combined_jan_feb
    from {{ ref('int_kpi__city_components') }} as c
    inner join grid as g
        on g.kpi_code = c.kpi_code and g.city_code = c.city_code and g.period = c.period
       and g.report_status = 'reported'
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

-- every city cell of the grid; values only where the city reported. A city has a figure
-- when it reported a value (for a ratio: a numerator and a denominator, even 0 / 0).
city_cells as (
    select
        g.kpi_code,
        g.city_code,
        g.period,
        g.year,
        g.month,
        g.kind,
        g.source_kind,
        g.report_status,
        g.is_combined_jan_feb,
        g.is_ytd_covered,
        v.value_ytd,
        v.value_month,
        v.numerator,
        v.denominator,
        v.factor,
        case when g.kind = 'ratio' then v.numerator is not null and v.denominator is not null
             else v.value_ytd is not null end as reported_figure
    from grid as g
    left join city_with_month as v
        on v.kpi_code = g.kpi_code and v.city_code = g.city_code and v.period = g.period
),

city_grid as (
    select
        c.*,
        coalesce(c.reported_figure, false)                      as has_figure,
        coalesce(c.reported_figure, false) and c.is_ytd_covered as is_complete
    from city_cells as c
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
        max(c.source_kind) as source_kind,
        max(case when c.is_combined_jan_feb then 1 else 0 end) = 1 as is_combined_jan_feb,
        case
            when sum(case when c.has_figure then 1 else 0 end) = 0 then null
            when max(c.kind) = 'ratio'
                then max(c.factor) * sum(case when c.has_figure then c.numerator end)
                     / nullif(sum(case when c.has_figure then c.denominator end), 0)
            -- distinct over all rows in force for months 1..N, never a sum of cities
            when max(c.kind) = 'distinct' then max(e.enterprises_ytd)
            else sum(case when c.has_figure then c.value_ytd end)
        end as value_ytd,
        case
            when max(c.kind) = 'ratio' or sum(case when c.has_figure then 1 else 0 end) = 0 then null
            -- unknown when a contributing city's 当月 is (a combined 1–2月, a month missing before)
            when sum(case when c.has_figure then 1 else 0 end)
                 <> count(case when c.has_figure then c.value_month end) then null
            when max(c.kind) = 'distinct' then max(e.enterprises_month)
            else sum(case when c.has_figure then c.value_month end)
        end as value_month,
        cast(sum(case when c.has_figure then 1 else 0 end) as integer) as cities_reported,
        sum(case when c.is_complete then 1 else 0 end) = max(n.n) as is_complete,
        sum(case when c.report_status = 'combined' then 1 else 0 end) as cities_combined
    from city_grid as c
    cross join n_cities as n
    left join province_enterprises as e on e.period = c.period and c.kind = 'distinct'
    group by c.kpi_code, c.period
),

all_rows as (
    select
        kpi_code, city_code, period, year, month, source_kind, report_status, is_combined_jan_feb, value_ytd,
        value_month, cast(null as integer) as cities_reported, is_complete, cast(0 as bigint) as cities_combined
    from city_grid
    union all
    select
        kpi_code, city_code, period, year, month, source_kind,
        case when is_complete then 'reported' when cities_reported > 0 then 'partial' else 'missing' end,
        is_combined_jan_feb, value_ytd, value_month, cities_reported, is_complete, cities_combined
    from province
),

-- Comparisons by window functions, not self-joins: one pass, whatever the history.
compared as (
    select
        *,
        lag(year) over same_month = year - 1                                    as has_last_year,
        case when lag(year) over same_month = year - 1 then lag(value_ytd) over same_month end
            as value_ytd_last_year,
        lag(is_complete) over same_month                                        as last_year_complete,
        lag(report_status) over same_month                                      as last_year_status,
        lag(cities_combined) over same_month                                    as last_year_cities_combined,
        case when city_code <> {{ province_code() }} and value_ytd is not null then rank() over (
            partition by kpi_code, period, city_code = {{ province_code() }}, value_ytd is null order by value_ytd desc
        ) end as rank_in_province
    from all_rows
    window same_month as (partition by kpi_code, city_code, month order by year)
),

based as (
    select
        *,
        case
            when not is_complete then 'incomplete_this_year'
            when not coalesce(has_last_year, false) then 'no_last_year'
            -- a combined January last year (a city's, or some city's for the province)
            when last_year_status = 'combined'
                 or (not last_year_complete and last_year_cities_combined > 0) then 'combined_last_year'
            when not last_year_complete then 'incomplete_last_year'
            else 'complete'
        end as yoy_basis
    from compared
),

-- the latest publication of each cell (audit.published_figures: what a document version printed)
published as (
    select *
    from (
        select
            p.*,
            row_number() over (
                partition by p.kpi_code, p.city_code, p.kpi_period order by p.published_at desc, p.bulletin_id desc
            ) as recency
        from {{ ref('stg_audit__published_figures') }} as p
    ) as ranked
    where recency = 1
)

select
    a.kpi_code,
    d.name_zh                                                       as kpi_name_zh,
    a.city_code,
    c.city_name,
    a.period,
    a.year,
    a.month,
    a.report_status,
    a.is_combined_jan_feb,
    a.cities_reported,
    a.is_complete,
    a.value_month,
    a.value_ytd,
    a.value_ytd_last_year,
    case when a.yoy_basis = 'complete' and a.value_ytd_last_year <> 0
         then 100 * (a.value_ytd - a.value_ytd_last_year) / abs(a.value_ytd_last_year) end as yoy_pct,
    case when a.yoy_basis = 'complete' and d.unit = '%' then a.value_ytd - a.value_ytd_last_year end as yoy_pp,
    a.yoy_basis,
    t.target                                                        as annual_target,
    case when t.target <> 0 then 100 * a.value_ytd / t.target end   as target_progress_pct,
    cast(round(100.0 * a.month / 12, 2) as numeric)                 as time_progress_pct,
    cast(a.rank_in_province as integer)                             as rank_in_province,
    d.unit,
    a.source_kind,
    -- a printed value that is now different (a null printed as — that now has a value, too); values
    -- equal to within 10⁻⁹ (relative) are the same figure
    case when pf.kpi_code is not null then
        (pf.prints_ytd and ((a.value_ytd is null) <> (pf.value_ytd is null)
            or coalesce(abs(a.value_ytd - pf.value_ytd) > 1e-9 * greatest(abs(pf.value_ytd), 1), false)))
        or (pf.prints_month and ((a.value_month is null) <> (pf.value_month is null)
            or coalesce(abs(a.value_month - pf.value_month) > 1e-9 * greatest(abs(pf.value_month), 1), false)))
    end                                                             as revised_since_publication
from based as a
inner join defs as d on d.kpi_code = a.kpi_code
inner join {{ ref('dim_city') }} as c on c.city_code = a.city_code
left join {{ ref('annual_targets') }} as t
    on t.kpi_code = a.kpi_code and t.city_code = a.city_code and cast(t.year as integer) = a.year
left join published as pf
    on pf.kpi_code = a.kpi_code and pf.city_code = a.city_code and pf.kpi_period = a.period
