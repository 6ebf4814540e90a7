-- Every project has exactly one current version, and it is its last one.
-- (Read for the projects a build may have written: macros/unchecked_ledgers.sql.)
select
    project_id,
    sum(case when is_current then 1 else 0 end) as current_versions,
    max(version_number) as last_version,
    max(case when is_current then version_number end) as current_version
from ({{ unchecked_project_versions(ref('dim_project')) }}) as d
group by project_id
having sum(case when is_current then 1 else 0 end) <> 1
    or max(version_number) <> max(case when is_current then version_number end)
