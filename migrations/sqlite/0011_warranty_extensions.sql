-- Warranty extensions applied to assets (issue 15 item 3): one row per job
-- that sold one and completed, written in that job's commit. The primary
-- key on job_id is what makes the extension happen once, however often the
-- job syncs and whatever commit is retried. Keep in step with
-- ../postgres/0011_warranty_extensions.sql.
CREATE TABLE warranty_extensions (
    job_id        TEXT PRIMARY KEY NOT NULL,
    asset_id      TEXT NOT NULL REFERENCES assets (id),
    offer         TEXT NOT NULL,
    months        INTEGER NOT NULL CHECK (months BETWEEN 1 AND 120),
    price_minor   INTEGER NOT NULL,
    sold_by       TEXT NOT NULL,
    -- The asset's warranty end before and after (YYYY-MM-DD; before may be unknown).
    previous_end  TEXT,
    new_end       TEXT NOT NULL,
    -- Server time of the commit that saw the job completed.
    extended_at   INTEGER NOT NULL
);
CREATE INDEX warranty_extensions_asset ON warranty_extensions (asset_id, extended_at);
