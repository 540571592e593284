-- no-transaction
-- Spare parts shipped from a depot to a customer's site. Keep in step with
-- ../postgres/0015_shipments.sql.
--
-- A shipment on its way is stock in a `transit` location (one per depot,
-- made at its first dispatch), so balances stay the sum of movements:
-- depot -> transit at dispatch (`shipment`), transit -> nowhere at delivery
-- (`delivery`: the unit is at the customer's site), transit -> depot when a
-- dispatched shipment is cancelled (`shipment_cancel`).
--
-- SQLite cannot change a CHECK in place: `locations` and `stock_movements`
-- are rebuilt. Other tables reference `locations`, so this follows SQLite's
-- documented procedure (foreign keys off around the transaction: no row changes
-- owner, so none can dangle); hence `no-transaction` above.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE locations_new (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('depot', 'van', 'transit')),
    name          TEXT NOT NULL,
    -- A van or a transit holding belongs to exactly one depot; a depot to none.
    depot_id      TEXT REFERENCES locations (id),
    -- The technician a van is assigned to (at most one van each).
    technician_id TEXT REFERENCES users (id),
    created_at    INTEGER NOT NULL,
    CHECK ((kind = 'depot' AND depot_id IS NULL AND technician_id IS NULL)
        OR (kind = 'van' AND depot_id IS NOT NULL)
        OR (kind = 'transit' AND depot_id IS NOT NULL AND technician_id IS NULL)),
    CONSTRAINT locations_technician_id_key UNIQUE (technician_id)
);
INSERT INTO locations_new SELECT id, kind, name, depot_id, technician_id, created_at
    FROM locations;
DROP TABLE locations;
ALTER TABLE locations_new RENAME TO locations;
CREATE INDEX locations_depot_id ON locations (depot_id);

CREATE TABLE stock_movements_new (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('receipt', 'transfer', 'consumption', 'return', 'adjustment',
                                  'quarantine', 'shipment', 'delivery', 'shipment_cancel')),
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

-- One row per shipment; its ledger movements carry ids derived from
-- (shipment id, step). `serials` is a JSON list; `fingerprint` = SHA-256 of
-- what the office ordered, so a retried id can be compared.
CREATE TABLE shipments (
    id            TEXT PRIMARY KEY NOT NULL,
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    site_id       TEXT NOT NULL REFERENCES customer_sites (id),
    depot_id      TEXT NOT NULL REFERENCES locations (id),
    sku           TEXT NOT NULL REFERENCES parts (sku),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    serials       TEXT NOT NULL,
    job_id        TEXT,
    note          TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('ordered', 'picked', 'in_transit', 'delivered', 'cancelled')),
    carrier       TEXT,
    tracking_ref  TEXT,
    fingerprint   BLOB NOT NULL CHECK (length(fingerprint) = 32),
    ordered_by    TEXT NOT NULL REFERENCES users (id),
    ordered_at    INTEGER NOT NULL,
    picked_at     INTEGER,
    dispatched_at INTEGER,
    delivered_at  INTEGER,
    cancelled_at  INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX shipments_depot_status ON shipments (depot_id, status);
CREATE INDEX shipments_customer ON shipments (customer_id);

COMMIT;
PRAGMA foreign_keys = ON;
