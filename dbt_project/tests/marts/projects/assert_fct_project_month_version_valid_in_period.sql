-- The version a fact row points to is valid in that period and carries the
-- row's stage and contract figures (the rows the build may have written,
-- macros/unchecked_ledgers.sql).
select f.project_id, f.period, f.project_key, d.valid_from, d.valid_to
from ({{ unchecked_ledger_rows(ref('fct_project_month')) }}) as f
inner join {{ ref('dim_project') }} as d
    on d.project_key = f.project_key
where d.project_id <> f.project_id
   or f.period < d.valid_from
   or (d.valid_to is not null and f.period >= d.valid_to)
   or f.stage <> d.stage
   or f.contract_amount_10k <> d.contract_amount_10k
   or f.currency <> d.currency
