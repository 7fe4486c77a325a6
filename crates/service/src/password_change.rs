//! Changing a password (with the current one, or with the change token of a forced change),
//! the forced change itself, and reset by a single-use expiring token sent through the outbox.

use portcullis_core::audit::Operation;
use portcullis_core::{Change, Email, token};
use portcullis_store::{AuditRecord, TokenPurpose, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::authentication::LoginOutcome;
use crate::credential_use::{CredentialUse, require_credential_for};
use crate::mail::{Mail, link_to};
use crate::password_hashing::{PasswordHasher, Verified};
use crate::policy::PasswordOwner;
use crate::{Caller, Portcullis, Result, ServiceError};

/// How long a forced-change token and a reset token stay usable.
pub const CHANGE_TOKEN_TTL_MS: i64 = 15 * 60_000;
pub const RESET_TOKEN_TTL_MS: i64 = 30 * 60_000;

/// The console page a reset mail's link opens.
pub const RESET_PATH: &str = "/password-reset/confirm";

/// A random one-time secret and the hex SHA-256 under which it is stored.
pub(crate) fn one_time_secret(prefix: &str) -> (String, String) {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    let secret = format!("{prefix}_{body}");
    let hash = token_hash_hex(&secret);
    (secret, hash)
}

pub(crate) fn token_hash_hex(secret: &str) -> String {
    token::hash_token(secret)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who asks for a password change.
#[derive(Debug)]
pub enum ChangeAuthority<'a> {
    /// A signed-in user (a session, not a token).
    Caller(&'a Caller),
    /// The token of a `password_change_required` login.
    ChangeToken(&'a Caller, &'a str),
}

fn bad_token() -> ServiceError {
    ServiceError::invalid(
        "token.invalid",
        "token",
        "the token is unknown, expired or already used",
    )
}

impl Portcullis {
    /// Why the password just presented at login must be changed now (empty: it need not):
    /// it breaks the effective policy, or it has outlived `password_life_span_days`.
    pub(crate) async fn password_change_reasons(
        &self,
        user: &UserRecord,
        password: &str,
    ) -> Result<Vec<&'static str>> {
        let policy = self.effective_policy(user.key).await?;
        // The current password is in its own history: no history check here.
        let owner = PasswordOwner {
            user: None,
            ..self.owner_of(user.key).await?
        };
        let mut reasons: Vec<&'static str> = self
            .password_violations(&policy, password, &owner, None)
            .await?
            .into_iter()
            .map(|v| v.field)
            .collect();
        if policy.password_life_span_days > 0 {
            let state = self.store().login_state(user.key).await?;
            let set_at = state.password_changed_at.unwrap_or(user.created_at);
            let life = i64::from(policy.password_life_span_days) * 86_400_000;
            if set_at + life <= self.now() {
                reasons.push("password_life_span_days");
            }
        }
        Ok(reasons)
    }

    pub(crate) async fn require_password_change(
        &self,
        actor: &Caller,
        user: UserRecord,
        reasons: Vec<&'static str>,
        _remember_me: bool,
    ) -> Result<LoginOutcome> {
        let (secret, hash) = one_time_secret("pcc");
        let expires_at = self.now() + CHANGE_TOKEN_TTL_MS;
        self.commit(actor, async |w| {
            w.void_one_time_tokens(user.key, TokenPurpose::PasswordChange)
                .await?;
            w.issue_one_time_token(&hash, user.key, TokenPurpose::PasswordChange, expires_at)
                .await?;
            w.audit(
                AuditRecord::new(None, Operation::LoginSuccess, json!({"user": user.id}))
                    .with_details(json!({"state": "password_change_required", "reasons": reasons})),
            );
            Ok(((), vec![]))
        })
        .await?;
        Ok(LoginOutcome::PasswordChangeRequired {
            change_token: SecretString::from(secret),
            expires_at,
            user,
            reasons,
        })
    }

    /// Changes a password after checking the current one and the effective policy; revokes
    /// the user's other sessions (all of them when done with a change token).
    pub async fn change_password(
        &self,
        authority: ChangeAuthority<'_>,
        current: SecretString,
        new: SecretString,
    ) -> Result<()> {
        let (caller, user, token_hash) = match authority {
            ChangeAuthority::Caller(caller) => {
                let user = self.require_user(caller)?;
                require_credential_for(
                    caller,
                    CredentialUse::SignIn {
                        code: "credential.session_required",
                        what: "changing the password",
                    },
                )?;
                crate::sso_trust::require_own_sign_in(caller)?;
                (caller, user, None)
            }
            ChangeAuthority::ChangeToken(caller, raw) => {
                let hash = token_hash_hex(raw);
                let redeemed = self
                    .store()
                    .peek_one_time_token(&hash, TokenPurpose::PasswordChange, self.now())
                    .await?
                    .ok_or_else(bad_token)?;
                (caller, redeemed.user, Some(hash))
            }
        };
        PasswordHasher::validate_field(&new, "new_password")?;
        // The current password is guessed like a login's: the same throttle, lockout and
        // answers, so this endpoint is no oracle for a locked account or a throttled source.
        self.check_throttle(caller).await?;
        let record = self
            .store()
            .user(user)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let stored = self
            .store()
            .user_with_password(
                &Email::parse(&record.email).map_err(|_| ServiceError::Unauthenticated)?,
            )
            .await?
            .and_then(|(_, hash)| hash);
        let current_plain = current.expose_secret().to_owned();
        let incorrect = || {
            ServiceError::invalid(
                "password.current_incorrect",
                "current_password",
                "the current password is not correct",
            )
        };
        let failure = |reason: &str| {
            AuditRecord::new(None, Operation::LoginFailure, json!({"user": record.id}))
                .with_details(json!({"reason": reason}))
                .with_copies_to(self.member_orgs(user))
        };
        if self.passwords.verify(current, stored).await? == Verified::No {
            self.count_account_failure(caller, user, &record.id, failure("wrong_current_password"))
                .await?;
            self.count_ip_failure(caller).await?;
            return Err(incorrect());
        }
        // The right password does not get past a lockout, and says nothing about it.
        if !self.store().clear_login_failures(user, self.now()).await? {
            self.store()
                .record_failure(&caller.actor(), self.now(), failure("locked"))
                .await?;
            self.count_ip_failure(caller).await?;
            return Err(incorrect());
        }
        self.set_new_password(
            caller,
            &record,
            new,
            Some(&current_plain),
            token_hash.map(|h| (h, TokenPurpose::PasswordChange)),
            caller.token_hash,
            Operation::PasswordChange,
        )
        .await
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one private step shared by change and reset"
    )]
    async fn set_new_password(
        &self,
        caller: &Caller,
        user: &UserRecord,
        new: SecretString,
        old_plain: Option<&str>,
        redeem: Option<(String, TokenPurpose)>,
        keep_session: Option<[u8; 32]>,
        operation: Operation,
    ) -> Result<()> {
        let policy = self.effective_policy(user.key).await?;
        let owner = self.owner_of(user.key).await?;
        self.enforce_policy(&policy, new.expose_secret(), &owner, old_plain)
            .await
            .map_err(|e| match e {
                ServiceError::Invalid { code, message, .. } => ServiceError::Invalid {
                    code,
                    field: "new_password",
                    message,
                },
                other => other,
            })?;
        let hash = self.passwords.hash(new).await?;
        let keep = if redeem.is_some() { None } else { keep_session };
        let orgs = self.member_orgs(user.key);
        let actor = Caller {
            subject: portcullis_core::Subject::user(user.key),
            ..caller.clone()
        };
        self.commit(&actor, async |w| {
            if let Some((token_hash, purpose)) = &redeem
                && w.redeem_one_time_token(token_hash, *purpose)
                    .await?
                    .is_none()
            {
                return Err(bad_token());
            }
            w.set_password_hash(user.key, &hash).await?;
            w.record_password_set(user.key, &hash).await?;
            // A change (the current password known) ends the user's other sessions; its
            // tokens stay, so a routine or policy-forced change does not break automation. A
            // reset (the password lost, perhaps stolen) ends every session and token, and
            // lifts a lockout: the reset link proved control of the mailbox.
            let reset = operation == Operation::PasswordResetConfirm;
            let revoked = w
                .revoke_user_credentials(user.key, !reset, keep.as_ref())
                .await?;
            let unlocked = reset && w.unlock_user(user.key).await?;
            let tokens_revoked = revoked
                .iter()
                .filter(|c| c.kind != portcullis_core::CredentialKind::Session)
                .count();
            w.audit(
                AuditRecord::new(None, operation, json!({"user": user.id}))
                    .with_copies_to(orgs.iter().copied())
                    .with_details(json!({
                        "sessions_revoked": revoked.len() - tokens_revoked,
                        "tokens_revoked": tokens_revoked,
                        "unlocked": unlocked,
                    })),
            );
            let changes = revoked
                .iter()
                .map(|c| Change::CredentialRevoked { hash: c.token_hash })
                .collect();
            Ok(((), changes))
        })
        .await?;
        Ok(())
    }

    /// Starts a reset: when the e-mail belongs to an active user whose address is verified, a
    /// single-use link goes to the outbox. The answer never says whether it did.
    pub async fn request_password_reset(&self, caller: &Caller, email: &str) -> Result<()> {
        let found = match Email::parse(email) {
            Ok(parsed) => self.store().user_by_email(&parsed).await?,
            Err(_) => None,
        };
        // An unproven address is matched to nothing, a reset included.
        let verified = match &found {
            Some(user) => self.email_verified(user.key).await?,
            None => self.email_verified(portcullis_core::UserKey(0)).await?,
        };
        // An account an organization manages signs in only through that organization's
        // identity provider: a password would be a way in the organization does not control.
        let managed = self
            .store()
            .user_managed_by(
                found
                    .as_ref()
                    .map_or(portcullis_core::UserKey(0), |u| u.key),
            )
            .await?
            .is_some();
        let Some(user) = found.filter(|u| u.active && verified && !managed) else {
            // The same kind of work as a match (a lookup, a write transaction with its audit
            // entry), so the time taken says as little as the answer.
            let requested: String = email.chars().take(254).collect();
            self.commit(caller, async |w| {
                w.audit(
                    AuditRecord::new(
                        None,
                        Operation::PasswordResetRequest,
                        json!({"email": requested}),
                    )
                    .with_details(json!({"outbox_message": null})),
                );
                Ok(((), vec![]))
            })
            .await?;
            return Ok(());
        };
        let (secret, hash) = one_time_secret("pcr");
        let expires_at = self.now() + RESET_TOKEN_TTL_MS;
        let mail = Mail::new(&user.email, "Reset your Portcullis password", &user.id)
            .say(format!(
                "A password reset was requested for your Portcullis account `{}`. \
                 The link works once, within 30 minutes.",
                user.id
            ))
            .say("If you did not ask for this, ignore this message: your password stays as it is.")
            .link(
                "Choose a new password",
                link_to(&self.config().public_url, RESET_PATH, &secret),
            );
        self.commit(caller, async |w| {
            w.void_one_time_tokens(user.key, TokenPurpose::PasswordReset)
                .await?;
            w.issue_one_time_token(&hash, user.key, TokenPurpose::PasswordReset, expires_at)
                .await?;
            let message = mail.queue(w).await?;
            w.audit(
                AuditRecord::new(
                    None,
                    Operation::PasswordResetRequest,
                    json!({"user": user.id}),
                )
                .with_details(json!({"outbox_message": message})),
            );
            Ok(((), vec![]))
        })
        .await?;
        Ok(())
    }

    /// Completes a reset with the token from the outbox; every session of the user ends.
    pub async fn confirm_password_reset(
        &self,
        caller: &Caller,
        raw_token: &str,
        new: SecretString,
    ) -> Result<()> {
        let hash = token_hash_hex(raw_token);
        let redeemed = self
            .store()
            .peek_one_time_token(&hash, TokenPurpose::PasswordReset, self.now())
            .await?
            .ok_or_else(bad_token)?;
        let user = self
            .store()
            .user(redeemed.user)
            .await?
            .ok_or_else(bad_token)?;
        if !user.active {
            return Err(bad_token());
        }
        PasswordHasher::validate_field(&new, "new_password")?;
        self.set_new_password(
            caller,
            &user,
            new,
            None,
            Some((hash, TokenPurpose::PasswordReset)),
            None,
            Operation::PasswordResetConfirm,
        )
        .await
    }

    /// The live check of a new password typed with a forced-change or reset token: every
    /// violation of the token's user's effective policy (as `change_password` and
    /// `confirm_password_reset` will enforce it, the previous password aside). An unknown or
    /// expired token is `token.invalid`.
    pub async fn validate_password_with_token(
        &self,
        raw_token: &str,
        password: &str,
    ) -> Result<Vec<portcullis_core::password_policy::Violation>> {
        let hash = token_hash_hex(raw_token);
        let now = self.now();
        let mut redeemed = None;
        for purpose in [TokenPurpose::PasswordChange, TokenPurpose::PasswordReset] {
            if let Some(found) = self
                .store()
                .peek_one_time_token(&hash, purpose, now)
                .await?
            {
                redeemed = Some(found);
                break;
            }
        }
        let user = redeemed.ok_or_else(bad_token)?.user;
        let policy = self.effective_policy(user).await?;
        let owner = self.owner_of(user).await?;
        self.password_violations(&policy, password, &owner, None)
            .await
    }

    /// The newest outbox messages, at most `limit` (1 to [`MAX_OUTBOX_LIMIT`]), for the
    /// platform operator.
    pub async fn outbox(
        &self,
        caller: &Caller,
        limit: u32,
    ) -> Result<Vec<portcullis_store::OutboxMessage>> {
        let limit = outbox_limit(limit)?;
        let operator = caller
            .user()
            .is_some_and(|u| self.with_index(|i| i.user(u).is_some_and(|e| e.operator)));
        if !operator {
            return Err(ServiceError::NotAllowed {
                code: "platform.operator_only",
                message: "only the platform operator can read the outbox".into(),
            });
        }
        Ok(self.store().outbox(limit).await?)
    }

    /// The same for `portcullis outbox`, run by whoever holds the data directory or database
    /// URL (no HTTP route calls this): without an SMTP relay that is how mail gets delivered,
    /// before any operator exists too.
    pub async fn outbox_directly(
        &self,
        limit: u32,
    ) -> Result<Vec<portcullis_store::OutboxMessage>> {
        Ok(self.store().outbox(outbox_limit(limit)?).await?)
    }
}

/// How many outbox messages the API and the CLI list when not told.
pub const DEFAULT_OUTBOX_LIMIT: u32 = 50;
/// The most outbox messages one read returns.
pub const MAX_OUTBOX_LIMIT: u32 = 500;

fn outbox_limit(limit: u32) -> Result<u32> {
    if (1..=MAX_OUTBOX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ServiceError::invalid(
            "limit.invalid",
            "limit",
            format!("`limit` must be from 1 to {MAX_OUTBOX_LIMIT}, not `{limit}`"),
        ))
    }
}
