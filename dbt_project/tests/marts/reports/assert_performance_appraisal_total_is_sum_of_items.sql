-- The 合计 row and total_score equal the sum of the city's item scores; one 合计 row
-- per city, and every row of a city carries the same total_score and rank.
with items as (
    select year, as_of_period, city_code,
           sum(case when part <> '合计' then score else 0 end) as item_sum,
           sum(case when part = '合计' then score else 0 end) as total_row,
           sum(case when part = '合计' then 1 else 0 end)     as total_rows,
           min(total_score) as min_total, max(total_score) as max_total,
           min(rank) as min_rank, max(rank) as max_rank
    from {{ ref('performance_appraisal') }}
    group by year, as_of_period, city_code
)
select *
from items
where total_rows <> 1
   or item_sum <> total_row
   or min_total <> max_total
   or min_total <> item_sum
   or min_rank <> max_rank
