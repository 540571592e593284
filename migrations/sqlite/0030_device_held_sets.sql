-- The sets of documents the server told each device it holds, with the
-- change cursor (issue 19 item 1): a request's `held` is only a digest, so
-- when it differs from the device's scope the server looks it up here and
-- answers the difference (new documents whole, ones that left `removed`) in
-- the same round, instead of asking for the whole list. `ids` is exactly the
-- text the digest hashes (sorted document ids, each followed by a newline),
-- so a row is right for its digest whoever wrote it. A few per device, the
-- newest by `issued_at` (docs/sync-protocol.md "The change cursor").
-- Keep in step with ../postgres/0030_device_held_sets.sql.
CREATE TABLE device_held_sets (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    digest    BLOB NOT NULL CHECK (length(digest) = 16),
    ids       TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, digest)
);
