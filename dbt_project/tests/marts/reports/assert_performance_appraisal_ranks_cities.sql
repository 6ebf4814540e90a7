-- Each (year, as-of period) ranks the 14 cities: 14 合计 rows, ranks start at 1, and a
-- higher total never ranks below a lower one.
with totals as (
    select * from {{ ref('performance_appraisal') }} where part = '合计'
)
select year, as_of_period, 'not 14 cities or rank not from 1' as problem
from totals
group by year, as_of_period
having count(*) <> 14 or min(rank) <> 1
union all
select a.year, a.as_of_period, 'rank order' as problem
from totals as a
inner join totals as b
    on b.year = a.year and b.as_of_period = a.as_of_period
    and a.total_score > b.total_score and a.rank >= b.rank
