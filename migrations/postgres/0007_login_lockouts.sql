-- The audit of login lockouts (issue 12 item 4): one row per lockout that
-- started, kept. A lockout also holds for every server process sharing the
-- database while `locked_until` is in the future. Keep in step with
-- ../sqlite/0006_login_lockouts.sql.

CREATE TABLE login_lockouts (
    id           UUID PRIMARY KEY,
    -- What was locked: an account (its lowercased name, known or not) or a
    -- client address (an IPv6 client is its /64).
    scope        TEXT NOT NULL CHECK (scope IN ('account', 'address')),
    subject      TEXT NOT NULL,
    -- The login form of the failure that started it, and its client.
    surface      TEXT NOT NULL CHECK (surface IN ('api', 'console')),
    client       TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_at    TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_lockouts_subject ON login_lockouts (scope, subject, locked_until);
CREATE INDEX login_lockouts_locked_at ON login_lockouts (locked_at);
