-- Versions of a project never overlap: [valid_from, valid_to) intervals of two
-- different versions of the same project do not intersect (null valid_to = open).
-- (Read for the projects a build may have written: macros/unchecked_ledgers.sql.)
select a.project_id, a.project_key, a.valid_from, a.valid_to, b.project_key as other_key,
       b.valid_from as other_valid_from, b.valid_to as other_valid_to
from ({{ unchecked_project_versions(ref('dim_project')) }}) as a
inner join {{ ref('dim_project') }} as b
    on b.project_id = a.project_id
   and b.project_key <> a.project_key
where a.valid_from < coalesce(b.valid_to, '9999-12')
  and b.valid_from < coalesce(a.valid_to, '9999-12')
