-- Issued invoices (issue 17 item 4). A job's invoice is frozen and
-- numbered in the commit that completes it: `invoice_counters` holds the
-- last number of each series and year, bumped in that transaction (SQLite
-- has one writer), so a rolled-back commit burns no number (gapless).
-- `body` is the frozen invoice (sync-core's Invoice, JSON); the settlement
-- columns follow the job's later commits. `number_pending`: the number is
-- not in the job document yet. Keep in step with
-- ../postgres/0021_invoices.sql. See docs/invoices.md.
CREATE TABLE invoice_counters (
    series TEXT NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (series, year)
);

CREATE TABLE invoices (
    job_id             TEXT PRIMARY KEY NOT NULL,
    number             TEXT NOT NULL UNIQUE,
    series             TEXT NOT NULL,
    year               INTEGER NOT NULL,
    seq                INTEGER NOT NULL,
    customer_name      TEXT NOT NULL,
    customer_email     TEXT,
    currency           TEXT NOT NULL,
    price_book_version INTEGER NOT NULL,
    total_minor        INTEGER NOT NULL,
    paid_minor         INTEGER NOT NULL,
    credited_minor     INTEGER NOT NULL,
    refunded_minor     INTEGER NOT NULL,
    open_minor         INTEGER NOT NULL,
    body               TEXT NOT NULL,
    issued_at          INTEGER NOT NULL,
    settled_at         INTEGER,
    reminded_days      INTEGER NOT NULL DEFAULT 0,
    number_pending     BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (series, year, seq)
);
CREATE INDEX invoices_open ON invoices (issued_at) WHERE open_minor > 0;
CREATE INDEX invoices_pending ON invoices (issued_at) WHERE number_pending;

CREATE TABLE invoice_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    job_id     TEXT NOT NULL REFERENCES invoices (job_id),
    expires_at INTEGER NOT NULL
);

-- The invoice email and its reminders go out through the outbox: two new
-- kinds, and the invoice they are about (SQLite rebuilds the table to
-- change its CHECK).
CREATE TABLE outbox_messages_new (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('feedback_request', 'followup_alert',
                                                  'desk_alert', 'invoice', 'invoice_reminder')),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient       TEXT NOT NULL,
    request_id      TEXT REFERENCES feedback_requests (id),
    idempotency_key TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    desk_item_id    TEXT REFERENCES desk_items (id),
    invoice_id      TEXT REFERENCES invoices (job_id),
    CONSTRAINT outbox_messages_idempotency_key_key UNIQUE (idempotency_key)
);
INSERT INTO outbox_messages_new (id, kind, channel, recipient, request_id, idempotency_key,
    status, attempts, max_attempts, next_attempt_at, lease_owner, lease_until, last_error,
    created_at, sent_at, desk_item_id)
SELECT id, kind, channel, recipient, request_id, idempotency_key, status, attempts,
    max_attempts, next_attempt_at, lease_owner, lease_until, last_error, created_at, sent_at,
    desk_item_id
FROM outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_new RENAME TO outbox_messages;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_request_id ON outbox_messages (request_id);
