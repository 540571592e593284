-- The office's record of sync rejections (issue 13): one row each time the
-- server refused a device's change to a job. Written by the sync handler,
-- read by GET /v1/jobs/{id}/rejections (server/src/jobs/rejections.rs).
-- Keep in step with ../sqlite/0006_sync_rejections.sql.

CREATE TABLE sync_rejections (
    id          UUID PRIMARY KEY,
    job_id      UUID NOT NULL,
    device_id   UUID NOT NULL REFERENCES devices (id),
    user_id     UUID NOT NULL REFERENCES users (id),
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    -- The refused change's hash (hex), when one change was to blame.
    change_hash TEXT,
    rejected_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sync_rejections_job ON sync_rejections (job_id, rejected_at);
