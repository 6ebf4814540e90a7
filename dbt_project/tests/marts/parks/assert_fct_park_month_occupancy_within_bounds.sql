-- 标准厂房使用率 is a share: it must lie in [0, 100] wherever it is defined.
select park_code, period, factory_occupancy_pct
from {{ ref('fct_park_month') }}
where factory_occupancy_pct < 0 or factory_occupancy_pct > 100
