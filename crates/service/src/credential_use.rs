//! What a credential may be used for beyond the permission matrix: the one rule for the
//! caller's own account, memberships and the operator's platform duties.
//!
//! The matrix decides what a credential may do to an organization or an app. Account
//! management has no resource in the matrix, so this module decides it, and every use case
//! that touches the caller's own account asks here first. A narrow credential (an app key, a
//! token bound to one organization, a token with a few scopes) does what it was made for and
//! nothing else: it never reads or manages its owner's account, keys or sessions, never moves
//! its owner in or out of organizations and never creates one.

use portcullis_core::decision::Binding;
use portcullis_core::{OrgKey, PermissionSet};

use crate::{Caller, Result, ServiceError};

/// Why the caller's own credential is being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialUse {
    /// Reading one's own profile, organizations, invitations, collaborations: an unbound
    /// credential, or a login session (one from an organization's identity provider is bound
    /// to that organization, and what it lists is filtered to it).
    ReadAccount,
    /// Seeing or changing one's own credentials (tokens, sessions, second factor), creating an
    /// organization, or acting as the platform operator: an unbound credential with every
    /// scope.
    ManageAccount,
    /// Joining or leaving one organization: a credential that reaches exactly that
    /// organization (or is unbound), with every scope.
    Membership(OrgKey),
    /// Minting a credential or changing how one signs in (password, second factor): only an
    /// interactive login session, so a stolen token cannot entrench itself.
    SignIn {
        code: &'static str,
        what: &'static str,
    },
}

/// Refuses the caller's credential unless it may be used for `purpose`.
pub(crate) fn require_credential_for(caller: &Caller, purpose: CredentialUse) -> Result<()> {
    if caller.user().is_none() {
        return Err(ServiceError::Unauthenticated);
    }
    let binding = &caller.subject.binding;
    let full_scope = caller.subject.scopes == PermissionSet::all();
    match purpose {
        CredentialUse::ReadAccount => {
            require_within(*binding == Binding::Anywhere || caller.is_session())
        }
        CredentialUse::ManageAccount => {
            require_within(*binding == Binding::Anywhere)?;
            require_full_scope(full_scope)
        }
        CredentialUse::Membership(org) => {
            require_within(matches!(binding, Binding::Anywhere) || *binding == Binding::Org(org))?;
            require_full_scope(full_scope)
        }
        CredentialUse::SignIn { code, what } => {
            if caller.is_session() {
                Ok(())
            } else {
                Err(ServiceError::NotAllowed {
                    code,
                    message: format!("{what} needs a login session"),
                })
            }
        }
    }
}

fn require_within(within: bool) -> Result<()> {
    if within {
        Ok(())
    } else {
        Err(ServiceError::NotAllowed {
            code: "credential.bound",
            message: "this credential is bound to an organization or app; use a login session \
                      or an unbound token"
                .into(),
        })
    }
}

fn require_full_scope(full: bool) -> Result<()> {
    if full {
        Ok(())
    } else {
        Err(ServiceError::NotAllowed {
            code: "credential.restricted",
            message:
                "this credential is limited in scope; use a login session or an unrestricted token"
                    .into(),
        })
    }
}
