-- The audit of refunds and credit notes (issue 16 item 2): one row per
-- event of a refund line of a job document, as the job's commit projects
-- it: `given` (by the technician or the office, within the limit or
-- pending approval), then `approved` or `declined` by a supervisor.
-- `recorded_at` is the server's clock at the commit that brought the event;
-- device times are never trusted. Keep in step with
-- ../postgres/0016_refunds.sql.
CREATE TABLE refund_events (
    refund_id   TEXT NOT NULL,
    event       TEXT NOT NULL CHECK (event IN ('given', 'approved', 'declined')),
    job_id      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('refund', 'credit')),
    against_id  TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    approval    TEXT NOT NULL CHECK (approval IN ('within_limit', 'pending')),
    -- Who gave or decided, and (for a gift) the role they gave it as.
    actor_id    TEXT NOT NULL,
    actor_role  TEXT,
    reason      TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (refund_id, event)
);
CREATE INDEX refund_events_job ON refund_events (job_id, recorded_at);
