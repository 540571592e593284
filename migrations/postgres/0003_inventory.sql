-- Inventory: parts catalog, reorder rules, the stock ledger and its balances,
-- serial numbers, job part lines as applied to the ledger, and console
-- sessions. Keep in step with ../sqlite/0003_inventory.sql.

CREATE TABLE parts (
    sku             TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    unit_cost_minor BIGINT NOT NULL CHECK (unit_cost_minor >= 0),
    serialized      BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

-- When stock of a sku at a location falls below reorder_point, suggest
-- sending reorder_quantity.
CREATE TABLE reorder_rules (
    location_id      UUID NOT NULL REFERENCES locations (id),
    sku              TEXT NOT NULL REFERENCES parts (sku),
    reorder_point    BIGINT NOT NULL CHECK (reorder_point >= 0),
    reorder_quantity BIGINT NOT NULL CHECK (reorder_quantity > 0),
    PRIMARY KEY (location_id, sku)
);

-- Append-only. Units leave from_location and arrive at to_location (either
-- may be absent: a receipt has no source, a consumption no destination).
-- fingerprint = SHA-256 of the content, so a retried id can be compared.
CREATE TABLE stock_movements (
    id            UUID PRIMARY KEY,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('receipt', 'transfer', 'consumption', 'return', 'adjustment')),
    sku           TEXT NOT NULL REFERENCES parts (sku),
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    from_location UUID REFERENCES locations (id),
    to_location   UUID REFERENCES locations (id),
    reason        TEXT CHECK (reason IN ('cycle_count', 'damage', 'loss')),
    serials       TEXT NOT NULL,
    job_id        UUID,
    line_id       UUID,
    note          TEXT NOT NULL,
    actor_id      UUID REFERENCES users (id),
    fingerprint   BYTEA NOT NULL CHECK (length(fingerprint) = 32),
    created_at    TIMESTAMPTZ NOT NULL,
    CHECK (from_location IS NOT NULL OR to_location IS NOT NULL),
    CHECK (from_location IS NULL OR to_location IS NULL OR from_location <> to_location)
);
CREATE INDEX stock_movements_sku_time ON stock_movements (sku, created_at);
CREATE INDEX stock_movements_from ON stock_movements (from_location, created_at);
CREATE INDEX stock_movements_to ON stock_movements (to_location, created_at);
CREATE INDEX stock_movements_line ON stock_movements (line_id);

-- Maintained in the same transaction as each movement: always the sum of
-- the movements in minus out. May go negative (the ledger flags, never refuses,
-- what technicians already fitted).
CREATE TABLE stock_balances (
    location_id UUID NOT NULL REFERENCES locations (id),
    sku         TEXT NOT NULL REFERENCES parts (sku),
    quantity    BIGINT NOT NULL,
    PRIMARY KEY (location_id, sku)
);

-- Where each serialized unit is: at a location, or fitted on a job.
CREATE TABLE serials (
    sku         TEXT NOT NULL REFERENCES parts (sku),
    serial      TEXT NOT NULL,
    location_id UUID REFERENCES locations (id),
    job_id      UUID,
    line_id     UUID,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sku, serial)
);
CREATE INDEX serials_location ON serials (location_id);

-- Every time a part line fitted a serial; `found_at` is where the ledger had
-- the unit then (NULL: already fitted or unknown), so "fitted twice" and
-- "fitted from the wrong van" can be listed.
CREATE TABLE serial_fits (
    sku       TEXT NOT NULL,
    serial    TEXT NOT NULL,
    line_id   UUID NOT NULL,
    job_id    UUID NOT NULL,
    van_id    UUID NOT NULL REFERENCES locations (id),
    found_at  UUID REFERENCES locations (id),
    known     BOOLEAN NOT NULL,
    fitted_at TIMESTAMPTZ NOT NULL,
    voided_at TIMESTAMPTZ,
    PRIMARY KEY (sku, serial, line_id)
);
CREATE INDEX serial_fits_van ON serial_fits (van_id);

-- Each job part line as the ledger has applied it (quantity 0 once voided).
-- `problem` says why a line could not be applied (unknown_van, unknown_sku).
CREATE TABLE job_part_lines (
    line_id    UUID PRIMARY KEY,
    job_id     UUID NOT NULL,
    van_id     UUID NOT NULL,
    sku        TEXT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity >= 0),
    serials    TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    problem    TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX job_part_lines_job ON job_part_lines (job_id);

-- Web console sessions: SHA-256 of the cookie's token, never the token.
CREATE TABLE web_sessions (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    UUID NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
