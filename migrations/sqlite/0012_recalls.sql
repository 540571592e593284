-- Product recalls: campaigns, the assets they affect (and the job that
-- remedies each), and the stock units they quarantined. Keep in step with
-- ../postgres/0012_recalls.sql.

-- A quarantine is a ledger movement: the unit leaves its location's
-- available stock. SQLite cannot change a CHECK in place, so the movements
-- table is rebuilt with the new kind (nothing references it).
CREATE TABLE stock_movements_new (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('receipt', 'transfer', 'consumption', 'return', 'adjustment',
                                  'quarantine')),
    sku           TEXT NOT NULL REFERENCES parts (sku),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    from_location TEXT REFERENCES locations (id),
    to_location   TEXT REFERENCES locations (id),
    reason        TEXT CHECK (reason IN ('cycle_count', 'damage', 'loss')),
    serials       TEXT NOT NULL,
    job_id        TEXT,
    line_id       TEXT,
    note          TEXT NOT NULL,
    actor_id      TEXT REFERENCES users (id),
    fingerprint   BLOB NOT NULL CHECK (length(fingerprint) = 32),
    created_at    INTEGER NOT NULL,
    CHECK (from_location IS NOT NULL OR to_location IS NOT NULL),
    CHECK (from_location IS NULL OR to_location IS NULL OR from_location <> to_location)
);
INSERT INTO stock_movements_new SELECT id, kind, sku, quantity, from_location, to_location,
    reason, serials, job_id, line_id, note, actor_id, fingerprint, created_at FROM stock_movements;
DROP TABLE stock_movements;
ALTER TABLE stock_movements_new RENAME TO stock_movements;
CREATE INDEX stock_movements_sku_time ON stock_movements (sku, created_at);
CREATE INDEX stock_movements_from ON stock_movements (from_location, created_at);
CREATE INDEX stock_movements_to ON stock_movements (to_location, created_at);
CREATE INDEX stock_movements_line ON stock_movements (line_id);

-- `serials` and `ranges` are JSON lists as the office gave them (ranges:
-- `[{"first": "...", "last": "..."}]`); `fingerprint` = SHA-256 of the
-- content, so a retried id can be compared.
CREATE TABLE recall_campaigns (
    id           TEXT PRIMARY KEY NOT NULL,
    sku          TEXT NOT NULL,
    reason       TEXT NOT NULL,
    remedy       TEXT NOT NULL CHECK (remedy IN ('inspect', 'repair', 'replace')),
    compensation TEXT,
    serials      TEXT NOT NULL,
    ranges       TEXT NOT NULL,
    fingerprint  BLOB NOT NULL CHECK (length(fingerprint) = 32),
    created_by   TEXT NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL
);

-- Each affected asset and the job that remedies it: opened by the campaign
-- (`opened` = 1) or an open job of the asset flagged (0). The remedy
-- columns are projected from the job's `recall_remedy` in its commit.
CREATE TABLE recall_assets (
    campaign_id    TEXT NOT NULL REFERENCES recall_campaigns (id),
    asset_id       TEXT NOT NULL REFERENCES assets (id),
    job_id         TEXT NOT NULL,
    opened         INTEGER NOT NULL CHECK (opened IN (0, 1)),
    replacement    TEXT CHECK (replacement IN ('none', 'temporary', 'permanent')),
    committed_date TEXT,
    remedied_at    INTEGER,
    PRIMARY KEY (campaign_id, asset_id)
);
CREATE INDEX recall_assets_job ON recall_assets (job_id);

-- Stock units a campaign quarantined, and where they were: out of the
-- location's available stock by the `quarantine` movement, shown as
-- quarantined in the van's stock document, and never fitted.
CREATE TABLE recall_units (
    campaign_id TEXT NOT NULL REFERENCES recall_campaigns (id),
    sku         TEXT NOT NULL,
    serial      TEXT NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations (id),
    movement_id TEXT NOT NULL,
    PRIMARY KEY (campaign_id, sku, serial)
);
CREATE INDEX recall_units_location ON recall_units (location_id);
CREATE INDEX recall_units_serial ON recall_units (sku, serial);
