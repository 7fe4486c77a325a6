//! Portcullis domain core: identifiers, roles, the permission matrix, the in-memory access
//! index and the pure decision function.
//!
//! This crate does no I/O: no database, no network, no clock reads except through [`Clock`].
//! Everything here is synchronous and deterministic so that it can be tested exhaustively and
//! called on the hot path of every request.

pub mod audit;
pub mod audit_chain;
pub mod clock;
pub mod decision;
pub mod email;
pub mod ids;
pub mod index;
pub mod password_policy;
pub mod permissions;
pub mod roles;
pub mod token;

pub use clock::{Clock, FixedClock, SystemClock, Timestamp};
pub use decision::{Decision, Denial, Grant, Resource, Subject, check};
pub use email::Email;
pub use ids::{AccountId, IdError};
pub use index::{AccessIndex, AppKey, Change, CredentialKind, OrgKey, TeamKey, UserKey};
pub use permissions::{Level, MATRIX_VERSION, Permission, PermissionSet};
pub use roles::{OrgRole, TeamRole, Visibility};
