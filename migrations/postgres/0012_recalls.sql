-- Product recalls: campaigns, the assets they affect (and the job that
-- remedies each), and the stock units they quarantined. Keep in step with
-- ../sqlite/0012_recalls.sql.

-- A quarantine is a ledger movement: the unit leaves its location's
-- available stock.
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_kind_check
    CHECK (kind IN ('receipt', 'transfer', 'consumption', 'return', 'adjustment', 'quarantine'));

-- `serials` and `ranges` are JSON lists as the office gave them (ranges:
-- `[{"first": "...", "last": "..."}]`); `fingerprint` = SHA-256 of the
-- content, so a retried id can be compared.
CREATE TABLE recall_campaigns (
    id           UUID PRIMARY KEY,
    sku          TEXT NOT NULL,
    reason       TEXT NOT NULL,
    remedy       TEXT NOT NULL CHECK (remedy IN ('inspect', 'repair', 'replace')),
    compensation TEXT,
    serials      TEXT NOT NULL,
    ranges       TEXT NOT NULL,
    fingerprint  BYTEA NOT NULL CHECK (length(fingerprint) = 32),
    created_by   UUID NOT NULL REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL
);

-- Each affected asset and the job that remedies it: opened by the campaign
-- (`opened`) or an open job of the asset flagged. The remedy columns are
-- projected from the job's `recall_remedy` in its commit.
CREATE TABLE recall_assets (
    campaign_id    UUID NOT NULL REFERENCES recall_campaigns (id),
    asset_id       UUID NOT NULL REFERENCES assets (id),
    job_id         UUID NOT NULL,
    opened         BOOLEAN NOT NULL,
    replacement    TEXT CHECK (replacement IN ('none', 'temporary', 'permanent')),
    committed_date TEXT,
    remedied_at    TIMESTAMPTZ,
    PRIMARY KEY (campaign_id, asset_id)
);
CREATE INDEX recall_assets_job ON recall_assets (job_id);

-- Stock units a campaign quarantined, and where they were: out of the
-- location's available stock by the `quarantine` movement, shown as
-- quarantined in the van's stock document, and never fitted.
CREATE TABLE recall_units (
    campaign_id UUID NOT NULL REFERENCES recall_campaigns (id),
    sku         TEXT NOT NULL,
    serial      TEXT NOT NULL,
    location_id UUID NOT NULL REFERENCES locations (id),
    movement_id UUID NOT NULL,
    PRIMARY KEY (campaign_id, sku, serial)
);
CREATE INDEX recall_units_location ON recall_units (location_id);
CREATE INDEX recall_units_serial ON recall_units (sku, serial);
