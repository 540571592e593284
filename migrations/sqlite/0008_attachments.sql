-- Attachments (issue 14): which files each job references, uploads in
-- progress, and the blobs the object store holds. The bytes themselves
-- live in the object store (filesystem or S3), never here.
-- Keep in step with ../postgres/0008_attachments.sql. See docs/attachments.md.

-- What each job references, projected from its document in the commit that
-- writes it (the read scope of uploads and downloads, and what keeps a blob
-- alive). One row per job and hash: the first reference's size, type and kind.
CREATE TABLE job_attachments (
    job_id     TEXT NOT NULL,
    sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
    size       INTEGER NOT NULL CHECK (size > 0),
    media_type TEXT NOT NULL,
    kind       TEXT NOT NULL,
    PRIMARY KEY (job_id, sha256)
);
CREATE INDEX job_attachments_sha256 ON job_attachments (sha256);

-- An upload in progress, per job and hash (two jobs never share staged
-- bytes). Its chunks' bytes are objects under staging/ in the object store.
CREATE TABLE attachment_uploads (
    job_id     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    total      INTEGER NOT NULL CHECK (total > 0),
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, sha256)
);
CREATE INDEX attachment_uploads_updated_at ON attachment_uploads (updated_at);

-- The byte ranges received, [start_byte, end_byte). Chunks may overlap.
CREATE TABLE attachment_chunks (
    job_id     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    start_byte INTEGER NOT NULL CHECK (start_byte >= 0),
    end_byte   INTEGER NOT NULL,
    PRIMARY KEY (job_id, sha256, start_byte, end_byte),
    FOREIGN KEY (job_id, sha256) REFERENCES attachment_uploads (job_id, sha256) ON DELETE CASCADE,
    CHECK (end_byte > start_byte)
);

-- A stored blob, by the hash its references name (the bytes the
-- technician took); `stored_sha256` is that of the stored bytes, which
-- differ when EXIF GPS data was stripped.
CREATE TABLE blobs (
    sha256        TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
    stored_sha256 TEXT NOT NULL,
    size          INTEGER NOT NULL,
    media_type    TEXT NOT NULL,
    thumbnail     BOOLEAN NOT NULL,
    gps_stripped  BOOLEAN NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX blobs_created_at ON blobs (created_at);

-- Office-set per-job options: keep_location keeps JPEG EXIF GPS data.
CREATE TABLE attachment_options (
    job_id        TEXT PRIMARY KEY NOT NULL,
    keep_location BOOLEAN NOT NULL
);
