-- Inventory: parts catalog, reorder rules, the stock ledger and its balances,
-- serial numbers, job part lines as applied to the ledger, and console
-- sessions. Keep in step with ../postgres/0003_inventory.sql.

CREATE TABLE parts (
    sku             TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    unit_cost_minor INTEGER NOT NULL CHECK (unit_cost_minor >= 0),
    serialized      INTEGER NOT NULL CHECK (serialized IN (0, 1)),
    created_at      INTEGER NOT NULL
);

-- When stock of a sku at a location falls below reorder_point, suggest
-- sending reorder_quantity.
CREATE TABLE reorder_rules (
    location_id      TEXT NOT NULL REFERENCES locations (id),
    sku              TEXT NOT NULL REFERENCES parts (sku),
    reorder_point    INTEGER NOT NULL CHECK (reorder_point >= 0),
    reorder_quantity INTEGER NOT NULL CHECK (reorder_quantity > 0),
    PRIMARY KEY (location_id, sku)
);

-- Append-only. Units leave from_location and arrive at to_location (either
-- may be absent: a receipt has no source, a consumption no destination).
-- fingerprint = SHA-256 of the content, so a retried id can be compared.
CREATE TABLE stock_movements (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('receipt', 'transfer', 'consumption', 'return', 'adjustment')),
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
CREATE INDEX stock_movements_sku_time ON stock_movements (sku, created_at);
CREATE INDEX stock_movements_from ON stock_movements (from_location, created_at);
CREATE INDEX stock_movements_to ON stock_movements (to_location, created_at);
CREATE INDEX stock_movements_line ON stock_movements (line_id);

-- Maintained in the same transaction as each movement: always the sum of
-- the movements in minus out. May go negative (the ledger flags, never refuses,
-- what technicians already fitted).
CREATE TABLE stock_balances (
    location_id TEXT NOT NULL REFERENCES locations (id),
    sku         TEXT NOT NULL REFERENCES parts (sku),
    quantity    INTEGER NOT NULL,
    PRIMARY KEY (location_id, sku)
);

-- Where each serialized unit is: at a location, or fitted on a job.
CREATE TABLE serials (
    sku         TEXT NOT NULL REFERENCES parts (sku),
    serial      TEXT NOT NULL,
    location_id TEXT REFERENCES locations (id),
    job_id      TEXT,
    line_id     TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (sku, serial)
);
CREATE INDEX serials_location ON serials (location_id);

-- Every time a part line fitted a serial; `found_at` is where the ledger had
-- the unit then (NULL: already fitted or unknown), so "fitted twice" and
-- "fitted from the wrong van" can be listed.
CREATE TABLE serial_fits (
    sku       TEXT NOT NULL,
    serial    TEXT NOT NULL,
    line_id   TEXT NOT NULL,
    job_id    TEXT NOT NULL,
    van_id    TEXT NOT NULL REFERENCES locations (id),
    found_at  TEXT REFERENCES locations (id),
    known     INTEGER NOT NULL CHECK (known IN (0, 1)),
    fitted_at INTEGER NOT NULL,
    voided_at INTEGER,
    PRIMARY KEY (sku, serial, line_id)
);
CREATE INDEX serial_fits_van ON serial_fits (van_id);

-- Each job part line as the ledger has applied it (quantity 0 once voided).
-- `problem` says why a line could not be applied (unknown_van, unknown_sku).
CREATE TABLE job_part_lines (
    line_id    TEXT PRIMARY KEY NOT NULL,
    job_id     TEXT NOT NULL,
    van_id     TEXT NOT NULL,
    sku        TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity >= 0),
    serials    TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    problem    TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX job_part_lines_job ON job_part_lines (job_id);

-- Web console sessions: SHA-256 of the cookie's token, never the token.
CREATE TABLE web_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    user_id    TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
