-- A return opened on a visit is numbered in its job's commit; its number
-- is then written into the job document. `number_pending` says that write
-- has not happened yet: the sync writes it after its commits and the
-- housekeeping retries whatever is still pending, so a failed write is not
-- left until the job's next commit. Keep in step with
-- ../postgres/0020_returns_write_back.sql.
ALTER TABLE returns ADD COLUMN number_pending BOOLEAN NOT NULL DEFAULT FALSE;

-- Returns stored before this column: checked once against their job
-- documents (those already written, or opened by the office, are cleared
-- without writing anything).
UPDATE returns SET number_pending = TRUE WHERE job_id IS NOT NULL;

CREATE INDEX returns_number_pending ON returns (opened_at) WHERE number_pending;
