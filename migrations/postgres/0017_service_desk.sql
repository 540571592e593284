-- The service desk (issue 17 items 1-3): teams and their members, routing
-- rules, the contact log, queue items and their history. Keep in step with
-- ../sqlite/0017_service_desk.sql.

-- The four teams are fixed; each may name the supervisor its SLA alerts
-- and escalations reach.
CREATE TABLE desk_teams (
    team          TEXT PRIMARY KEY
                  CHECK (team IN ('engineering', 'finance', 'shipping', 'sales')),
    supervisor_id UUID REFERENCES users (id)
);
INSERT INTO desk_teams (team) VALUES ('engineering'), ('finance'), ('shipping'), ('sales');

CREATE TABLE desk_team_members (
    team    TEXT NOT NULL REFERENCES desk_teams (team),
    user_id UUID NOT NULL REFERENCES users (id),
    PRIMARY KEY (team, user_id)
);
CREATE INDEX desk_team_members_user ON desk_team_members (user_id);

-- Routing rules in order (first match wins); a NULL condition matches
-- anything. The default team takes what no rule matches.
CREATE TABLE desk_rules (
    position        INTEGER PRIMARY KEY,
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
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    default_team TEXT NOT NULL REFERENCES desk_teams (team)
);
INSERT INTO desk_settings (id, default_team) VALUES (1, 'engineering');

-- Every contact with a customer. `logged_by` is NULL for contacts the
-- server logs itself (a low feedback score); `job_id` names the job a
-- technician logged it on (its id is the contact's line id there).
CREATE TABLE desk_contacts (
    id            UUID PRIMARY KEY,
    customer_id   UUID REFERENCES customers (id),
    customer_name TEXT NOT NULL,
    site_id       UUID,
    asset_id      UUID,
    job_id        UUID,
    channel       TEXT NOT NULL CHECK (channel IN ('phone', 'email', 'sms', 'on_site', 'web',
                                                   'feedback')),
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    category      TEXT NOT NULL CHECK (category IN ('technical', 'billing', 'contract', 'return',
                                                    'parts', 'sales_lead', 'complaint')),
    summary       TEXT NOT NULL,
    logged_by     UUID REFERENCES users (id),
    source        TEXT NOT NULL CHECK (source IN ('office', 'device', 'feedback')),
    device_time   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX desk_contacts_customer ON desk_contacts (customer_id, created_at);

-- One queue item per contact.
CREATE TABLE desk_items (
    id                UUID PRIMARY KEY,
    contact_id        UUID NOT NULL UNIQUE REFERENCES desk_contacts (id),
    team              TEXT NOT NULL REFERENCES desk_teams (team),
    owner_id          UUID REFERENCES users (id),
    state             TEXT NOT NULL CHECK (state IN ('new', 'in_progress', 'waiting_on_customer',
                                                     'resolved')),
    priority          TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    due_at            TIMESTAMPTZ NOT NULL,
    escalated         BOOLEAN NOT NULL DEFAULT FALSE,
    escalation_reason TEXT,
    breach_alerted_at TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX desk_items_team ON desk_items (team, state, due_at);
CREATE INDEX desk_items_due ON desk_items (due_at) WHERE breach_alerted_at IS NULL;

-- Every change of owner, team, state or escalation of an item.
CREATE TABLE desk_item_history (
    id         UUID PRIMARY KEY,
    seq        INTEGER NOT NULL,
    item_id    UUID NOT NULL REFERENCES desk_items (id),
    kind       TEXT NOT NULL CHECK (kind IN ('routed', 'assigned', 'state', 'escalated',
                                             'moved')),
    actor_id   UUID REFERENCES users (id),
    from_value TEXT,
    to_value   TEXT,
    reason     TEXT,
    at         TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX desk_item_history_item ON desk_item_history (item_id, seq);

-- SLA alerts go out through the outbox: a new kind, and the item it is about.
ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_kind_check;
ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_kind_check
    CHECK (kind IN ('feedback_request', 'followup_alert', 'desk_alert'));
ALTER TABLE outbox_messages ADD COLUMN desk_item_id UUID REFERENCES desk_items (id);
