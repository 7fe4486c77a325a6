//! Portcullis persistence: one use-case shaped interface over SQLite (embedded default) and
//! PostgreSQL, through sqlx's `Any` driver so there is a single code path for both (except the
//! start-up snapshot of `load_index`, read through a native connection for speed).
//!
//! Every mutation goes through a [`Write`]: it opens a transaction, bumps the data revision
//! (which also serialises writers, so invariants such as "the last administrator stays" are
//! checked against committed data), carries the audit entries of the change and commits them
//! together with it. The store never decides permissions; the service does before calling it.

mod access_query;
mod app_keys;
mod apps;
mod audit;
mod audit_query;
mod billing;
pub mod changes;
mod collaborators;
mod compute;
mod connect;
mod credentials;
mod domains;
mod email_keys;
mod email_tokens;
mod error;
mod identity_providers;
mod in_use;
mod invitations;
mod items;
mod members;
mod one_time;
mod orgs;
mod outbox;
pub mod portable;
mod rows;
mod scim;
mod scim_roles;
mod security;
mod snapshot;
mod sso_links;
mod teams;
#[cfg(feature = "testing")]
pub mod testing;
mod totp;
mod transport;
mod tx;
mod users;
mod write;

pub use apps::{AppChanges, AppRecord, NewApp};
pub use audit::{Actor, AuditRecord, AuditRow};
pub use audit_query::{AuditEntry, AuditFilter, AuditOrder, ChainPruned};
pub use billing::{BudgetRecord, UsageGroup, UsageRecord};
pub use collaborators::{CollaborationRecord, CollaboratorRecord};
pub use compute::{
    CapacityType, ClusterRecord, DeploymentChanges, DeploymentRecord, DeploymentTarget, ModelRef,
    NewCluster, NewDeployment, NewNodepool, NodepoolChanges, NodepoolRecord,
};
pub use connect::SQLITE_FILE;
pub use connect::{
    ACQUIRE_TIMEOUT, Backend, IDLE_IN_TRANSACTION_TIMEOUT, LOCK_TIMEOUT, STATEMENT_TIMEOUT, Store,
};
pub use credentials::{CredentialRecord, NewCredential};
pub use domains::{DomainRecord, DomainStatus};
pub use email_keys::{EmailOwner, StoredEmail};
pub use email_tokens::{EmailTokenPurpose, RedeemedEmailToken};
pub use error::StoreError;
pub use identity_providers::{ConsumedSamlRequest, IdpRecord, IdpSettings, OrgSso, SamlRequest};
pub use in_use::{Claim, LOCK_FILE, claim_data_dir, share_data_dir};
pub use invitations::{InvitationRecord, InvitationState, NewInvitation};
pub use items::{InstalledModule, ItemRecord, NewItem};
pub use members::{MemberRecord, RemovedMember};
pub use one_time::{RedeemedToken, TokenPurpose};
pub use orgs::{NewOrg, OrgRecord};
pub use outbox::{ClaimedMessage, NewMessage, OutboxMessage};
pub use scim::{
    NewScimToken, ScimGroupRecord, ScimTokenRow, ScimUserAttributes, ScimUserRecord, user_name_key,
};
pub use scim_roles::ScimGroupRole;
pub use security::{FailureCount, LOCKED_UNTIL_UNLOCKED, LoginState};
pub use sso_links::{LinkConfirmed, PendingSsoLink, SsoLink};
pub use teams::{NewTeam, TeamAppSet, TeamChanges, TeamMemberAdd, TeamRecord};
pub use totp::TotpFactor;
pub use transport::Transport;
pub use users::{NewUser, UserRecord};
pub use write::Write;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
