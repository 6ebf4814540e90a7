-- No fake versions: each version differs from the one before it in at least
-- one tracked attribute (a month missing from the ledgers, e.g. the January of
-- a city that reports 1–2月 together, must not start a version by itself).
-- (Read for the projects a build may have written: macros/unchecked_ledgers.sql.)
{%- set tracked = [
    'project_name', 'county_code', 'park_code', 'industry_chain', 'investor',
    'investor_origin', 'source_region', 'fortune500', 'currency', 'contract_amount_10k',
    'stage', 'signed_date', 'registered_date', 'started_date', 'production_date',
    'land_area_mu',
] %}
with v as (
    select
        d.project_id,
        d.version_number,
        d.valid_from,
        {%- for c in tracked %}
        d.{{ c }},
        lag(d.{{ c }}) over w as previous_{{ c }},
        {%- endfor %}
        lag(d.version_number) over w as previous_version_number
    from ({{ unchecked_project_versions(ref('dim_project')) }}) as d
    window w as (partition by d.project_id order by d.valid_from)
)
select project_id, version_number, valid_from
from v
where previous_version_number is not null
  and not (
      {%- for c in tracked %}
      {{ c }} is distinct from previous_{{ c }}{{ ' or' if not loop.last }}
      {%- endfor %}
  )
