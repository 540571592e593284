-- Returns (RMA): one row per return opened on a visit (projected from the
-- job document's `returns`) or by the office, its server-assigned RMA
-- number, where it goes and what the depot did with it; and the return's
-- history. Keep in step with ../postgres/0014_returns.sql.

-- The last RMA sequence number given out per year (RMA-2026-000042).
CREATE TABLE rma_counters (
    year INTEGER PRIMARY KEY NOT NULL,
    last INTEGER NOT NULL CHECK (last > 0)
);

-- `id` is the return's id: the job line id for one opened on a visit, the
-- client's id for one the office opened (its idempotency key).
-- `depot_id` is where the unit goes (the technician's van's depot, or the
-- office's choice); `received_*` and `disposition` are set once, by the
-- depot's receipt, with the ledger movement it appended.
CREATE TABLE returns (
    id            TEXT PRIMARY KEY NOT NULL,
    rma_number    TEXT NOT NULL UNIQUE,
    sku           TEXT NOT NULL,
    serial        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    condition     TEXT NOT NULL CHECK (condition IN ('unused', 'working', 'faulty', 'damaged')),
    job_id        TEXT,
    customer_id   TEXT,
    asset_id      TEXT,
    depot_id      TEXT REFERENCES locations (id),
    opened_by     TEXT NOT NULL,
    opened_at     INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'received')),
    disposition   TEXT CHECK (disposition IN ('restock', 'refurbish', 'scrap')),
    received_by   TEXT,
    received_at   INTEGER,
    movement_id   TEXT,
    fingerprint   BLOB NOT NULL CHECK (length(fingerprint) = 32)
);
CREATE INDEX returns_status ON returns (status, opened_at);
CREATE INDEX returns_job ON returns (job_id);
CREATE INDEX returns_serial ON returns (sku, serial);

-- What happened to a return, in order: opened, numbered, received.
CREATE TABLE return_events (
    return_id TEXT NOT NULL REFERENCES returns (id),
    seq       INTEGER NOT NULL,
    event     TEXT NOT NULL CHECK (event IN ('opened', 'received')),
    detail    TEXT NOT NULL,
    actor_id  TEXT,
    at        INTEGER NOT NULL,
    PRIMARY KEY (return_id, seq)
);
