-- Customers and their installed base: accounts (a person or a company),
-- their sites (addresses), contacts and assets, and which registry records
-- each job was made from. Keep in step with ../sqlite/0009_customers.sql.
--
-- The *_key columns hold what search compares: lower-cased names (a
-- substring match), and e-mail, phone digits, postcode and serial
-- normalised for an exact, indexed match.

CREATE TABLE customers (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    -- The depot that serves the customer: office scope, and the depot
    -- whose stock the single view reports.
    depot_id   UUID NOT NULL REFERENCES locations (id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX customers_depot ON customers (depot_id);
CREATE INDEX customers_name_key ON customers (name_key);

CREATE TABLE customer_sites (
    id           UUID PRIMARY KEY,
    customer_id  UUID NOT NULL REFERENCES customers (id),
    name         TEXT,
    address      TEXT NOT NULL,
    postcode     TEXT,
    postcode_key TEXT,
    -- A site served by another depot than its customer's.
    depot_id     UUID REFERENCES locations (id),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX customer_sites_customer ON customer_sites (customer_id);
CREATE INDEX customer_sites_postcode ON customer_sites (postcode_key);

CREATE TABLE customer_contacts (
    id                UUID PRIMARY KEY,
    customer_id       UUID NOT NULL REFERENCES customers (id),
    name              TEXT NOT NULL,
    email             TEXT,
    email_key         TEXT,
    phone             TEXT,
    phone_key         TEXT,
    preferred_channel TEXT NOT NULL CHECK (preferred_channel IN ('email', 'sms', 'phone')),
    feedback_opt_out  BOOLEAN NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX customer_contacts_customer ON customer_contacts (customer_id, created_at);
CREATE INDEX customer_contacts_email ON customer_contacts (email_key);
CREATE INDEX customer_contacts_phone ON customer_contacts (phone_key);

-- The installed base. Dates are `YYYY-MM-DD` (UTC days).
CREATE TABLE assets (
    id            UUID PRIMARY KEY,
    customer_id   UUID NOT NULL REFERENCES customers (id),
    site_id       UUID NOT NULL REFERENCES customer_sites (id),
    sku           TEXT NOT NULL,
    -- What people call the product (the job's asset snapshot shows it).
    product       TEXT NOT NULL,
    serial        TEXT NOT NULL,
    serial_key    TEXT NOT NULL,
    install_date  TEXT,
    warranty_end  TEXT,
    contract_ref  TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT assets_sku_serial_key UNIQUE (sku, serial)
);
CREATE INDEX assets_customer ON assets (customer_id);
CREATE INDEX assets_site ON assets (site_id);
CREATE INDEX assets_serial_key ON assets (serial_key);

-- The registry records each job was made from, projected from the job
-- document (its customer, site and asset `id` keys) in the job's commit.
CREATE TABLE job_registry (
    job_id      UUID PRIMARY KEY,
    customer_id UUID,
    site_id     UUID,
    asset_id    UUID
);
CREATE INDEX job_registry_customer ON job_registry (customer_id);
CREATE INDEX job_registry_asset ON job_registry (asset_id);

-- An asset's history lists the parts fitted on its jobs.
CREATE INDEX serial_fits_job ON serial_fits (job_id);
