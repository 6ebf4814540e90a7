-- A project appears once in a city's ledger for a month (intake rejects duplicate 项目编号).
-- Only the ledgers after those the last passing quality gate covered (a period's rows all come
-- from its one ledger in force; CHECKED_ROWS_ONLY in ingestion/contract.py).
select city_code, period, project_id, count(*) as n
from {{ ref('stg_raw__projects') }}
where file_id = any(array(select file_id from {{ source('audit', 'submissions') }}
                         where file_id > (select coalesce(max(up_to_file_id), 0)
                                          from {{ source('audit', 'quality_checked_files') }})))
group by 1, 2, 3
having count(*) > 1
