-- Every ledger row of fct_project_month is in the scheduling table, and nothing else (the
-- rows the build may have written on both sides, macros/unchecked_ledgers.sql).
select f.project_id, f.period, 'missing' as problem
from ({{ unchecked_ledger_rows(ref('fct_project_month')) }}) as f
left join {{ ref('monthly_scheduling') }} as m
    on m.project_id = f.project_id and m.period = f.period
where m.project_id is null
union all
select m.project_id, m.period, 'extra' as problem
from ({{ unchecked_ledger_rows(ref('monthly_scheduling')) }}) as m
left join {{ ref('fct_project_month') }} as f
    on f.project_id = m.project_id and f.period = m.period
where f.project_id is null
