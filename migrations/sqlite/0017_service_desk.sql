-- The service desk (issue 17 items 1-3): teams and their members, routing
-- rules, the contact log, queue items and their history. Keep in step with
-- ../postgres/0017_service_desk.sql.

-- The four teams are fixed; each may name the supervisor its SLA alerts
-- and escalations reach.
CREATE TABLE desk_teams (
    team          TEXT PRIMARY KEY NOT NULL
                  CHECK (team IN ('engineering', 'finance', 'shipping', 'sales')),
    supervisor_id TEXT REFERENCES users (id)
);
INSERT INTO desk_teams (team) VALUES ('engineering'), ('finance'), ('shipping'), ('sales');

CREATE TABLE desk_team_members (
    team    TEXT NOT NULL REFERENCES desk_teams (team),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team, user_id)
);
CREATE INDEX desk_team_members_user ON desk_team_members (user_id);

-- Routing rules in order (first match wins); a NULL condition matches
-- anything. The default team takes what no rule matches.
CREATE TABLE desk_rules (
    position        INTEGER PRIMARY KEY NOT NULL,
    category        TEXT CHECK (category IN ('technical', 'billing', 'contract', 'return',
                                             'parts', 'sales_lead', 'complaint')),
    contract_status TEXT CHECK (contract_status IN ('under_contract', 'none')),
    keyword         TEXT,
    team            TEXT NOT NULL REFERENCES desk_teams (team),
    priority        TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent'))
);
INSERT INTO desk_rules (position, category, team, priority) VALUES
    (1, 'complaint', 'engineering', 'high'),
    (2, 'technical', 'engineering', 'normal'),
    (3, 'billing', 'finance', 'normal'),
    (4, 'contract', 'finance', 'normal'),
    (5, 'return', 'shipping', 'normal'),
    (6, 'parts', 'shipping', 'normal'),
    (7, 'sales_lead', 'sales', 'normal');
CREATE TABLE desk_settings (
    id           INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    default_team TEXT NOT NULL REFERENCES desk_teams (team)
);
INSERT INTO desk_settings (id, default_team) VALUES (1, 'engineering');

-- Every contact with a customer. `logged_by` is NULL for contacts the
-- server logs itself (a low feedback score); `job_id` names the job a
-- technician logged it on (its id is the contact's line id there).
CREATE TABLE desk_contacts (
    id            TEXT PRIMARY KEY NOT NULL,
    customer_id   TEXT REFERENCES customers (id),
    customer_name TEXT NOT NULL,
    site_id       TEXT,
    asset_id      TEXT,
    job_id        TEXT,
    channel       TEXT NOT NULL CHECK (channel IN ('phone', 'email', 'sms', 'on_site', 'web',
                                                   'feedback')),
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    category      TEXT NOT NULL CHECK (category IN ('technical', 'billing', 'contract', 'return',
                                                    'parts', 'sales_lead', 'complaint')),
    summary       TEXT NOT NULL,
    logged_by     TEXT REFERENCES users (id),
    source        TEXT NOT NULL CHECK (source IN ('office', 'device', 'feedback')),
    device_time   INTEGER,
    created_at    INTEGER NOT NULL
);
CREATE INDEX desk_contacts_customer ON desk_contacts (customer_id, created_at);

-- One queue item per contact.
CREATE TABLE desk_items (
    id                TEXT PRIMARY KEY NOT NULL,
    contact_id        TEXT NOT NULL UNIQUE REFERENCES desk_contacts (id),
    team              TEXT NOT NULL REFERENCES desk_teams (team),
    owner_id          TEXT REFERENCES users (id),
    state             TEXT NOT NULL CHECK (state IN ('new', 'in_progress', 'waiting_on_customer',
                                                     'resolved')),
    priority          TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    due_at            INTEGER NOT NULL,
    escalated         INTEGER NOT NULL DEFAULT 0 CHECK (escalated IN (0, 1)),
    escalation_reason TEXT,
    breach_alerted_at INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX desk_items_team ON desk_items (team, state, due_at);
CREATE INDEX desk_items_due ON desk_items (due_at) WHERE breach_alerted_at IS NULL;

-- Every change of owner, team, state or escalation of an item.
CREATE TABLE desk_item_history (
    id         TEXT PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    item_id    TEXT NOT NULL REFERENCES desk_items (id),
    kind       TEXT NOT NULL CHECK (kind IN ('routed', 'assigned', 'state', 'escalated',
                                             'moved')),
    actor_id   TEXT REFERENCES users (id),
    from_value TEXT,
    to_value   TEXT,
    reason     TEXT,
    at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX desk_item_history_item ON desk_item_history (item_id, seq);

-- SLA alerts go out through the outbox: a new kind, and the item it is about.
CREATE TABLE outbox_messages_new (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('feedback_request', 'followup_alert',
                                                  'desk_alert')),
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
    CONSTRAINT outbox_messages_idempotency_key_key UNIQUE (idempotency_key)
);
INSERT INTO outbox_messages_new (id, kind, channel, recipient, request_id, idempotency_key,
    status, attempts, max_attempts, next_attempt_at, lease_owner, lease_until, last_error,
    created_at, sent_at)
SELECT id, kind, channel, recipient, request_id, idempotency_key, status, attempts,
    max_attempts, next_attempt_at, lease_owner, lease_until, last_error, created_at, sent_at
FROM outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_new RENAME TO outbox_messages;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_request_id ON outbox_messages (request_id);
