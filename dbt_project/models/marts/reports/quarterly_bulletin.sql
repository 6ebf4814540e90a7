-- 一季一通报: KPI × city (430000 = 全省) × quarter for the quarter-end periods of
-- kpi_city_month, with YTD, 同比, ranks, target progress against 序时进度 and a card.
-- Card (thresholds are dbt vars bulletin_yellow_gap_pp = -10):
--   with a target: 绿 gap ≥ 0; 黄 −10 < gap < 0; 红 gap ≤ −10 (gap = progress_gap_pp)
--   without a target, by growth: 红 yoy < 0; 绿 yoy ≥ 全省 yoy (or ≥ 0 when the province's
--   is unknown); 黄 0 ≤ yoy < 全省 yoy; null when neither target progress nor yoy is known.
{% set red_gap = var('bulletin_yellow_gap_pp', -10) %}
with q as (
    select * from {{ ref('int_reports__kpi_quarter') }}
),

carded as (
    select
        q.*,
        case
            when q.progress_gap_pp is not null then 'target'
            when q.yoy_pct is not null then 'growth'
        end as card_basis
    from q
)

select
    c.quarter,
    c.period,
    c.year,
    c.quarter_number,
    c.kpi_code,
    c.kpi_name_zh,
    c.unit,
    c.display_order,
    c.city_code,
    c.city_name,
    c.value_ytd,
    c.value_ytd_last_year,
    c.yoy_pct,
    c.yoy_pp,
    c.province_yoy_pct,
    cast(c.rank_by_total as integer)     as rank_by_total,
    cast(c.rank_by_growth as integer)    as rank_by_growth,
    c.is_demo_zone_city,
    c.demo_zone,
    cast(c.rank_in_demo_zone as integer) as rank_in_demo_zone,
    c.annual_target,
    c.target_progress_pct,
    c.time_progress_pct,
    c.progress_benchmark_pct,
    c.progress_gap_pp,
    case c.card_basis
        when 'target' then case
            when c.progress_gap_pp >= 0 then '绿'
            when c.progress_gap_pp > {{ red_gap }} then '黄'
            else '红' end
        when 'growth' then case
            when c.yoy_pct < 0 then '红'
            when c.yoy_pct >= coalesce(c.province_yoy_pct, 0) then '绿'
            else '黄' end
    end as card,
    case c.card_basis
        when 'target' then {{ dbt.concat([
            "'按目标进度：完成年度目标'", "cast(round(c.target_progress_pct, 1) as varchar)", "'%，'",
            "case when c.kind in ('ratio', 'stock') then '对标进度（比率/存量指标以目标值为准）' else '序时进度' end",
            "cast(round(c.progress_benchmark_pct, 1) as varchar)", "'%，'",
            "case when c.progress_gap_pp >= 0 then '超' else '欠' end", "'序时进度'",
            "cast(round(abs(c.progress_gap_pp), 1) as varchar)",
            "'个百分点；规则：≥0绿，" ~ red_gap ~ "～0黄，≤" ~ red_gap ~ "红'"]) }}
        when 'growth' then {{ dbt.concat([
            "'无年度目标，按增速：同比'", "cast(round(c.yoy_pct, 1) as varchar)", "'%，全省同比'",
            "coalesce(cast(round(c.province_yoy_pct, 1) as varchar) || '%', '未知')",
            "'；规则：负增长红，不低于全省增速绿，0至全省增速之间黄'"]) }}
    end as card_rule
from carded as c
