-- Users can be disabled (a leaver): login is refused and every device of
-- theirs is revoked when it happens. Keep in step with
-- ../sqlite/0019_users_disabled.sql.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;

-- What each device reported at its last sync, written once per sync (one
-- UPDATE, not one per change): the devices list and sync health read it.
ALTER TABLE devices ADD COLUMN last_sync_at TIMESTAMPTZ;
ALTER TABLE devices ADD COLUMN app_version TEXT;
ALTER TABLE devices ADD COLUMN pending_changes BIGINT;

-- The devices list shows each device's latest rejection.
CREATE INDEX sync_rejections_device ON sync_rejections (device_id, rejected_at);
