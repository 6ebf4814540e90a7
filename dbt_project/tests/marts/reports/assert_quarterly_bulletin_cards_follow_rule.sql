-- Cards are only 红/黄/绿, and each card follows the rule documented in marts/reports/_reports__models.yml
-- (recomputed here independently of the model's CASE).
select kpi_code, city_code, period, card, progress_gap_pp, yoy_pct, province_yoy_pct
from {{ ref('quarterly_bulletin') }}
where (card is not null and card not in ('红', '黄', '绿'))
   or (progress_gap_pp is not null and card is distinct from (
        case when progress_gap_pp >= 0 then '绿'
             when progress_gap_pp > {{ var('bulletin_yellow_gap_pp', -10) }} then '黄'
             else '红' end))
   or (progress_gap_pp is null and yoy_pct is not null and card is distinct from (
        case when yoy_pct < 0 then '红'
             when yoy_pct >= coalesce(province_yoy_pct, 0) then '绿'
             else '黄' end))
   or (progress_gap_pp is null and yoy_pct is null and card is not null)
