-- The jobs an office device holds: those it opened (PUT
-- /v1/sync/open-jobs/{id}), at most a fixed number per device, instead of
-- every open job (docs/sync-protocol.md "Office devices"). Technicians'
-- devices hold their assigned jobs and have no rows here. Keep in step with
-- ../postgres/0029_device_open_jobs.sql.
CREATE TABLE device_open_jobs (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    job_id    TEXT NOT NULL REFERENCES jobs (job_id),
    opened_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, job_id)
);
