-- One row per project and period (the contract's primary key says the same).
select period, project_id, count(*) as n
from {{ ref('monthly_scheduling') }}
group by period, project_id
having count(*) > 1
