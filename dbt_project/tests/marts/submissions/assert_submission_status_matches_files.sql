-- Each status agrees with the file counts and the deadline it was derived from.
select city_code, period, kind, status, in_force_file_id, files_received, files_rejected, files_superseded, days_late
from {{ ref('submission_status') }}
where not case status
    when 'on_time'    then in_force_file_id is not null and not is_correction and days_late = 0
                           and cast(in_force_received_at as date) <= deadline_date + 1
    when 'late'       then in_force_file_id is not null and not is_correction and days_late > 0
    when 'superseded' then in_force_file_id is not null and files_superseded > 0 and files_received >= 2
    when 'returned'   then in_force_file_id is null and files_returned > 0 and returned_file_id is not null
    when 'rejected'   then in_force_file_id is null and files_received > 0 and files_returned = 0
    when 'combined'   then in_force_file_id is null and files_received = 0 and substr(period, 6, 2) = '01'
                           and combined_with_period = substr(period, 1, 5) || '02'
    when 'missing'    then in_force_file_id is null and files_received = 0
    else false
end
