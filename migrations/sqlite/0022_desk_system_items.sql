-- no-transaction
-- The service desk's remaining parts (issue 17): queue items that come from
-- the system rather than from a contact (an open invoice, a contract due for
-- renewal), a priority change kept in an item's history, service contract
-- terms, and who saved each price book version. Keep in step with
-- ../postgres/0022_desk_system_items.sql.
--
-- SQLite cannot drop a NOT NULL or change a CHECK in place: `desk_items` and
-- `desk_item_history` are rebuilt. Other tables reference `desk_items`, so
-- this follows SQLite's documented procedure (foreign keys off around the
-- transaction: no row changes id, so none can dangle); hence
-- `no-transaction` above.
PRAGMA foreign_keys = OFF;
BEGIN;

-- An item has exactly one origin: a contact, or a system source
-- (`source_kind` + `source_ref`, unique, so a re-run of the housekeeping
-- never opens a second item for it). A system item carries its own
-- customer, category and summary; a contact's item reads them from the
-- contact.
CREATE TABLE desk_items_new (
    id                TEXT PRIMARY KEY NOT NULL,
    contact_id        TEXT UNIQUE REFERENCES desk_contacts (id),
    source_kind       TEXT CHECK (source_kind IN ('invoice', 'contract')),
    source_ref        TEXT,
    customer_id       TEXT REFERENCES customers (id),
    customer_name     TEXT,
    category          TEXT CHECK (category IN ('technical', 'billing', 'contract', 'return',
                                               'parts', 'sales_lead', 'complaint')),
    summary           TEXT,
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
    updated_at        INTEGER NOT NULL,
    CONSTRAINT desk_items_one_origin CHECK (
        (contact_id IS NOT NULL AND source_kind IS NULL AND source_ref IS NULL)
        OR (contact_id IS NULL AND source_kind IS NOT NULL AND source_ref IS NOT NULL
            AND customer_name IS NOT NULL AND category IS NOT NULL AND summary IS NOT NULL)),
    CONSTRAINT desk_items_source_key UNIQUE (source_kind, source_ref)
);
INSERT INTO desk_items_new (id, contact_id, team, owner_id, state, priority, due_at, escalated,
    escalation_reason, breach_alerted_at, created_at, updated_at)
SELECT id, contact_id, team, owner_id, state, priority, due_at, escalated, escalation_reason,
    breach_alerted_at, created_at, updated_at
FROM desk_items;
DROP TABLE desk_items;
ALTER TABLE desk_items_new RENAME TO desk_items;
CREATE INDEX desk_items_team ON desk_items (team, state, due_at);
CREATE INDEX desk_items_due ON desk_items (due_at) WHERE breach_alerted_at IS NULL;

-- A new history kind: `priority` (from and to the priority; the due time is
-- recomputed from it).
CREATE TABLE desk_item_history_new (
    id         TEXT PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    item_id    TEXT NOT NULL REFERENCES desk_items (id),
    kind       TEXT NOT NULL CHECK (kind IN ('routed', 'assigned', 'state', 'escalated',
                                             'moved', 'priority')),
    actor_id   TEXT REFERENCES users (id),
    from_value TEXT,
    to_value   TEXT,
    reason     TEXT,
    at         INTEGER NOT NULL
);
INSERT INTO desk_item_history_new SELECT id, seq, item_id, kind, actor_id, from_value, to_value,
    reason, at FROM desk_item_history;
DROP TABLE desk_item_history;
ALTER TABLE desk_item_history_new RENAME TO desk_item_history;
CREATE UNIQUE INDEX desk_item_history_item ON desk_item_history (item_id, seq);

-- A customer's service contract term: `reference` is the contract's
-- reference (an asset's `contract_ref`, a price book contract's key).
-- Dates are `YYYY-MM-DD` (UTC days); `notice_from` = `ends_on` minus
-- `notice_days`, kept so the renewal sweep compares text. `renewal_for`
-- is the `ends_on` whose renewal item was opened (once per term).
CREATE TABLE service_contracts (
    id          TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    reference   TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL,
    notice_days INTEGER NOT NULL CHECK (notice_days >= 0),
    notice_from TEXT NOT NULL,
    renewal_for TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT service_contracts_customer_reference UNIQUE (customer_id, reference)
);
CREATE INDEX service_contracts_notice ON service_contracts (notice_from);

-- Who saved each price book version, and the book as saved (JSON), so the
-- editor can show what changed between versions.
CREATE TABLE price_book_versions (
    version  INTEGER PRIMARY KEY NOT NULL,
    book     TEXT NOT NULL,
    saved_by TEXT REFERENCES users (id),
    saved_at INTEGER NOT NULL
);

COMMIT;
PRAGMA foreign_keys = ON;
