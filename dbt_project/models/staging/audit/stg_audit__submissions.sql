-- Every received file (any status), one row per file, as audit.submissions holds it.
-- Marts read this view, never the source, so the audit source is declared in one place.
select
    file_id,
    file_name,
    sha256,
    city_code,
    period,
    kind,
    received_at,
    status,
    rows,
    rows_rejected,
    reason,
    superseded_at,
    superseded_by,
    returned_at,
    returned_by,
    returned_reason,
    archive_path,
    receipt
from {{ source('audit', 'submissions') }}
