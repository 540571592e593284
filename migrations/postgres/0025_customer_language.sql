-- The language a customer is written to in (feedback form, its emails):
-- a code of the server's message catalogues (`server/src/i18n.rs`).
-- Existing customers read English. The server checks the code (a new
-- language is a catalogue, not a migration). Keep in step with
-- ../sqlite/0025_customer_language.sql.
ALTER TABLE customers ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
