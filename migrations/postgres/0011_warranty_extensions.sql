-- Warranty extensions applied to assets (issue 15 item 3): one row per job
-- that sold one and completed, written in that job's commit. The primary
-- key on job_id is what makes the extension happen once, however often the
-- job syncs, however many server processes commit it, and whatever commit
-- is retried. Keep in step with ../sqlite/0011_warranty_extensions.sql.
CREATE TABLE warranty_extensions (
    job_id        UUID PRIMARY KEY,
    asset_id      UUID NOT NULL REFERENCES assets (id),
    offer         TEXT NOT NULL,
    months        INTEGER NOT NULL CHECK (months BETWEEN 1 AND 120),
    price_minor   BIGINT NOT NULL,
    sold_by       UUID NOT NULL,
    -- The asset's warranty end before and after (YYYY-MM-DD; before may be unknown).
    previous_end  TEXT,
    new_end       TEXT NOT NULL,
    -- Server time of the commit that saw the job completed.
    extended_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX warranty_extensions_asset ON warranty_extensions (asset_id, extended_at);
