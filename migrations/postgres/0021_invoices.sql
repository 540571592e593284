-- Issued invoices (issue 17 item 4). A job's invoice is frozen and
-- numbered in the commit that completes it: `invoice_counters` holds the
-- last number of each series and year, bumped under its row lock in that
-- transaction, so a rolled-back commit burns no number (gapless). `body`
-- is the frozen invoice (sync-core's Invoice, JSON); the settlement columns
-- follow the job's later commits (payments, approved refunds and credit
-- notes). `number_pending`: the number is not in the job document yet (the
-- sync writes it after its commits; the housekeeping retries). Keep in
-- step with ../sqlite/0021_invoices.sql. See docs/invoices.md.
CREATE TABLE invoice_counters (
    series TEXT NOT NULL,
    year   INTEGER NOT NULL,
    last   BIGINT NOT NULL,
    PRIMARY KEY (series, year)
);

CREATE TABLE invoices (
    job_id             UUID PRIMARY KEY,
    number             TEXT NOT NULL UNIQUE,
    series             TEXT NOT NULL,
    year               INTEGER NOT NULL,
    seq                BIGINT NOT NULL,
    customer_name      TEXT NOT NULL,
    customer_email     TEXT,
    currency           TEXT NOT NULL,
    price_book_version BIGINT NOT NULL,
    total_minor        BIGINT NOT NULL,
    paid_minor         BIGINT NOT NULL,
    credited_minor     BIGINT NOT NULL,
    refunded_minor     BIGINT NOT NULL,
    open_minor         BIGINT NOT NULL,
    body               TEXT NOT NULL,
    issued_at          TIMESTAMPTZ NOT NULL,
    settled_at         TIMESTAMPTZ,
    -- The largest reminder interval (days) already queued; 0: none yet.
    reminded_days      INTEGER NOT NULL DEFAULT 0,
    number_pending     BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (series, year, seq)
);
CREATE INDEX invoices_open ON invoices (issued_at) WHERE open_minor > 0;
CREATE INDEX invoices_pending ON invoices (issued_at) WHERE number_pending;

-- Links to the customer's printable page: random tokens, stored hashed,
-- minted per message (never at rest in usable form), with an expiry.
CREATE TABLE invoice_tokens (
    token_hash BYTEA PRIMARY KEY,
    job_id     UUID NOT NULL REFERENCES invoices (job_id),
    expires_at TIMESTAMPTZ NOT NULL
);

-- The invoice email and its reminders go out through the outbox.
ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_kind_check;
ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_kind_check
    CHECK (kind IN ('feedback_request', 'followup_alert', 'desk_alert', 'invoice',
                    'invoice_reminder'));
ALTER TABLE outbox_messages ADD COLUMN invoice_id UUID REFERENCES invoices (job_id);
