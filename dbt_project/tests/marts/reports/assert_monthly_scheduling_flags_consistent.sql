-- Flags agree with the stage: no overdue flag on 开工/投产/终止 (not started) or on
-- 投产/终止 (not producing); no stalled funds on 在谈/投产/终止 or fully paid-in projects; terminated_this_month
-- implies 终止; stage_change_text exactly when the stage changed (the rows the build may have
-- written, macros/unchecked_ledgers.sql).
select period, project_id, stage
from ({{ unchecked_ledger_rows(ref('monthly_scheduling')) }}) as m
where (is_overdue_not_started and stage not in ('签约', '注册'))
   or (is_overdue_not_producing and stage in ('投产', '终止'))
   or (is_stalled_funds and (stage in ('在谈', '投产', '终止') or paid_in_cumulative_10k >= contract_amount_10k))
   or (terminated_this_month and stage <> '终止')
   or (stage_changed and stage_change_text is null)
   or (not stage_changed and stage_change_text is not null)
