//! Linking an organization's identity-provider identity to an existing account, by its owner.
//!
//! An organization's IdP never attaches to an account it does not own by matching an email
//! address; the account's owner may choose to let it sign them in. The owner, signed in by
//! their own means (a login session: password, and the second factor when enrolled), starts a
//! link; the IdP authenticates them and its response comes back to the ACS; a single-use link
//! mailed to the account's address confirms it. Only then does that identity sign the account
//! in, and its sessions still reach that organization only.

use portcullis_core::audit::Operation;
use portcullis_core::{Change, OrgKey, Timestamp, UserKey};
use portcullis_saml::ValidatedLogin;
use portcullis_store::{AuditRecord, IdpRecord, LinkConfirmed, PendingSsoLink};
use serde_json::json;

use crate::credential_use::{CredentialUse, require_credential_for};
use crate::email_verification::unverified;
use crate::mail::{Mail, link_to};
use crate::password_change::{one_time_secret, token_hash_hex};
use crate::sso::{AcsOutcome, SsoLoginStart, refusal};
use crate::sso_trust::require_own_sign_in;
use crate::teams::org_label;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// How long the mailed confirmation works.
pub const LINK_CONFIRM_TTL_MS: i64 = 3_600_000;
/// The console page the confirmation link opens.
pub const LINK_CONFIRM_PATH: &str = "/link-identity";

/// One identity-provider identity that signs the caller's account in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub org: String,
    pub identity_provider: String,
    pub name_id: String,
    /// Why it may sign the account in: `owner_linked`, or `organization` when the
    /// organization's own rules linked it (it provisioned the account, or verified the
    /// address's domain).
    pub linked_by: &'static str,
    pub linked_at: Timestamp,
    pub last_login_at: Timestamp,
}

/// A confirmed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMade {
    pub user: String,
    pub org: String,
    pub identity_provider: String,
}

fn bad_link() -> ServiceError {
    ServiceError::invalid(
        "token.invalid",
        "token",
        "the link is unknown, expired or already used",
    )
}

fn taken() -> ServiceError {
    ServiceError::state(
        "sso.identity_linked_elsewhere",
        "this identity already signs in another account",
    )
}

fn second_factor_enrolled() -> ServiceError {
    refusal(
        "sso.second_factor_enrolled",
        "this account has a second factor, which a sign-in through an identity provider \
         cannot skip; linking it would not let the identity provider sign you in",
    )
}

impl Portcullis {
    /// Starts linking `idp` of `org_id` to the caller's account: the IdP URL to send the
    /// browser to. Needs a login session the owner established by their own means, and a
    /// verified address (the confirmation goes there).
    pub async fn start_sso_link(
        &self,
        caller: &Caller,
        org_id: &str,
        idp: &str,
    ) -> Result<SsoLoginStart> {
        let user = self.require_user(caller)?;
        require_credential_for(
            caller,
            CredentialUse::SignIn {
                code: "credential.session_required",
                what: "linking an identity provider",
            },
        )?;
        require_own_sign_in(caller)?;
        self.require_linkable(user).await?;
        let (_, record) = self.enabled_idp(org_id, idp).await?;
        self.send_authn_request(caller, org_id, &record, Some("/account".into()), Some(user))
            .await
    }

    /// The account may have an IdP identity linked: not the operator, a verified address, no
    /// second factor (which an IdP sign-in cannot skip).
    async fn require_linkable(&self, user: UserKey) -> Result<()> {
        if self.with_index(|i| i.user(user).is_some_and(|u| u.operator)) {
            return Err(refusal(
                "saml.operator_refused",
                "the platform operator never signs in through an organization's identity \
                 provider",
            ));
        }
        if self.store().email_verified_at(user).await?.is_none() {
            return Err(unverified());
        }
        if self
            .store()
            .totp_factor(user)
            .await?
            .is_some_and(|f| f.enabled)
        {
            return Err(second_factor_enrolled());
        }
        Ok(())
    }

    /// The ACS's answer to a link request: records the authenticated identity as pending and
    /// mails the confirmation to the account's address. Nothing is linked and nobody is
    /// signed in yet.
    pub(crate) async fn mail_sso_link(
        &self,
        anonymous: &Caller,
        owner: UserKey,
        org: OrgKey,
        label: &str,
        record: &IdpRecord,
        login: &ValidatedLogin,
    ) -> Result<AcsOutcome> {
        self.require_linkable(owner).await?;
        if self
            .store()
            .sso_account(record.key, &login.name_id)
            .await?
            .is_some_and(|linked| linked != owner)
        {
            return Err(taken());
        }
        let account = self
            .store()
            .user(owner)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        let idp_id = record.settings.id.as_str().to_owned();
        let public_url = self.config().public_url.clone();
        let (secret, hash) = one_time_secret("pcl");
        let expires_at = self.now() + LINK_CONFIRM_TTL_MS;
        let pending = PendingSsoLink {
            user: owner,
            idp: record.key,
            name_id: login.name_id.clone(),
        };
        let request_id = login.in_response_to.clone().unwrap_or_default();
        self.commit(anonymous, async |w| {
            if !w
                .consume_assertion_id(record.key, &login.assertion_id, login.valid_until_ms)
                .await?
            {
                return Err(refusal("saml.replay", "this assertion was already used"));
            }
            match w.consume_saml_request(record.key, &request_id).await? {
                Some(stored) if stored.link_user == Some(owner) => {}
                _ => {
                    return Err(refusal(
                        "saml.in_response_to_unknown",
                        "the response answers no outstanding request of this server",
                    ));
                }
            }
            w.request_sso_link(&hash, &pending, expires_at).await?;
            let message = Mail::new(
                &account.email,
                "Confirm linking an identity provider",
                &account.id,
            )
            .say(format!(
                "You asked to let the identity provider `{idp_id}` of the organization \
                 `{label}` sign in your Portcullis account `{}`. Follow the link within an \
                 hour to confirm; until then it cannot sign you in.",
                account.id
            ))
            .say(
                "Once linked, that organization's identity provider can sign you in to that \
                 organization (never to your other organizations or your account settings). \
                 If you did not ask for this, ignore this message and change your password.",
            )
            .link(
                "Link the identity provider",
                link_to(&public_url, LINK_CONFIRM_PATH, &secret),
            )
            .queue(w)
            .await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::SsoLinkRequest,
                    json!({"org": label, "identity_provider": idp_id, "user": account.id}),
                )
                .with_details(json!({"name_id": login.name_id, "outbox_message": message})),
            );
            Ok(((), vec![]))
        })
        .await?;
        Ok(AcsOutcome::LinkMailed {
            org: label.to_owned(),
        })
    }

    /// Follows a link confirmation mailed to the account's address. Needs no sign-in: the
    /// mailed secret is the proof.
    pub async fn confirm_sso_link(&self, caller: &Caller, raw_token: &str) -> Result<LinkMade> {
        let hash = token_hash_hex(raw_token.trim());
        let committed = self
            .commit(caller, async |w| {
                let pending = w.redeem_sso_link(&hash).await?.ok_or_else(bad_link)?;
                let user_id = w.user_handle(pending.user).await?.ok_or_else(bad_link)?;
                let (org, idp_id) = w
                    .identity_provider_by_key(pending.idp)
                    .await?
                    .ok_or_else(bad_link)?;
                if w.confirm_sso_link(&pending).await? == LinkConfirmed::TakenByAnother {
                    return Err(taken());
                }
                let label = org_label(self, org);
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::SsoLinkConfirm,
                        json!({"org": label, "identity_provider": idp_id, "user": user_id}),
                    )
                    .with_details(json!({"name_id": pending.name_id}))
                    .with_copies_to(self.member_orgs(pending.user)),
                );
                Ok((
                    LinkMade {
                        user: user_id,
                        org: label,
                        identity_provider: idp_id,
                    },
                    vec![],
                ))
            })
            .await?;
        Ok(committed.value)
    }

    /// The identity-provider identities that sign the caller in.
    pub async fn sso_links(&self, caller: &Caller) -> Result<Vec<LinkedIdentity>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ReadAccount)?;
        Ok(self
            .store()
            .sso_links_of(user)
            .await?
            .into_iter()
            .map(|link| LinkedIdentity {
                org: org_label(self, link.org),
                identity_provider: link.identity_provider,
                name_id: link.name_id,
                linked_by: if link.owner_linked_at.is_some() {
                    "owner_linked"
                } else {
                    "organization"
                },
                linked_at: link.owner_linked_at.unwrap_or(link.created_at),
                last_login_at: link.last_login_at,
            })
            .collect())
    }

    /// Unlinks `idp` of `org_id` from the caller's account and ends the sessions it signed in.
    /// Needs a login session the owner established by their own means.
    pub async fn unlink_sso(
        &self,
        caller: &Caller,
        org_id: &str,
        idp: &str,
    ) -> Result<Committed<()>> {
        let user = self.require_user(caller)?;
        require_credential_for(
            caller,
            CredentialUse::SignIn {
                code: "credential.session_required",
                what: "unlinking an identity provider",
            },
        )?;
        require_own_sign_in(caller)?;
        // An identity provider that does not exist and one not linked answer alike: this says
        // nothing about another organization's identity providers.
        let not_linked = || ServiceError::NotFound("linked identity");
        let org = self.resolve_org(org_id).map_err(|_| not_linked())?;
        let record = self
            .store()
            .identity_provider(org, idp)
            .await?
            .ok_or_else(not_linked)?;
        let label = org_label(self, org);
        let user_id = self.with_index(|i| i.user(user).map(|u| u.id.to_string()));
        self.commit(caller, async |w| {
            let (unlinked, revoked) = w.unlink_sso(user, record.key).await?;
            if unlinked == 0 {
                return Err(not_linked());
            }
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::SsoUnlink,
                    json!({"org": label, "identity_provider": record.settings.id.as_str(), "user": user_id}),
                )
                .with_details(json!({"sessions_ended": revoked.len()})),
            );
            Ok((
                (),
                revoked
                    .into_iter()
                    .map(|hash| Change::CredentialRevoked { hash })
                    .collect(),
            ))
        })
        .await
    }
}
