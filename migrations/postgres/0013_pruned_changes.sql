-- Change rows a snapshot covers are pruned by the housekeeping once that
-- snapshot is older than the refresh-token lifetime (issue 19 item 4):
-- pruned_seq is the highest seq deleted, so a process whose cached copy is
-- older loads the document whole instead of catching up from rows that are
-- gone. The age index finds snapshots old enough without a scan.
-- Keep in step with ../sqlite/0013_pruned_changes.sql.

ALTER TABLE documents ADD COLUMN pruned_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX doc_snapshots_age ON doc_snapshots (created_at);
