//! Which accounts an organization's identity provider may sign in, and what the sessions it
//! produces may do.
//!
//! An organization controls its identity provider completely (it can add a certificate of its
//! own and sign any assertion), so the IdP's word counts only for identities the organization
//! owns. This module holds that one decision ([`idp_may_vouch`]) and the restriction every
//! session from an organization's IdP carries ([`require_own_sign_in`]); it does no I/O.

use portcullis_core::CredentialKind;
use portcullis_core::OrgKey;
use portcullis_core::decision::Binding;

use crate::{Caller, Result, ServiceError};

/// What is known about an account when an organization's IdP asserts it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccountTrust {
    pub operator: bool,
    /// The organization that provisioned the account, if one did.
    pub managed_by: Option<OrgKey>,
    /// The organization whose verified domain covers the account's verified email address.
    pub verified_domain_of: Option<OrgKey>,
    /// Whether the account's owner linked the asserted identity to it themselves (signed in
    /// by their own means, confirmed from a mail to the account's address).
    pub owner_linked: bool,
}

/// Why an organization's IdP may sign the account in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vouch {
    /// The organization provisioned the account (JIT).
    Managed,
    /// The account's verified address is in a domain the organization has verified.
    VerifiedDomain,
    /// The account's owner linked this identity to it.
    OwnerLinked,
}

impl Vouch {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Vouch::Managed => "managed",
            Vouch::VerifiedDomain => "verified_domain",
            Vouch::OwnerLinked => "owner_linked",
        }
    }
}

/// Whether `org`'s identity provider may vouch for an account: one the organization manages,
/// one whose verified address is in a domain the organization has verified (a suspended claim
/// counts for nothing), or one whose owner linked the asserted identity to it. Never the
/// platform operator.
pub(crate) fn idp_may_vouch(org: OrgKey, account: AccountTrust) -> Result<Vouch> {
    if account.operator {
        return Err(ServiceError::NotAllowed {
            code: "saml.operator_refused",
            message: "the platform operator never signs in through an organization's identity \
                      provider"
                .into(),
        });
    }
    if account.managed_by == Some(org) {
        Ok(Vouch::Managed)
    } else if account.verified_domain_of == Some(org) {
        Ok(Vouch::VerifiedDomain)
    } else if account.owner_linked {
        Ok(Vouch::OwnerLinked)
    } else {
        Err(account_not_owned())
    }
}

/// An existing account the organization does not own: never attached by its email address.
pub(crate) fn account_not_owned() -> ServiceError {
    ServiceError::NotAllowed {
        code: "saml.account_not_owned",
        message: "an account with this identity already exists and this organization's identity \
                  provider cannot sign it in; sign in to that account with its own password (and \
                  second factor) and link this identity provider from the account page"
            .into(),
    }
}

/// Whether the caller's session came from an organization's identity provider: such a
/// session is bound to that organization (the only bound kind of session).
pub(crate) fn is_sso_session(caller: &Caller) -> bool {
    caller.kind() == Some(CredentialKind::Session)
        && matches!(caller.subject.binding, Binding::Org(_))
}

/// Changing the account's own credentials (password, email, second factor) needs a session
/// the account's owner established by their own means, not one an organization's IdP vouched
/// for.
pub(crate) fn require_own_sign_in(caller: &Caller) -> Result<()> {
    if is_sso_session(caller) {
        return Err(ServiceError::NotAllowed {
            code: "sso.session_restricted",
            message: "a session from an organization's identity provider cannot change the \
                      account's password, email or second factor"
                .into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idp_vouches_only_for_accounts_its_org_owns_or_whose_owner_linked_them_never_the_operator()
    {
        let (acme, globex) = (OrgKey(7), OrgKey(8));
        let trust = |operator, managed_by| AccountTrust {
            operator,
            managed_by,
            verified_domain_of: None,
            owner_linked: false,
        };
        let in_domain_of = |verified_domain_of| AccountTrust {
            operator: false,
            managed_by: None,
            verified_domain_of,
            owner_linked: false,
        };
        let linked = |operator| AccountTrust {
            owner_linked: true,
            ..trust(operator, None)
        };
        assert_eq!(
            idp_may_vouch(acme, linked(false)).ok(),
            Some(Vouch::OwnerLinked)
        );
        assert_eq!(
            idp_may_vouch(acme, in_domain_of(Some(acme))).ok(),
            Some(Vouch::VerifiedDomain)
        );
        assert_eq!(
            idp_may_vouch(
                acme,
                AccountTrust {
                    managed_by: Some(acme),
                    ..in_domain_of(Some(acme))
                }
            )
            .ok(),
            Some(Vouch::Managed)
        );
        assert_eq!(
            idp_may_vouch(acme, trust(false, Some(acme))).ok(),
            Some(Vouch::Managed)
        );
        for (account, code) in [
            (trust(false, None), "saml.account_not_owned"),
            (trust(false, Some(globex)), "saml.account_not_owned"),
            (trust(true, None), "saml.operator_refused"),
            (trust(true, Some(acme)), "saml.operator_refused"),
            (linked(true), "saml.operator_refused"),
            (in_domain_of(Some(globex)), "saml.account_not_owned"),
            (
                AccountTrust {
                    operator: true,
                    ..in_domain_of(Some(acme))
                },
                "saml.operator_refused",
            ),
        ] {
            match idp_may_vouch(acme, account) {
                Err(ServiceError::NotAllowed { code: got, .. }) => assert_eq!(got, code),
                other => panic!("{account:?}: {other:?}"),
            }
        }
    }
}
