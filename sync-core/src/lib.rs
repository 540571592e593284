//! fieldsync-core: the domain both the server and the phones run.
//!
//! Pure Rust on automerge, with no I/O, no async runtime and no database:
//!
//! - [`job`]: the work order as an automerge document ([`JobDoc`]), read as a
//!   plain [`Job`], edited only through named [`JobAction`]s; its fields are
//!   declared once, as data, in [`job::schema`], with a version the server
//!   upgrades;
//! - [`status`]: the lifecycle and the rule that settles concurrent status writes;
//! - [`validate`]: [`validate_changes`], what each role may change, run by the
//!   device before it commits and by the server on receipt (with a
//!   [`validate::Context`] of what the server knows, such as the technician's van);
//! - [`pricebook`], [`billing`]: the server-authored price book and the one
//!   function that turns a job into an invoice (integer minor units);
//! - [`rules`]: the rules that need the whole job or the price book (required
//!   checklist items, serials per unit, known skus and labour rates), one
//!   function each, called by actions and the validator alike;
//! - [`card`]: the card-number test every free-text field passes;
//! - [`vanstock`]: a van's stock as the server last knew it;
//! - [`warranty`]: warranty extensions sold on a job: quotes and the rules a sale meets;
//! - [`sync`]: the sans-IO batched sync protocol (`docs/sync-protocol.md`).
//!
//! ```
//! use fieldsync_core::automerge::ActorId;
//! use fieldsync_core::job::{Asset, Customer, Priority, Site, Window};
//! use fieldsync_core::{JobAction, JobDoc, JobId, JobSpec, Principal, Role, Status, Timestamp, UserId};
//!
//! let office = Principal::new(UserId::from_bytes([1; 16]), Role::Dispatcher);
//! let tech = Principal::new(UserId::from_bytes([2; 16]), Role::Technician);
//! let spec = JobSpec {
//!     id: JobId::from_bytes([3; 16]),
//!     customer: Customer { name: "Ana".into(), email: None, phone: None, feedback_opt_out: false },
//!     site: Site { name: None, address: "Rua 1, Porto".into() },
//!     asset: Asset { product: "Boiler".into(), serial: None, warranty_end: None, contract_ref: None },
//!     problem: "No hot water".into(),
//!     priority: Priority::High,
//!     window: Window::new(Timestamp(0), Timestamp(3_600_000)).unwrap(),
//!     technician: Some(tech.user),
//!     checklist: vec![],
//! };
//! let job = JobDoc::create(&spec, ActorId::random(), office, Timestamp(0)).unwrap();
//!
//! // On the technician's phone: a copy with the device's own actor.
//! let mut phone = JobDoc::from_doc(job.doc().fork().with_actor(ActorId::random())).unwrap();
//! phone.apply(&JobAction::StartTravel, tech, Timestamp(60_000)).unwrap();
//! assert_eq!(phone.read().unwrap().status, Status::Travelling);
//!
//! // The office may not fabricate the technician's work.
//! assert!(phone.apply(&JobAction::Arrive, office, Timestamp(0)).is_err());
//! ```
#![forbid(unsafe_code)]

#[macro_use]
mod codes;
pub mod actors;
mod batch_texts;
pub mod billing;
pub mod card;
pub mod doc_id;
pub mod error;
mod hydrated;
pub mod ids;
pub mod job;
pub mod pricebook;
pub mod role;
pub mod rules;
pub mod status;
pub mod sync;
pub mod validate;
pub mod vanstock;
pub mod warranty;
mod write;

pub use automerge;
pub use doc_id::{DocId, ServerDoc};
pub use error::{ActionError, InvalidValue, SchemaError};
pub use ids::*;
pub use job::{Job, JobAction, JobDoc, JobSpec};
pub use role::{Permission, Principal, Role};
pub use status::Status;
pub use validate::{RejectCode, Rejection, validate_changes, validate_changes_in};
