-- Versions tile the project's history: numbered 1..n, each one ends where the
-- next begins (a month missing from the ledgers leaves no hole and no version).
-- (Read for the projects a build may have written: macros/unchecked_ledgers.sql.)
with v as (
    select
        project_id,
        version_number,
        valid_from,
        valid_to,
        row_number() over (partition by project_id order by valid_from) as expected_number,
        lead(valid_from) over (partition by project_id order by valid_from) as next_valid_from
    from ({{ unchecked_project_versions(ref('dim_project')) }}) as d
)
select *
from v
where version_number <> expected_number
   or valid_to is distinct from next_valid_from
