//! Proving an email address: the verification link sent at sign-up (and on request, throttled),
//! changing one's address (a confirmation link to the new address, a notice to the old), and
//! the operator marking an address verified.
//!
//! An address is a claim until its owner follows a single-use link sent to it. An unverified
//! account may sign in and look after its own account (password, two-factor, sessions, tokens,
//! its address) and create organizations, but it is matched by email to nothing: it cannot see,
//! accept or decline invitations, and password reset mails are not sent to it.

use portcullis_core::audit::Operation;
use portcullis_core::{Email, Timestamp, UserKey};
use portcullis_store::{AuditRecord, EmailTokenPurpose, Write};
use serde_json::json;

use crate::authentication::parse_email;
use crate::credential_use::{CredentialUse, require_credential_for};
use crate::mail::{Mail, link_to};
use crate::password_change::{one_time_secret, token_hash_hex};
use crate::{Caller, Portcullis, Result, ServiceError};

/// How long a verification link and an email-change link stay usable.
pub const VERIFY_LINK_TTL_MS: i64 = 24 * 3_600_000;
pub const CHANGE_LINK_TTL_MS: i64 = 3_600_000;
/// Shortest time between two verification mails for one account.
pub const RESEND_INTERVAL_MS: i64 = 60_000;

/// The console page a verification or email-change link opens.
pub const VERIFY_PATH: &str = "/verify-email";

/// The caller's address and whether it is proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailStatus {
    pub email: String,
    pub verified_at: Option<Timestamp>,
}

/// What following a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailConfirmed {
    /// The account's address is now verified.
    Verified { user: String, email: String },
    /// The account moved to this (verified) address.
    Changed { user: String, email: String },
}

fn bad_link() -> ServiceError {
    ServiceError::invalid(
        "token.invalid",
        "token",
        "the link is unknown, expired or already used",
    )
}

pub(crate) fn unverified() -> ServiceError {
    ServiceError::NotAllowed {
        code: "email.unverified",
        message: "verify your email address first: follow the link sent to it".into(),
    }
}

/// Issues a verification link for `email` and queues the mail carrying it.
pub(crate) async fn queue_verification(
    w: &mut Write,
    public_url: &str,
    user: UserKey,
    user_id: &str,
    email: &Email,
) -> Result<i64> {
    let (secret, hash) = one_time_secret("pcv");
    let expires_at = w.now() + VERIFY_LINK_TTL_MS;
    w.issue_email_token(
        &hash,
        user,
        EmailTokenPurpose::Verify,
        email.as_str(),
        &email.key(),
        expires_at,
    )
    .await?;
    Mail::new(email.as_str(), "Verify your email address", user_id)
        .say(format!(
            "Please confirm that this address belongs to your Portcullis account `{user_id}`. \
             The link works once, within 24 hours."
        ))
        .say("If you did not sign up, ignore this message: the account stays unverified.")
        .link(
            "Verify my address",
            link_to(public_url, VERIFY_PATH, &secret),
        )
        .queue(w)
        .await
}

impl Portcullis {
    /// The caller's address and its verification.
    pub async fn email_status(&self, caller: &Caller) -> Result<EmailStatus> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ReadAccount)?;
        let record = self
            .store()
            .user(user)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        Ok(EmailStatus {
            email: record.email,
            verified_at: self.store().email_verified_at(user).await?,
        })
    }

    /// Whether `user`'s current address is proven.
    pub async fn email_verified(&self, user: UserKey) -> Result<bool> {
        Ok(self.store().email_verified_at(user).await?.is_some())
    }

    /// Sends a new verification link to the caller's address (earlier links stop working);
    /// at most one per [`RESEND_INTERVAL_MS`].
    pub async fn resend_verification(&self, caller: &Caller) -> Result<()> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ReadAccount)?;
        let record = self
            .store()
            .user(user)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        if self.store().email_verified_at(user).await?.is_some() {
            return Err(ServiceError::state(
                "email.already_verified",
                "the email address is already verified",
            ));
        }
        let now = self.now();
        if let Some(last) = self
            .store()
            .last_email_token_at(user, EmailTokenPurpose::Verify)
            .await?
            && last + RESEND_INTERVAL_MS > now
        {
            let wait_ms = last + RESEND_INTERVAL_MS - now;
            return Err(ServiceError::TooSoon {
                code: "email.verification_throttled",
                retry_after_secs: u64::try_from((wait_ms + 999) / 1000).unwrap_or(1),
            });
        }
        let email = Email::parse(&record.email).map_err(|e| ServiceError::Internal(e.into()))?;
        let public_url = self.config().public_url.clone();
        self.commit(caller, async |w| {
            let message = queue_verification(w, &public_url, user, &record.id, &email).await?;
            w.audit(
                AuditRecord::new(
                    None,
                    Operation::EmailVerificationSend,
                    json!({"user": record.id}),
                )
                .with_details(json!({"outbox_message": message})),
            );
            Ok(((), vec![]))
        })
        .await?;
        Ok(())
    }

    /// Follows a verification or email-change link. Needs no sign-in: the link is the proof.
    pub async fn confirm_email(&self, caller: &Caller, raw_token: &str) -> Result<EmailConfirmed> {
        let hash = token_hash_hex(raw_token.trim());
        let confirmed = self
            .commit(caller, async |w| {
                let token = w.redeem_email_token(&hash).await?.ok_or_else(bad_link)?;
                let user_id = w.user_handle(token.user).await?.ok_or_else(bad_link)?;
                let targets = json!({"user": user_id});
                match token.purpose {
                    EmailTokenPurpose::Verify => {
                        // A link sent before the address changed proves nothing about the new one.
                        if !w.mark_email_verified(token.user, &token.email_key).await? {
                            return Err(bad_link());
                        }
                        w.audit(
                            AuditRecord::new(None, Operation::EmailVerify, targets)
                                .with_details(json!({"email": token.email})),
                        );
                        Ok((
                            EmailConfirmed::Verified {
                                user: user_id,
                                email: token.email,
                            },
                            vec![],
                        ))
                    }
                    EmailTokenPurpose::Change => {
                        w.change_email(token.user, &token.email, &token.email_key)
                            .await
                            .map_err(|e| match e {
                                portcullis_store::StoreError::Conflict(_) => ServiceError::state(
                                    "email.taken",
                                    "another account uses this email address",
                                ),
                                other => other.into(),
                            })?;
                        w.audit(
                            AuditRecord::new(None, Operation::EmailChange, targets)
                                .with_details(json!({"email": token.email})),
                        );
                        Ok((
                            EmailConfirmed::Changed {
                                user: user_id,
                                email: token.email,
                            },
                            vec![],
                        ))
                    }
                }
            })
            .await?;
        Ok(confirmed.value)
    }

    /// Starts changing the caller's address: a confirmation link goes to the new address and
    /// a notice to the current one; nothing changes until the link is followed. Needs a login
    /// session (a token cannot move an account to another mailbox).
    pub async fn request_email_change(&self, caller: &Caller, new_email: &str) -> Result<()> {
        let user = self.require_user(caller)?;
        require_credential_for(
            caller,
            CredentialUse::SignIn {
                code: "credential.session_required",
                what: "changing the email address",
            },
        )?;
        crate::sso_trust::require_own_sign_in(caller)?;
        let new = parse_email("email", new_email)?;
        let record = self
            .store()
            .user(user)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let current = Email::parse(&record.email).map_err(|e| ServiceError::Internal(e.into()))?;
        if current.key() == new.key() {
            return Err(ServiceError::invalid(
                "email.unchanged",
                "email",
                "that is already the account's address",
            ));
        }
        let public_url = self.config().public_url.clone();
        let (secret, hash) = one_time_secret("pcv");
        let expires_at = self.now() + CHANGE_LINK_TTL_MS;
        self.commit(caller, async |w| {
            w.issue_email_token(
                &hash,
                user,
                EmailTokenPurpose::Change,
                new.as_str(),
                &new.key(),
                expires_at,
            )
            .await?;
            let confirm = Mail::new(new.as_str(), "Confirm your new email address", &record.id)
                .say(format!(
                    "Your Portcullis account `{}` asked to use this address from now on. \
                     Follow the link within an hour to confirm; until then nothing changes.",
                    record.id
                ))
                .link(
                    "Confirm my new address",
                    link_to(&public_url, VERIFY_PATH, &secret),
                )
                .queue(w)
                .await?;
            let notice = Mail::new(
                current.as_str(),
                "Your email address is being changed",
                &record.id,
            )
            .say(format!(
                "Someone signed in to your Portcullis account `{}` asked to move it to \
                     another email address. It changes only when the link sent there is followed.",
                record.id
            ))
            .say("If this was not you, change your password now and end your other sessions.")
            .queue(w)
            .await?;
            w.audit(
                AuditRecord::new(
                    None,
                    Operation::EmailChangeRequest,
                    json!({"user": record.id}),
                )
                .with_details(json!({"email": new.as_str(), "outbox_messages": [confirm, notice]})),
            );
            Ok(((), vec![]))
        })
        .await?;
        Ok(())
    }

    /// Marks `user_id`'s current address verified: the platform operator through the API.
    /// Returns false when it already was.
    pub async fn verify_email_as_operator(&self, caller: &Caller, user_id: &str) -> Result<bool> {
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        let operator = caller
            .user()
            .is_some_and(|u| self.with_index(|i| i.user(u).is_some_and(|e| e.operator)));
        if !operator {
            return Err(ServiceError::NotAllowed {
                code: "platform.operator_only",
                message: "only the platform operator can mark an address verified".into(),
            });
        }
        self.mark_verified(caller, user_id).await
    }

    /// The same for `portcullis users verify-email`, run by whoever holds the data directory
    /// or database URL (no HTTP route calls this).
    pub async fn verify_email_directly(&self, user_id: &str) -> Result<bool> {
        self.mark_verified(&Caller::system(), user_id).await
    }

    async fn mark_verified(&self, caller: &Caller, user_id: &str) -> Result<bool> {
        let key = self
            .with_index(|i| i.user_by_id(user_id))
            .ok_or(ServiceError::NotFound("user"))?;
        let record = self
            .store()
            .user(key)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        if self.store().email_verified_at(key).await?.is_some() {
            return Ok(false);
        }
        let email = Email::parse(&record.email).map_err(|e| ServiceError::Internal(e.into()))?;
        self.commit(caller, async |w| {
            w.mark_email_verified(key, &email.key()).await?;
            w.audit(
                AuditRecord::new(None, Operation::EmailVerify, json!({"user": record.id}))
                    .with_details(json!({"email": record.email, "by": "operator"})),
            );
            Ok(((), vec![]))
        })
        .await?;
        Ok(true)
    }
}
