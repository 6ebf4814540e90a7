-- One row per project and month (the contract's primary key says the same; this
-- keeps the rule visible in test results).
select project_id, period, count(*) as n
from {{ ref('fct_project_month') }}
group by project_id, period
having count(*) > 1
