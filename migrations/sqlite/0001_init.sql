-- Fieldsync schema, SQLite dialect. Keep in step with ../postgres/0001_init.sql.
-- Ids are UUID strings, times are UTC Unix milliseconds (INTEGER), bytes are BLOBs.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL,
    role          TEXT NOT NULL
                  CHECK (role IN ('technician', 'dispatcher', 'inventory_manager', 'supervisor', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    actor_id      BLOB NOT NULL CHECK (length(actor_id) = 16),
    registered_at INTEGER NOT NULL,
    revoked_at    INTEGER,
    CONSTRAINT devices_actor_id_key UNIQUE (actor_id)
);
CREATE INDEX devices_user_id ON devices (user_id);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    family_id  TEXT NOT NULL,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_device_id ON refresh_tokens (device_id);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY NOT NULL,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

CREATE TABLE documents (
    doc_id     TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('job', 'pricebook', 'van')),
    seq        INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE doc_changes (
    doc_id TEXT NOT NULL REFERENCES documents (doc_id),
    hash   BLOB NOT NULL CHECK (length(hash) = 32),
    seq    INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc_id, hash)
);
CREATE UNIQUE INDEX doc_changes_doc_id_seq ON doc_changes (doc_id, seq);

CREATE TABLE doc_snapshots (
    doc_id     TEXT PRIMARY KEY NOT NULL REFERENCES documents (doc_id),
    covers_seq INTEGER NOT NULL,
    bytes      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE jobs (
    job_id        TEXT PRIMARY KEY NOT NULL,
    status        TEXT NOT NULL,
    technician_id TEXT,
    customer_name TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    window_end    INTEGER NOT NULL,
    completed_at  INTEGER,
    total_minor   INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- "my jobs" (a technician's list, also read scope) and the office's filters, all by date.
CREATE INDEX jobs_technician_window ON jobs (technician_id, window_start);
CREATE INDEX jobs_status_window ON jobs (status, window_start);
CREATE INDEX jobs_window ON jobs (window_start);
