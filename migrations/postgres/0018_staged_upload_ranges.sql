-- Uploads in progress are kept in the blob store alone (issue 14, sync
-- latency beside uploads): each received chunk is an object whose key
-- names its range, staging/<job>/<sha256>/<start>-<end>, so the ranges are
-- listed from the store and a chunk costs no database commit. The rows
-- that repeated the keys go; an upload in progress keeps its staged
-- chunks, which the server now lists. See docs/attachments.md and
-- server/src/attachments/staging.rs.
-- Keep in step with ../sqlite/0018_staged_upload_ranges.sql.

DROP TABLE attachment_chunks;
DROP TABLE attachment_uploads;
