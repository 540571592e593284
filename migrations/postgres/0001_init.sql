-- Fieldsync schema, PostgreSQL dialect. Keep in step with ../sqlite/0001_init.sql.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL,
    role          TEXT NOT NULL
                  CHECK (role IN ('technician', 'dispatcher', 'inventory_manager', 'supervisor', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE devices (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    actor_id      BYTEA NOT NULL CHECK (length(actor_id) = 16),
    registered_at TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    CONSTRAINT devices_actor_id_key UNIQUE (actor_id)
);
CREATE INDEX devices_user_id ON devices (user_id);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    family_id  UUID NOT NULL,
    device_id  UUID NOT NULL REFERENCES devices (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_device_id ON refresh_tokens (device_id);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    secret     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ
);

CREATE TABLE documents (
    doc_id     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('job', 'pricebook', 'van')),
    seq        BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE doc_changes (
    doc_id TEXT NOT NULL REFERENCES documents (doc_id),
    hash   BYTEA NOT NULL CHECK (length(hash) = 32),
    seq    BIGINT NOT NULL,
    bytes  BYTEA NOT NULL,
    PRIMARY KEY (doc_id, hash)
);
CREATE UNIQUE INDEX doc_changes_doc_id_seq ON doc_changes (doc_id, seq);

CREATE TABLE doc_snapshots (
    doc_id     TEXT PRIMARY KEY REFERENCES documents (doc_id),
    covers_seq BIGINT NOT NULL,
    bytes      BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE jobs (
    job_id        UUID PRIMARY KEY,
    status        TEXT NOT NULL,
    technician_id UUID,
    customer_name TEXT NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    window_end    TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ,
    total_minor   BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- "my jobs" (a technician's list, also read scope) and the office's filters, all by date.
CREATE INDEX jobs_technician_window ON jobs (technician_id, window_start);
CREATE INDEX jobs_status_window ON jobs (status, window_start);
CREATE INDEX jobs_window ON jobs (window_start);
