//! The acting principal of a request: who, with which credential, from where.

use std::sync::Arc;

use parking_lot::Mutex;
use portcullis_core::decision::{Binding, Resource, Subject};
use portcullis_core::{CredentialKind, Permission, UserKey};
use portcullis_store::Actor;

/// The permissions a request was granted on its way to a write (permission, resource, and the
/// resource's name for a `not_found`), shared by the clones of its [`Caller`]. `commit` asks
/// them again once the write is serialised behind every earlier one, so a demotion, removal or
/// deletion committed after the request was authorized but before its write wins.
#[derive(Debug, Clone, Default)]
pub struct Grants(Arc<Mutex<Vec<Grant>>>);

/// One permission granted on one resource, with the resource's name for a `not_found`.
pub type Grant = (Permission, Resource, &'static str);

impl Grants {
    pub(crate) fn record(&self, permission: Permission, resource: Resource, what: &'static str) {
        let mut grants = self.0.lock();
        if !grants.contains(&(permission, resource, what)) {
            grants.push((permission, resource, what));
        }
    }

    pub(crate) fn list(&self) -> Vec<Grant> {
        self.0.lock().clone()
    }
}

/// Request context recorded in audit entries.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: Subject,
    /// The credential's store id and kind (`None`: anonymous or the system).
    pub credential: Option<(i64, CredentialKind)>,
    /// The SHA-256 of the presented token, so logout can revoke exactly it.
    pub token_hash: Option<[u8; 32]>,
    pub meta: RequestMeta,
    /// What this request was authorized to do so far (checked again by `commit`).
    pub granted: Grants,
}

impl Caller {
    pub fn anonymous(meta: RequestMeta) -> Self {
        Self {
            subject: Subject::anonymous(),
            credential: None,
            token_hash: None,
            meta,
            granted: Grants::default(),
        }
    }

    /// The system acting on its own (CLI maintenance, start-up).
    pub fn system() -> Self {
        Self::anonymous(RequestMeta::default())
    }

    /// A user acting with its full power and no credential (CLI commands against a data dir).
    pub fn user_directly(user: UserKey) -> Self {
        Self {
            subject: Subject::user(user),
            credential: None,
            token_hash: None,
            meta: RequestMeta::default(),
            granted: Grants::default(),
        }
    }

    pub fn user(&self) -> Option<UserKey> {
        self.subject.user
    }

    pub fn kind(&self) -> Option<CredentialKind> {
        self.credential.map(|(_, kind)| kind)
    }

    /// Whether the caller signed in interactively (some account operations need a session).
    pub fn is_session(&self) -> bool {
        matches!(self.kind(), Some(CredentialKind::Session) | None) && self.user().is_some()
    }

    /// Whether the credential reaches beyond one org or app.
    pub fn is_unbound(&self) -> bool {
        self.subject.binding == Binding::Anywhere
    }

    /// Whether the credential is unbound and holds every scope (the operator's platform
    /// duties need that, like the management of one's own account).
    pub fn is_unrestricted(&self) -> bool {
        self.is_unbound() && self.subject.scopes == portcullis_core::PermissionSet::all()
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user: self.subject.user,
            credential: self.credential,
            request_id: self.meta.request_id.clone(),
            source_ip: self.meta.source_ip.clone(),
            user_agent: self.meta.user_agent.clone(),
        }
    }
}
