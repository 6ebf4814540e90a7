{#- What a build's tests over the ledger-partitioned project tables read.

    An incremental build appends the new ledgers' rows and rebuilds a city's rows from a
    corrected or late ledger's month on (macros/ledger_partitions.sql); rows before that
    are those the last passing quality gate saw. So the tests read, per city, the rows from
    its earliest ledger in force not covered by a passing gate (audit.quality_checked_files)
    on; a full refresh, or a warehouse no gate has passed yet, reads every row. The gate
    scopes marts.fct_project_month the same way (expectations/runner.py). -#}

{% macro unchecked_ledgers() -%}
    select city_code, min(period) as from_period
    from {{ source('audit', 'submissions_in_force') }}
    where kind = 'workbook'
    {%- if not flags.FULL_REFRESH %}
      and file_id > (select coalesce(max(up_to_file_id), 0) from {{ source('audit', 'quality_checked_files') }})
    {%- endif %}
    group by city_code
{%- endmacro %}


{#- The rows of ``relation`` (city_code, period) in that scope. -#}
{% macro unchecked_ledger_rows(relation) -%}
    select r.*
    from {{ relation }} as r
    inner join ({{ unchecked_ledgers() }}) as u
        on u.city_code = r.city_code
       and r.period >= u.from_period
{%- endmacro %}


{#- Every version of the projects ``relation`` (dim_project) holds in that scope: those seen
    from the city's earliest unchecked ledger on, which are the projects a build may have
    written (a project a correction took out of every ledger since is left to the next full
    check). Tests comparing a project's versions with each other read them all. -#}
{% macro unchecked_project_versions(relation) -%}
    select r.*
    from {{ relation }} as r
    where r.project_id in (
        select d.project_id
        from {{ relation }} as d
        inner join ({{ unchecked_ledgers() }}) as u
            on u.city_code = d.city_code
           and d.last_seen_period >= u.from_period
    )
{%- endmacro %}
