-- When the server first stored each document change (its own clock, never
-- the device's), kept after the change row itself is pruned into a
-- snapshot: the console's job page shows each change's sync time. Which
-- device wrote it is the change's actor (devices.actor_id). Changes stored
-- before this migration have no row. Keep in step with
-- ../postgres/0023_change_receipts.sql.
CREATE TABLE doc_change_receipts (
    doc_id      TEXT NOT NULL REFERENCES documents (doc_id),
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    received_at INTEGER NOT NULL,
    PRIMARY KEY (doc_id, hash)
);
