-- Ranks run 1..14 among the cities of a KPI-quarter (ties share a rank), the
-- 示范区 rank 1..6 among its six cities, and the province row has no rank.
select kpi_code, period, 'city ranks' as problem
from {{ ref('quarterly_bulletin') }}
where city_code <> {{ province_code() }}
group by kpi_code, period
having min(rank_by_total) <> 1 or max(rank_by_total) > 14
    or min(rank_by_growth) <> 1 or max(rank_by_growth) > 14
    or max(rank_in_demo_zone) > 6 or min(rank_in_demo_zone) <> 1
    or count(rank_by_total) > 14
union all
select kpi_code, period, 'province ranked' as problem
from {{ ref('quarterly_bulletin') }}
where city_code = {{ province_code() }}
  and (rank_by_total is not null or rank_by_growth is not null or rank_in_demo_zone is not null)
union all
select kpi_code, period, 'demo-zone rank outside the zone' as problem
from {{ ref('quarterly_bulletin') }}
where not is_demo_zone_city and rank_in_demo_zone is not null
