-- Sync rejections are pruned by age (--rejection-retention-days, issue 13):
-- the housekeeping deletes by rejected_at alone, so it needs its own index.
-- Keep in step with ../postgres/0010_sync_rejections_age.sql.

CREATE INDEX sync_rejections_age ON sync_rejections (rejected_at);
