//! Portcullis persistence: one use-case shaped interface over SQLite (embedded default) and
//! PostgreSQL, through sqlx's `Any` driver so there is a single code path for both.
//!
//! Every mutation goes through a [`Write`]: it opens a transaction, bumps the data revision
//! (which also serialises writers, so invariants such as "the last administrator stays" are
//! checked against committed data), carries the audit entries of the change and commits them
//! together with it. The store never decides permissions; the service does before calling it.

mod apps;
mod audit;
mod connect;
mod credentials;
mod error;
mod invitations;
mod members;
mod orgs;
mod rows;
mod snapshot;
mod teams;
pub mod testing;
mod users;
mod write;

pub use apps::{AppChanges, AppRecord, NewApp};
pub use audit::{Actor, AuditRecord, AuditRow};
pub use connect::{Backend, Store};
pub use credentials::{CredentialRecord, NewCredential};
pub use error::StoreError;
pub use invitations::{InvitationRecord, InvitationState, NewInvitation};
pub use members::{MemberRecord, RemovedMember};
pub use orgs::{NewOrg, OrgRecord};
pub use teams::{NewTeam, TeamAppSet, TeamChanges, TeamMemberAdd, TeamRecord};
pub use users::{NewUser, UserRecord};
pub use write::Write;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
