-- 绩效考核: each city's score for year Y as of each quarter-end period, long form:
-- one row per scheme indicator (seed appraisal_scheme), per bonus/deduction rule
-- (seed appraisal_adjustments) and a 合计 row. Scores are rounded to 2 decimals and
-- the total is the sum of the rounded item scores.
--   target_vs_time: score = weight × min(完成年度目标% / 序时进度%, cap), ≥ 0
--                   (ratios/stocks: benchmark 100%, see int_reports__kpi_quarter)
--   rank:           score = weight × (15 − 全省排位) / 14
--   adjustments:    ± min(points_per_item × items, cap_points)
--   no data:        0 points, said so in derivation.
with q as (
    select * from {{ ref('int_reports__kpi_quarter') }} where city_code <> {{ province_code() }}
),

as_of as (
    select distinct year, period as as_of_period from q
),

cities as (
    select city_code, city_name from {{ ref('dim_city') }} where city_code <> {{ province_code() }}
),

base as (
    select a.year, a.as_of_period, c.city_code, c.city_name
    from as_of as a cross join cities as c
),

scheme as (
    select * from {{ ref('appraisal_scheme') }}
),

indicator as (
    select
        b.year,
        b.as_of_period,
        b.city_code,
        b.city_name,
        s.part,
        s.item_code,
        s.item_name,
        s.kpi_code,
        s.method,
        s.weight,
        s.cap,
        q.unit,
        q.value_ytd,
        q.annual_target,
        q.target_progress_pct,
        q.progress_benchmark_pct,
        q.kind,
        q.rank_by_total,
        case when q.target_progress_pct is not null and q.progress_benchmark_pct > 0
             then q.target_progress_pct / q.progress_benchmark_pct end as raw_ratio
    from base as b
    cross join scheme as s
    left join q on q.kpi_code = s.kpi_code and q.city_code = b.city_code and q.period = b.as_of_period
),

indicator_scored as (
    select
        i.*,
        case
            when i.raw_ratio < 0 then cast(0 as numeric)
            when i.cap is not null and i.raw_ratio > i.cap then i.cap
            else i.raw_ratio
        end as ratio
    from indicator as i
),

indicator_rows as (
    select
        year, as_of_period, city_code, city_name, part, item_code, item_name, kpi_code,
        value_ytd as value,
        annual_target as target,
        weight,
        round(case
            when method = 'target_vs_time' then coalesce(weight * ratio, 0)
            when method = 'rank' then coalesce(weight * (15 - rank_by_total) / 14.0, 0)
        end, 2) as score,
        case
            when method = 'target_vs_time' and ratio is null then {{ dbt.concat([
                "item_name", "'：无年度目标或无数据，得分 = 0'"]) }}
            when method = 'target_vs_time' then {{ dbt.concat([
                "'完成年度目标'", "cast(round(target_progress_pct, 1) as varchar)", "'%，'",
                "case when kind in ('ratio', 'stock') then '对标进度' else '序时进度' end",
                "cast(round(progress_benchmark_pct, 1) as varchar)", "'%，完成序时进度的'",
                "cast(round(100 * raw_ratio, 1) as varchar)", "'%'",
                "case when raw_ratio > cap then '（封顶' || cast(round(100 * cap, 1) as varchar) || '%）'
                      when raw_ratio < 0 then '（低于0按0计）' else '' end",
                "'，得分 = '", "cast(weight as varchar)", "' × '", "cast(round(100 * ratio, 1) as varchar)",
                "'% = '", "cast(round(weight * ratio, 2) as varchar)"]) }}
            when method = 'rank' and rank_by_total is null then {{ dbt.concat([
                "item_name", "'：无数据，不参与排位，得分 = 0'"]) }}
            when method = 'rank' then {{ dbt.concat([
                "item_name", "cast(round(value_ytd, 2) as varchar)", "unit", "'，全省第'",
                "cast(rank_by_total as varchar)", "'位，得分 = '", "cast(weight as varchar)",
                "' × (15 − '", "cast(rank_by_total as varchar)", "') / 14 = '",
                "cast(round(weight * (15 - rank_by_total) / 14.0, 2) as varchar)"]) }}
        end as derivation
    from indicator_scored
),

-- counts behind the bonus / deduction rules
fortune500 as (
    select city_code, period, value_ytd as n
    from q where kpi_code = 'fortune500_projects'
),

overdue as (
    select city_code, period, count(*) as n
    from {{ ref('monthly_scheduling') }}
    where is_major and (is_overdue_not_started or is_overdue_not_producing)
    group by city_code, period
),

terminated as (
    select b.year, b.as_of_period, b.city_code, count(distinct m.project_id) as n
    from base as b
    inner join {{ ref('monthly_scheduling') }} as m
        on m.city_code = b.city_code
        and m.period <= b.as_of_period
        and m.period >= {{ dbt.concat(["cast(b.year as varchar)", "'-01'"]) }}
    where m.is_major and m.terminated_this_month
    group by b.year, b.as_of_period, b.city_code
),

adjustment as (
    select
        b.year, b.as_of_period, b.city_code, b.city_name,
        a.rule_code, a.rule_name, a.kind, a.basis, a.points_per_item, a.cap_points,
        coalesce(case a.basis
            when 'fortune500_projects_signed' then f.n
            when 'overdue_major_projects' then o.n
            when 'terminated_major_projects' then t.n
        end, 0) as n
    from base as b
    cross join {{ ref('appraisal_adjustments') }} as a
    left join fortune500 as f on f.city_code = b.city_code and f.period = b.as_of_period
    left join overdue as o on o.city_code = b.city_code and o.period = b.as_of_period
    left join terminated as t
        on t.city_code = b.city_code and t.year = b.year and t.as_of_period = b.as_of_period
),

adjustment_rows as (
    select
        year, as_of_period, city_code, city_name,
        case when kind = 'bonus' then '加分' else '扣分' end as part,
        rule_code as item_code,
        rule_name as item_name,
        cast(null as varchar) as kpi_code,
        cast(n as numeric) as value,
        cast(null as numeric) as target,
        points_per_item as weight,
        round(case when kind = 'bonus' then 1 else -1 end
              * case when cap_points is not null and points_per_item * n > cap_points
                     then cap_points else points_per_item * n end, 2) as score,
        {{ dbt.concat([
            "rule_name", "'：'", "cast(n as varchar)", "'个 × '", "cast(points_per_item as varchar)", "'分'",
            "case when cap_points is not null then '（封顶' || cast(cap_points as varchar) || '分）' else '' end",
            "'，'", "case when kind = 'bonus' then '加' else '扣' end",
            "cast(case when cap_points is not null and points_per_item * n > cap_points
                       then cap_points else points_per_item * n end as varchar)", "'分'"]) }} as derivation
    from adjustment
),

items as (
    select * from indicator_rows
    union all
    select * from adjustment_rows
),

totals as (
    select
        year, as_of_period, city_code, max(city_name) as city_name,
        '合计' as part,
        'TOTAL' as item_code,
        '合计' as item_name,
        cast(null as varchar) as kpi_code,
        cast(null as numeric) as value,
        cast(null as numeric) as target,
        sum(case when part in ('目标任务', '工作成效') then weight else 0 end) as weight,
        sum(score) as score,
        {{ dbt.concat([
            "'目标任务'", "cast(sum(case when part = '目标任务' then score else 0 end) as varchar)",
            "'分 + 工作成效'", "cast(sum(case when part = '工作成效' then score else 0 end) as varchar)",
            "'分 + 加分'", "cast(sum(case when part = '加分' then score else 0 end) as varchar)",
            "'分 + 扣分'", "cast(sum(case when part = '扣分' then score else 0 end) as varchar)",
            "'分 = '", "cast(sum(score) as varchar)", "'分'"]) }} as derivation
    from items
    group by year, as_of_period, city_code
),

all_rows as (
    select * from items
    union all
    select * from totals
),

totals_ranked as (
    select
        year, as_of_period, city_code, score as total_score,
        rank() over (partition by year, as_of_period order by score desc) as rank_raw
    from totals
),

ranked as (
    select r.*, t.total_score, t.rank_raw
    from all_rows as r
    inner join totals_ranked as t
        on t.year = r.year and t.as_of_period = r.as_of_period and t.city_code = r.city_code
)

select
    cast(year as integer)                       as year,
    as_of_period,
    city_code,
    city_name,
    part,
    item_code,
    item_name,
    kpi_code,
    cast(value as numeric)                      as value,
    cast(target as numeric)                     as target,
    cast(weight as numeric)                     as weight,
    cast(score as numeric(10, 2))               as score,
    derivation,
    cast(total_score as numeric(10, 2))         as total_score,
    cast(rank_raw as integer)                   as rank
from ranked
