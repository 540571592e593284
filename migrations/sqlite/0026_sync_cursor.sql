-- The change cursor (issue 19 item 1): every document commit that stores
-- new change rows takes the next stamp of one counter, as the last thing
-- it does before it commits, so stamps follow commit order (a commit holds
-- the counter's row lock until it commits: a reader that sees stamp N sees
-- every commit stamped up to N). doc_commits says which rows each stamp
-- stored; a device's cursor is a stamp, and its sync gets the rows of the
-- commits after it. pruned_to: commits stamped up to it were pruned (with the
-- change rows, after the refresh-token lifetime), so an older cursor
-- cannot be used. Keep in step with ../postgres/0026_sync_cursor.sql.
CREATE TABLE sync_counter (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    stamp INTEGER NOT NULL,
    pruned_to INTEGER NOT NULL
);
INSERT INTO sync_counter (id, stamp, pruned_to) VALUES (1, 0, 0);

CREATE TABLE doc_commits (
    stamp      INTEGER PRIMARY KEY NOT NULL,
    doc_id     TEXT NOT NULL REFERENCES documents (doc_id),
    from_seq   INTEGER NOT NULL,
    to_seq     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX doc_commits_doc ON doc_commits (doc_id, stamp);
CREATE INDEX doc_commits_age ON doc_commits (created_at);
