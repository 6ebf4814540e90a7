-- 园区月度事实: park × month, stocks at month-end and year-to-date flows,
-- with 标准厂房使用率 and 亩均税收 computed once here.
select
    s.park_code,
    s.city_code,
    s.period,
    s.month_start,
    s.planned_area_mu,
    s.developed_area_mu,
    s.factory_built_10k_m2,
    s.factory_used_10k_m2,
    case when s.factory_built_10k_m2 > 0
         then round(100 * s.factory_used_10k_m2 / s.factory_built_10k_m2, 2) end as factory_occupancy_pct,
    s.enterprises,
    s.above_scale_enterprises,
    s.tax_ytd_10k_cny,
    s.revenue_ytd_10k_cny,
    s.employees,
    case when s.developed_area_mu > 0
         then round(s.tax_ytd_10k_cny / s.developed_area_mu, 4) end as tax_per_mu_10k_cny,
    s.file_id,
    s.row_number
from {{ ref('stg_raw__parks') }} as s
