-- Depots and vans, and which staff belong to which depot. Keep in step with
-- ../postgres/0002_locations.sql. Read scope (a technician's van stock
-- document), inventory access and feedback results per depot all read these.

CREATE TABLE locations (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('depot', 'van')),
    name          TEXT NOT NULL,
    -- A van belongs to exactly one depot; a depot to none.
    depot_id      TEXT REFERENCES locations (id),
    -- The technician a van is assigned to (at most one van each).
    technician_id TEXT REFERENCES users (id),
    created_at    INTEGER NOT NULL,
    CHECK ((kind = 'depot' AND depot_id IS NULL AND technician_id IS NULL)
        OR (kind = 'van' AND depot_id IS NOT NULL)),
    CONSTRAINT locations_technician_id_key UNIQUE (technician_id)
);
CREATE INDEX locations_depot_id ON locations (depot_id);

-- Inventory managers and supervisors work for one or more depots.
CREATE TABLE depot_staff (
    user_id  TEXT NOT NULL REFERENCES users (id),
    depot_id TEXT NOT NULL REFERENCES locations (id),
    PRIMARY KEY (user_id, depot_id)
);
CREATE INDEX depot_staff_depot_id ON depot_staff (depot_id);
