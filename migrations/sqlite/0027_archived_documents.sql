-- Closed jobs older than the archive retention are archived (issue 19
-- item 4): the document keeps its final snapshot only (its change rows and
-- their receipts are deleted) and takes no more commits. archived_at is
-- the server time it was archived (Unix milliseconds); NULL for a live
-- document. The partial index keeps "is any of these archived" cheap for
-- the sync scope. Keep in step with ../postgres/0027_archived_documents.sql.
ALTER TABLE documents ADD COLUMN archived_at INTEGER;
CREATE INDEX documents_archived ON documents (doc_id) WHERE archived_at IS NOT NULL;
