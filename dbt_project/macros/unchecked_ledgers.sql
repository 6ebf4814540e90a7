{#- What a build's tests over the ledger-partitioned project tables read.

    An incremental build appends the new ledgers' rows and rebuilds a city's rows from a
    corrected or late ledger's month on (macros/ledger_partitions.sql); rows before that
    are those the last passing quality gate saw. So the tests read, per city, the rows from
    its earliest ledger in force not covered by a passing gate (audit.quality_checked_files)
    on; a full refresh, or a warehouse no gate has passed yet, reads every row. The gate
    scopes marts.fct_project_month the same way (expectations/runner.py). -#}

{#- the highest file id the last passing gate covered (0 before any pass), as a scalar sub-select -#}
{% macro checked_up_to_file_id() -%}
    (select coalesce(max(up_to_file_id), 0) from {{ source('audit', 'quality_checked_files') }})
{%- endmacro %}


{% macro unchecked_ledgers() -%}
    select city_code, min(period) as from_period
    from {{ source('audit', 'submissions_in_force') }}
    where kind = 'workbook'
    {%- if not flags.FULL_REFRESH %}
      and file_id > {{ checked_up_to_file_id() }}
    {%- endif %}
    group by city_code
{%- endmacro %}


{#- The rows of ``relation`` (city_code, period) in that scope. The scope's cities and first
    periods are constants found when the test compiles (it compiles as it runs, after the models it
    reads were built), so Postgres reads those ranges of the (city_code, period) index: joined with
    unchecked_ledgers(), it scanned the whole table (3 M rows of fct_project_month at 3 years of the
    province's volume, in each of four tests, a cost growing with the history). -#}
{% macro unchecked_ledger_rows(relation) -%}
    select r.*
    from {{ relation }} as r
    where {{ unchecked_cities_condition('r', 'period') }}
{%- endmacro %}


{#- Every version of the projects ``relation`` (dim_project) holds that a build may have changed,
    for the tests comparing a project's versions with each other. A city whose unchecked ledgers
    all follow the ledgers checked (new months) was appended to: the build added the versions
    starting in those months and ended the ones they follow; every other version it wrote continues
    the row built before with the same start, number and attributes. So there the projects with a
    version starting from the first unchecked month; in a city with a corrected or late ledger
    (dim_project works it out again), the projects seen from that ledger's month on (a project a
    correction took out of every ledger since is left to the next full check). On the province's
    volume a new month starts versions of about one project in eight of its ledgers.
    Either way a version in scope was last seen in or after the city's first unchecked month
    (it starts no later than it is last seen): with the cities and months as constants, found when
    the test compiles, Postgres reads the ranges of the (city_code, last_seen_period) index, not
    the whole table (each of the four tests read all of dim_project's versions, 0.5-0.8 s alone
    at 3 years of the province's volume). -#}
{% macro unchecked_project_versions(relation) -%}
    select r.*
    from {{ relation }} as r
    where r.project_id in (
        select d.project_id
        from {{ relation }} as d
        where {{ unchecked_cities_condition('d', 'last_seen_period', appended_from='valid_from') }}
    )
{%- endmacro %}


{#- The scope as a condition on ``alias``: per unchecked city, ``period_column`` from its first
    unchecked month on and, where the city was only appended to, ``appended_from`` too (when
    given). Constants, so Postgres reads index ranges; "1 = 1" while dbt parses. -#}
{% macro unchecked_cities_condition(alias, period_column, appended_from=none) -%}
    {%- if not execute -%}
        1 = 1
    {%- else -%}
        {%- set scope = run_query(unchecked_ledger_kinds() ~ " order by city_code").rows -%}
        {%- if scope | length == 0 -%}
            1 = 0
        {%- else -%}
            ({% for u in scope %}({{ alias }}.city_code = '{{ u[0] }}' and {{ alias }}.{{ period_column }} >= '{{ u[1] }}'
            {%- if appended_from and u[2] == 1 %} and {{ alias }}.{{ appended_from }} >= '{{ u[1] }}'{% endif %}){{ "\n      or " if not loop.last }}{% endfor %})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- unchecked_ledgers(), and whether each city's unchecked ledgers all come after its checked ones. -#}
{% macro unchecked_ledger_kinds() -%}
    select
        u.city_code,
        u.from_period,
        case when u.from_period > coalesce(max(c.period), '') then 1 else 0 end as is_append
    from ({{ unchecked_ledgers() }}) as u
    left join {{ source('audit', 'submissions_in_force') }} as c
        on c.city_code = u.city_code
       and c.kind = 'workbook'
       {%- if flags.FULL_REFRESH %}
       and 1 = 0
       {%- else %}
       and c.file_id <= {{ checked_up_to_file_id() }}
       {%- endif %}
    group by u.city_code, u.from_period
{%- endmacro %}
