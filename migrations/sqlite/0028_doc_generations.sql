-- The current generation of each server-authored document (the price book,
-- each van's stock) whose history outgrew the server's bound and started
-- again as a fresh document (`pricebook/g2`, `van/<uuid>/g3`): keyed by
-- the first generation's id. No row: generation 1. Written in the same
-- transaction as the new generation's first change row, so a crash leaves
-- the old generation or the new one current, never neither. Keep in step
-- with ../postgres/0028_doc_generations.sql.
CREATE TABLE doc_generations (
    family      TEXT PRIMARY KEY,
    generation  INTEGER NOT NULL CHECK (generation >= 2),
    switched_at INTEGER NOT NULL
);
