//! Invitations: how users join an organization. An administrator (`members.manage`) invites an
//! email address in a role; the user holding that email accepts or declines it; it may be
//! cancelled while pending, and it expires after `invitation_ttl_ms`.
//!
//! An invitation belongs to its address. Only an account whose *verified* email is the invited
//! address may see or answer it by id (to anyone else it does not exist; an unverified account
//! is told to verify first), or whoever follows the secret link mailed to that address (which
//! also verifies the account's address when it is the invited one). Every state check happens
//! inside the write transaction, so two concurrent acceptances add the membership once.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{Change, Email, Permission, UserKey};
use portcullis_store::{AuditRecord, InvitationRecord, InvitationState, NewInvitation, Write};
use serde_json::json;

use crate::authentication::parse_email;
use crate::credential_use::{CredentialUse, require_credential_for};
use crate::email_verification::unverified;
use crate::mail::{Mail, link_to};
use crate::members::parse_role;
use crate::password_change::{one_time_secret, token_hash_hex};
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// The console page an invitation mail's link opens.
pub const ACCEPT_PATH: &str = "/invitations/accept";

/// Invitation ids: `inv_` and 20 random lower-case letters and digits (about 103 bits).
pub(crate) fn invitation_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let body: String = (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("inv_{body}")
}

/// How the caller answers an invitation addressed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accept,
    Decline,
}

/// How the caller shows the invitation is theirs.
#[derive(Debug, Clone, Copy)]
enum Claim<'a> {
    /// By id, with a verified address equal to the invited one.
    Id(&'a str),
    /// By the secret of the invitation mail's link (its SHA-256, hex).
    Link(&'a str),
}

impl Portcullis {
    /// Invites `email` into `org` in `role` (`members.manage`).
    pub async fn create_invitation(
        &self,
        caller: &Caller,
        org: &str,
        email: &str,
        role: &str,
    ) -> Result<Committed<InvitationRecord>> {
        let org = self.resolve_org(org)?;
        self.authorize_mutation(
            Operation::InvitationCreate,
            caller,
            Permission::MembersManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )
        .await?;
        let inviter = self.require_user(caller)?;
        let email = parse_email("email", email)?;
        let role = parse_role("role", role)?;
        let (secret, token_hash) = one_time_secret("pci");
        let inviter_id = self
            .with_index(|i| i.user(inviter).map(|u| u.id.to_string()))
            .unwrap_or_default();
        let org_id = self
            .with_index(|i| i.org(org).map(|o| o.id.to_string()))
            .unwrap_or_default();
        let link = link_to(&self.config().public_url, ACCEPT_PATH, &secret);
        let new = NewInvitation {
            id: invitation_id(),
            org,
            email: email.as_str().to_owned(),
            email_key: email.key(),
            role,
            invited_by: inviter,
            expires_at: self.now().saturating_add(self.config().invitation_ttl_ms),
            token_hash,
        };
        let mail = Mail::new(
            email.as_str(),
            format!("You are invited to join {org_id} on Portcullis"),
            email.as_str(),
        )
        .say(format!(
            "{inviter_id} invited you to join the organization `{org_id}` as {}.",
            role.as_str()
        ))
        .say(
            "Follow the link to accept: sign in, or sign up with this address, first. \
             The invitation expires in 7 days unless it is cancelled earlier.",
        )
        .link("Accept the invitation", link);
        self.commit(caller, async |w| {
            if w.member_with_email(org, &new.email_key).await? {
                return Err(already_member());
            }
            w.expire_stale_invitations(org, &new.email_key).await?;
            if w.pending_invitation_exists(org, &new.email_key).await? {
                return Err(pending_exists());
            }
            let record = w.create_invitation(&new).await.map_err(|e| match e {
                portcullis_store::StoreError::Conflict(_) => pending_exists(),
                other => other.into(),
            })?;
            let message = mail.queue(w).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::InvitationCreate,
                    json!({"org": record.org_id, "invitation": record.id, "email": record.email}),
                )
                .with_details(
                    json!({"role": role.as_str(), "expires_at": record.expires_at,
                                     "outbox_message": message}),
                ),
            );
            Ok((record, vec![]))
        })
        .await
    }

    /// Every invitation of `org` with its effective state (`members.manage`).
    pub async fn list_invitations(
        &self,
        caller: &Caller,
        org: &str,
    ) -> Result<Vec<InvitationRecord>> {
        let org = self.resolve_org(org)?;
        self.authorize(
            caller,
            Permission::MembersManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )?;
        let now = self.now();
        let mut invitations = self.store().invitations_of_org(org).await?;
        for invitation in &mut invitations {
            invitation.state = invitation.state_at(now);
        }
        Ok(invitations)
    }

    /// Cancels a pending invitation of `org` (`members.manage`).
    pub async fn cancel_invitation(
        &self,
        caller: &Caller,
        org: &str,
        id: &str,
    ) -> Result<Committed<InvitationRecord>> {
        let org = self.resolve_org(org)?;
        self.authorize_mutation(
            Operation::InvitationCancel,
            caller,
            Permission::MembersManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )
        .await?;
        let user = self.require_user(caller)?;
        let now = self.now();
        self.commit(caller, async |w| {
            let invitation = w.invitation(id).await?;
            if invitation.org != org {
                return Err(ServiceError::NotFound("invitation"));
            }
            if invitation.state_at(now) != InvitationState::Pending {
                return Err(not_pending(&invitation, now));
            }
            decide(w, &invitation, InvitationState::Cancelled, user).await?;
            w.audit(AuditRecord::new(
                Some(org),
                Operation::InvitationCancel,
                json!({"org": invitation.org_id, "invitation": invitation.id, "email": invitation.email}),
            ));
            Ok((decided(invitation, InvitationState::Cancelled, now), vec![]))
        })
        .await
    }

    /// Accepts an invitation addressed to the caller's verified email: the caller becomes a
    /// member in the invited role.
    pub async fn accept_invitation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Committed<InvitationRecord>> {
        self.answer_invitation(caller, Claim::Id(id), Answer::Accept)
            .await
    }

    /// Accepts the invitation whose mail link carries `token`: holding the link proves access
    /// to the invited mailbox. When the caller's address is the invited one, it is verified too.
    pub async fn accept_invitation_by_link(
        &self,
        caller: &Caller,
        token: &str,
    ) -> Result<Committed<InvitationRecord>> {
        let hash = token_hash_hex(token.trim());
        self.answer_invitation(caller, Claim::Link(&hash), Answer::Accept)
            .await
    }

    /// Declines an invitation addressed to the caller's verified email.
    pub async fn decline_invitation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Committed<InvitationRecord>> {
        self.answer_invitation(caller, Claim::Id(id), Answer::Decline)
            .await
    }

    /// The invitation a mail link leads to (with its state now), for the page that asks to
    /// accept it; the link itself is the proof, so any signed-in caller may look.
    pub async fn invitation_by_link(
        &self,
        caller: &Caller,
        token: &str,
    ) -> Result<InvitationRecord> {
        self.require_user(caller)?;
        let hash = token_hash_hex(token.trim());
        let mut invitation = self
            .store()
            .invitation_by_token(&hash)
            .await?
            .ok_or_else(bad_link)?;
        invitation.state = invitation.state_at(self.now());
        Ok(invitation)
    }

    /// The caller's pending invitations (none while its address is unverified).
    pub async fn my_invitations(&self, caller: &Caller) -> Result<Vec<InvitationRecord>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ReadAccount)?;
        Ok(self
            .store()
            .pending_invitations_of_user(user, self.now())
            .await?)
    }

    async fn answer_invitation(
        &self,
        caller: &Caller,
        claim: Claim<'_>,
        answer: Answer,
    ) -> Result<Committed<InvitationRecord>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        // Told before anything is looked up, so it reveals nothing about the invitation.
        if matches!(claim, Claim::Id(_)) && !self.email_verified(user).await? {
            return Err(unverified());
        }
        let quota = self.config().max_orgs_per_user;
        let now = self.now();
        let user_id = self
            .with_index(|i| i.user(user).map(|u| u.id.to_string()))
            .unwrap_or_default();
        self.commit(caller, async |w| {
            let invitation = match claim {
                Claim::Id(id) => w.invitation_for_user(id, user).await?,
                Claim::Link(hash) => w.invitation_by_token(hash).await.map_err(|e| match e {
                    portcullis_store::StoreError::NotFound(_) => bad_link(),
                    other => other.into(),
                })?,
            };
            match invitation.state_at(now) {
                InvitationState::Pending => {}
                InvitationState::Expired => {
                    return Err(ServiceError::state(
                        "invitation.expired",
                        "the invitation has expired",
                    ));
                }
                _ => return Err(not_pending(&invitation, now)),
            }
            let org = invitation.org;
            let targets =
                json!({"org": invitation.org_id, "invitation": invitation.id, "user": user_id});
            match answer {
                Answer::Decline => {
                    decide(w, &invitation, InvitationState::Declined, user).await?;
                    w.audit(AuditRecord::new(
                        Some(org),
                        Operation::InvitationDecline,
                        targets,
                    ));
                    Ok((decided(invitation, InvitationState::Declined, now), vec![]))
                }
                Answer::Accept => {
                    if w.member_role(org, user).await?.is_some() {
                        return Err(already_member());
                    }
                    if w.membership_count(user).await? >= quota {
                        return Err(ServiceError::state(
                            "org.quota_exceeded",
                            format!("a user may belong to at most {quota} organizations"),
                        ));
                    }
                    let role = invitation.role;
                    w.add_member(org, user, role).await.map_err(|e| match e {
                        portcullis_store::StoreError::Conflict(_) => already_member(),
                        other => other.into(),
                    })?;
                    decide(w, &invitation, InvitationState::Accepted, user).await?;
                    let mut details = json!({"role": role.as_str()});
                    if let Claim::Link(_) = claim {
                        details["via"] = json!("link");
                        // The link reached the invited mailbox: if that is the account's
                        // address, the address is proven too.
                        if let Ok(invited) = Email::parse(&invitation.email)
                            && w.mark_email_verified(user, &invited.key()).await?
                        {
                            details["email_verified"] = json!(true);
                        }
                    }
                    w.audit(
                        AuditRecord::new(Some(org), Operation::InvitationAccept, targets.clone())
                            .with_details(details.clone()),
                    );
                    w.audit(
                        AuditRecord::new(
                            Some(org),
                            Operation::MemberAdd,
                            json!({"org": invitation.org_id, "user": user_id}),
                        )
                        .with_details(json!({"role": role.as_str(), "invitation": invitation.id})),
                    );
                    let changes = vec![Change::MemberSet { org, user, role }];
                    Ok((decided(invitation, InvitationState::Accepted, now), changes))
                }
            }
        })
        .await
    }
}

/// Moves the invitation out of `pending`; a concurrent decision that got there first makes
/// this one fail as not pending.
async fn decide(
    w: &mut Write,
    invitation: &InvitationRecord,
    state: InvitationState,
    by: UserKey,
) -> Result<()> {
    if !w.decide_invitation(&invitation.id, state, Some(by)).await? {
        return Err(ServiceError::state(
            "invitation.not_pending",
            "the invitation is no longer pending",
        ));
    }
    Ok(())
}

fn decided(
    mut invitation: InvitationRecord,
    state: InvitationState,
    now: portcullis_core::Timestamp,
) -> InvitationRecord {
    invitation.state = state;
    invitation.decided_at = Some(now);
    invitation
}

fn not_pending(invitation: &InvitationRecord, now: portcullis_core::Timestamp) -> ServiceError {
    ServiceError::state(
        "invitation.not_pending",
        format!(
            "the invitation is {}, not pending",
            invitation.state_at(now).as_str()
        ),
    )
}

fn bad_link() -> ServiceError {
    ServiceError::invalid(
        "token.invalid",
        "token",
        "the invitation link is unknown or no longer valid",
    )
}

fn already_member() -> ServiceError {
    ServiceError::state(
        "invitation.already_member",
        "the invited user is already a member",
    )
}

fn pending_exists() -> ServiceError {
    ServiceError::state(
        "invitation.pending_exists",
        "a pending invitation for this email already exists in this organization",
    )
}
