//! Attachments (issue 14): photos, documents and signature images a job
//! references by SHA-256, uploaded separately from sync in resumable
//! chunks, stored in an object store, and served to those who see the job.
//!
//! - [`settings`]: `--blob-url`, `--max-attachment-mb`, grace and retention.
//! - [`blobs`]: the object store (filesystem by default, S3 by URL).
//! - [`store`]: references and blobs in SQL ([`AttachmentStore`]), and the
//!   projector that keeps each job's references in step.
//! - [`staging`]: uploads in progress, their chunks as objects whose keys
//!   name the ranges received.
//! - [`finishing`]: how many uploads are checked and stored at once.
//! - [`media`]: the type from the bytes, EXIF GPS stripping, thumbnails.
//! - [`ranges`]: `Content-Range` and received ranges.
//! - [`service`]: the workflow (scope, chunks, final checks, downloads).
//! - [`routes`]: the HTTP contract (docs/attachments.md).
//! - [`console`]: the console's job page with thumbnails.
//! - [`lifecycle`]: the sweep of abandoned uploads and unkept blobs.
//!
//! ```
//! use fieldsync_server::attachments::ranges::parse_content_range;
//! let r = parse_content_range("bytes 0-262143/734003").unwrap();
//! assert_eq!((r.start, r.end, r.total), (0, 262_144, 734_003));
//! ```

pub mod blobs;
pub mod console;
pub mod finishing;
pub mod lifecycle;
pub mod media;
pub mod ranges;
mod routes;
pub mod service;
pub mod settings;
pub mod staging;
pub mod store;

pub use blobs::{BlobError, BlobStore};
pub use routes::file_response;
pub use settings::AttachmentSettings;
pub use store::{AttachmentStore, RefProjector};

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    routes::router()
}
