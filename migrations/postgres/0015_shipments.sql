-- Spare parts shipped from a depot to a customer's site. Keep in step with
-- ../sqlite/0015_shipments.sql.
--
-- A shipment on its way is stock in a `transit` location (one per depot,
-- made at its first dispatch), so balances stay the sum of movements:
-- depot -> transit at dispatch (`shipment`), transit -> nowhere at delivery
-- (`delivery`: the unit is at the customer's site), transit -> depot when a
-- dispatched shipment is cancelled (`shipment_cancel`).
ALTER TABLE locations DROP CONSTRAINT locations_kind_check;
ALTER TABLE locations ADD CONSTRAINT locations_kind_check
    CHECK (kind IN ('depot', 'van', 'transit'));
ALTER TABLE locations DROP CONSTRAINT locations_check;
ALTER TABLE locations ADD CONSTRAINT locations_check
    CHECK ((kind = 'depot' AND depot_id IS NULL AND technician_id IS NULL)
        OR (kind = 'van' AND depot_id IS NOT NULL)
        OR (kind = 'transit' AND depot_id IS NOT NULL AND technician_id IS NULL));

ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_kind_check
    CHECK (kind IN ('receipt', 'transfer', 'consumption', 'return', 'adjustment', 'quarantine',
                    'shipment', 'delivery', 'shipment_cancel'));

-- One row per shipment; its ledger movements carry ids derived from
-- (shipment id, step). `serials` is a JSON list; `fingerprint` = SHA-256 of
-- what the office ordered, so a retried id can be compared.
CREATE TABLE shipments (
    id            UUID PRIMARY KEY,
    customer_id   UUID NOT NULL REFERENCES customers (id),
    site_id       UUID NOT NULL REFERENCES customer_sites (id),
    depot_id      UUID NOT NULL REFERENCES locations (id),
    sku           TEXT NOT NULL REFERENCES parts (sku),
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    serials       TEXT NOT NULL,
    job_id        UUID,
    note          TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('ordered', 'picked', 'in_transit', 'delivered', 'cancelled')),
    carrier       TEXT,
    tracking_ref  TEXT,
    fingerprint   BYTEA NOT NULL CHECK (length(fingerprint) = 32),
    ordered_by    UUID NOT NULL REFERENCES users (id),
    ordered_at    TIMESTAMPTZ NOT NULL,
    picked_at     TIMESTAMPTZ,
    dispatched_at TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ,
    cancelled_at  TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX shipments_depot_status ON shipments (depot_id, status);
CREATE INDEX shipments_customer ON shipments (customer_id);
