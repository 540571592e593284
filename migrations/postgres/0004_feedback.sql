-- Post-visit customer feedback and the outbox that delivers its messages.
-- Keep in step with ../sqlite/0004_feedback.sql. See docs/feedback.md.

-- The technician's name customers see (first word only) and where a
-- supervisor's follow-up alerts go.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN email TEXT;

-- One request per job, ever: the unique job_id makes racing syncs harmless.
CREATE TABLE feedback_requests (
    id            UUID PRIMARY KEY,
    job_id        UUID NOT NULL,
    job_status    TEXT NOT NULL CHECK (job_status IN ('completed', 'unable_to_complete')),
    technician_id UUID,
    -- The depot of the technician's van when the request was made.
    depot_id      UUID,
    customer_name TEXT NOT NULL,
    channel       TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    contact       TEXT NOT NULL,
    visit_date    TEXT NOT NULL,
    work_done     TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    answered_at   TIMESTAMPTZ,
    fixed         BOOLEAN,
    rating        INTEGER CHECK (rating BETWEEN 1 AND 5),
    courtesy      INTEGER CHECK (courtesy BETWEEN 1 AND 5),
    recommend     INTEGER CHECK (recommend BETWEEN 0 AND 10),
    comment       TEXT,
    CONSTRAINT feedback_requests_job_id_key UNIQUE (job_id)
);
CREATE INDEX feedback_requests_created_at ON feedback_requests (created_at);
CREATE INDEX feedback_requests_depot_id ON feedback_requests (depot_id, created_at);

-- Link tokens, by SHA-256 only. Each delivery attempt mints one.
CREATE TABLE feedback_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    request_id UUID NOT NULL REFERENCES feedback_requests (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX feedback_tokens_request_id ON feedback_tokens (request_id);

-- Contacts (lower-case email, or phone digits) that asked for no more requests.
CREATE TABLE feedback_unsubscribes (
    contact    TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL
);

-- A low result for the depot's supervisor to follow up.
CREATE TABLE feedback_followups (
    id          UUID PRIMARY KEY,
    request_id  UUID NOT NULL REFERENCES feedback_requests (id),
    depot_id    UUID,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolved_by UUID REFERENCES users (id),
    CONSTRAINT feedback_followups_request_id_key UNIQUE (request_id)
);
CREATE INDEX feedback_followups_depot_id ON feedback_followups (depot_id, created_at);

-- Messages to deliver at least once, written in the transaction that
-- decided to send them. A worker leases due rows, sends, then marks them.
CREATE TABLE outbox_messages (
    id              UUID PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('feedback_request', 'followup_alert')),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient       TEXT NOT NULL,
    request_id      UUID REFERENCES feedback_requests (id),
    idempotency_key TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    CONSTRAINT outbox_messages_idempotency_key_key UNIQUE (idempotency_key)
);
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_request_id ON outbox_messages (request_id);
