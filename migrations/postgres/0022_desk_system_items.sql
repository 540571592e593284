-- The service desk's remaining parts (issue 17): queue items that come from
-- the system rather than from a contact (an open invoice, a contract due for
-- renewal), a priority change kept in an item's history, service contract
-- terms, and who saved each price book version. Keep in step with
-- ../sqlite/0022_desk_system_items.sql.

-- An item has exactly one origin: a contact, or a system source
-- (`source_kind` + `source_ref`, unique, so a re-run of the housekeeping
-- never opens a second item for it). A system item carries its own
-- customer, category and summary; a contact's item reads them from the
-- contact.
ALTER TABLE desk_items ALTER COLUMN contact_id DROP NOT NULL;
ALTER TABLE desk_items
    ADD COLUMN source_kind   TEXT CHECK (source_kind IN ('invoice', 'contract')),
    ADD COLUMN source_ref    TEXT,
    ADD COLUMN customer_id   UUID REFERENCES customers (id),
    ADD COLUMN customer_name TEXT,
    ADD COLUMN category      TEXT CHECK (category IN ('technical', 'billing', 'contract',
                                                      'return', 'parts', 'sales_lead',
                                                      'complaint')),
    ADD COLUMN summary       TEXT,
    ADD CONSTRAINT desk_items_one_origin CHECK (
        (contact_id IS NOT NULL AND source_kind IS NULL AND source_ref IS NULL)
        OR (contact_id IS NULL AND source_kind IS NOT NULL AND source_ref IS NOT NULL
            AND customer_name IS NOT NULL AND category IS NOT NULL AND summary IS NOT NULL)),
    ADD CONSTRAINT desk_items_source_key UNIQUE (source_kind, source_ref);

-- A new history kind: `priority` (from and to the priority; the due time is
-- recomputed from it).
ALTER TABLE desk_item_history DROP CONSTRAINT desk_item_history_kind_check;
ALTER TABLE desk_item_history ADD CONSTRAINT desk_item_history_kind_check
    CHECK (kind IN ('routed', 'assigned', 'state', 'escalated', 'moved', 'priority'));

-- A customer's service contract term: `reference` is the contract's
-- reference (an asset's `contract_ref`, a price book contract's key).
-- Dates are `YYYY-MM-DD` (UTC days); `notice_from` = `ends_on` minus
-- `notice_days`, kept so the renewal sweep compares text. `renewal_for`
-- is the `ends_on` whose renewal item was opened (once per term).
CREATE TABLE service_contracts (
    id          UUID PRIMARY KEY,
    customer_id UUID NOT NULL REFERENCES customers (id),
    reference   TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL,
    notice_days INTEGER NOT NULL CHECK (notice_days >= 0),
    notice_from TEXT NOT NULL,
    renewal_for TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_contracts_customer_reference UNIQUE (customer_id, reference)
);
CREATE INDEX service_contracts_notice ON service_contracts (notice_from);

-- Who saved each price book version, and the book as saved (JSON), so the
-- editor can show what changed between versions.
CREATE TABLE price_book_versions (
    version  BIGINT PRIMARY KEY,
    book     TEXT NOT NULL,
    saved_by UUID REFERENCES users (id),
    saved_at TIMESTAMPTZ NOT NULL
);
