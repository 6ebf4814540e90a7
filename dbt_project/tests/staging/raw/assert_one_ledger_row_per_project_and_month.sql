-- A project appears once in a city's ledger for a month (intake rejects duplicate 项目编号).
select city_code, period, project_id, count(*) as n
from {{ ref('stg_raw__projects') }}
group by 1, 2, 3
having count(*) > 1
