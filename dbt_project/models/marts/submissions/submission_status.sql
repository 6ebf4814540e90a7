-- 报送情况: one row per city × month × kind (workbook, trade) from the first period
-- any file was received for to the latest one, whatever arrived or not.
--
-- Status rule (first match wins):
--   superseded  the file in force is a correction that replaced an earlier loaded file
--               (is_correction); whether that correction came in time stays visible in
--               `timeliness` and `days_late`, so auditors see both facts;
--   on_time     the file in force was received on or before the deadline (local date);
--   late        the file in force was received after the deadline;
--   returned    nothing in force, and the province returned (退回) a loaded file: the city
--               must send a new one (ingestion/returns.py);
--   rejected    files were received but none was loaded (rejected, or only a duplicate);
--   combined    the January of a city that reports 1–2月 together: nothing at all was
--               received for January and the city's February file of the kind is in
--               force (read from the data, not from a list of cities);
--   missing     nothing received.
-- The deadline is day N of the following month, N = dbt var submission_deadline_day,
-- else env OPENECON_SUBMISSION_DEADLINE_DAY, default 10 (the ingest DAG runs 5th–10th).
{%- set deadline_day = var('submission_deadline_day', env_var('OPENECON_SUBMISSION_DEADLINE_DAY', '10')) | int %}
{%- if deadline_day < 1 or deadline_day > 28 %}
  {{ exceptions.raise_compiler_error("OPENECON_SUBMISSION_DEADLINE_DAY must be a day 1..28, got " ~ deadline_day) }}
{%- endif %}
{%- set tz = var('submission_timezone', var('openecon_timezone')) %}

with files as (
    select
        s.file_id,
        s.file_name,
        s.city_code,
        s.period,
        s.kind,
        s.status,
        s.received_at,
        s.superseded_at,
        s.returned_at,
        s.returned_reason,
        -- the deadline is a local calendar day
        {{ local_date('s.received_at', tz) }} as received_date
    from {{ ref('stg_audit__submissions') }} as s
    inner join {{ ref('dim_city') }} as c
        on c.city_code = s.city_code and c.level = 'city'
    where s.period is not null and s.kind in ('workbook', 'trade')
),

bounds as (
    select
        min({{ period_start('period') }}) as first_month,
        max({{ period_start('period') }}) as last_month
    from files
    where status <> 'duplicate'
),

months as (
    select cast({{ dbt.dateadd('month', 'n.generated_number - 1', 'b.first_month') }} as date) as month_start
    from bounds as b
    cross join ({{ dbt.generate_series(1200) }}) as n
    where cast({{ dbt.dateadd('month', 'n.generated_number - 1', 'b.first_month') }} as date) <= b.last_month
),

grid as (
    select
        c.city_code,
        c.city_name,
        {{ to_period('m.month_start') }} as period,
        m.month_start,
        k.kind,
        cast({{ dbt.dateadd('day', deadline_day - 1, dbt.dateadd('month', 1, 'm.month_start')) }} as date)
            as deadline_date
    from {{ ref('dim_city') }} as c
    cross join months as m
    cross join (select 'workbook' as kind union all select 'trade' as kind) as k
    where c.level = 'city'
),

received as (
    select
        city_code,
        period,
        kind,
        min(received_at) as first_received_at,
        count(*) as files_received,
        sum(case when status = 'rejected' then 1 else 0 end) as files_rejected,
        sum(case when superseded_at is not null then 1 else 0 end) as files_superseded,
        sum(case when returned_at is not null then 1 else 0 end) as files_returned
    from files
    group by city_code, period, kind
),

last_returned as (
    select city_code, period, kind, file_id, returned_at, returned_reason
    from (
        select
            f.*,
            row_number() over (partition by city_code, period, kind order by returned_at desc) as n
        from files as f
        where returned_at is not null
    ) as r
    where n = 1
),

any_kind as (
    select distinct city_code, period from files
),

in_force as (
    select
        cur.city_code,
        cur.period,
        cur.kind,
        cur.file_id,
        cur.file_name,
        cur.received_at,
        f.received_date
    from {{ ref('stg_audit__current_submissions') }} as cur
    inner join files as f on f.file_id = cur.file_id
),

joined as (
    select
        g.city_code,
        g.city_name,
        g.period,
        g.month_start,
        g.kind,
        g.deadline_date,
        r.first_received_at,
        i.file_id as in_force_file_id,
        i.file_name as in_force_file_name,
        i.received_at as in_force_received_at,
        i.received_date as in_force_received_date,
        coalesce(r.files_received, 0) as files_received,
        coalesce(r.files_rejected, 0) as files_rejected,
        coalesce(r.files_superseded, 0) as files_superseded,
        coalesce(r.files_returned, 0) as files_returned,
        ret.file_id as returned_file_id,
        ret.returned_at,
        ret.returned_reason,
        (i.file_id is not null and coalesce(r.files_superseded, 0) > 0) as is_correction,
        case when i.file_id is null then null
             when i.received_date <= g.deadline_date then 'on_time'
             else 'late' end as timeliness,
        (substr(g.period, 6, 2) = '01'
            and a.city_code is null
            and feb.file_id is not null) as is_combined_jan_feb,
        feb.period as feb_period
    from grid as g
    left join received as r
        on r.city_code = g.city_code and r.period = g.period and r.kind = g.kind
    left join in_force as i
        on i.city_code = g.city_code and i.period = g.period and i.kind = g.kind
    left join last_returned as ret
        on ret.city_code = g.city_code and ret.period = g.period and ret.kind = g.kind
    left join any_kind as a
        on a.city_code = g.city_code and a.period = g.period
    left join in_force as feb
        on feb.city_code = g.city_code and feb.kind = g.kind
        and feb.period = substr(g.period, 1, 5) || '02'
)

select
    city_code,
    city_name,
    period,
    month_start,
    kind,
    deadline_date,
    case
        when is_correction then 'superseded'
        when timeliness is not null then timeliness
        when files_returned > 0 then 'returned'
        when files_received > 0 then 'rejected'
        when is_combined_jan_feb then 'combined'
        else 'missing'
    end as status,
    case
        when is_correction then '已更正'
        when timeliness = 'on_time' then '按时报送'
        when timeliness = 'late' then '逾期报送'
        when files_returned > 0 then '已退回'
        when files_received > 0 then '被拒收'
        when is_combined_jan_feb then '1–2月合并报送'
        else '未报送'
    end as status_zh,
    timeliness,
    is_correction,
    case when is_combined_jan_feb then feb_period end as combined_with_period,
    first_received_at,
    in_force_file_id,
    in_force_file_name,
    in_force_received_at,
    files_received,
    files_rejected,
    files_superseded,
    files_returned,
    returned_file_id,
    returned_at,
    returned_reason,
    case when in_force_received_date is null then null
         else greatest({{ dbt.datediff('deadline_date', 'in_force_received_date', 'day') }}, 0)
    end as days_late,
    (deadline_date < current_date) as deadline_passed
from joined
