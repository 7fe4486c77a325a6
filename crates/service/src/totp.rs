//! Two-factor authentication with TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) and
//! single-use recovery codes; the two-step login; organizations that require two-factor.
//!
//! Each code works once: the factor remembers the last time step used and accepts only later
//! ones (atomically, so two parallel uses of one code cannot both pass).
//!
//! The seed is stored sealed ([`crate::sealing`], bound to the user's row); it is opened only
//! to check a code and never leaves this module except once, at enrolment.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{Change, Permission, Subject, UserKey};
use portcullis_store::{AuditRecord, RedeemedToken, TokenPurpose, UserRecord};
use secrecy::SecretString;
use serde_json::json;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

use crate::authentication::{LoginOutcome, NewSession};
use crate::credential_use::{CredentialUse, require_credential_for};
use crate::password_change::{one_time_secret, token_hash_hex};
use crate::sealing::Place;
use crate::{Caller, Committed, Portcullis, RequestMeta, Result, ServiceError};

pub const STEP_SECONDS: i64 = 30;
pub const RECOVERY_CODE_COUNT: usize = 10;
/// How long the token between the two login steps (or for a forced enrolment) lives.
pub const LOGIN_TOKEN_TTL_MS: i64 = 5 * 60_000;
pub const ISSUER: &str = "Portcullis";

/// Who manages a factor: a signed-in user, or the enrolment token of a login that an
/// organization's two-factor requirement stopped.
#[derive(Debug)]
pub enum TotpAuthority<'a> {
    Caller(&'a Caller),
    EnrolmentToken(&'a Caller, &'a str),
}

/// A login completed by enrolling the factor an organization requires.
#[derive(Debug)]
pub struct EnrolledLogin {
    /// Shown once.
    pub recovery_codes: Vec<String>,
    pub session: NewSession,
}

/// A started enrolment: shown once; confirm it with a current code.
#[derive(Debug)]
pub struct Enrolment {
    pub secret: SecretString,
    pub otpauth_url: SecretString,
}

fn internal(err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(err.to_string().into())
}

fn totp(secret_b32: &str) -> Result<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|e| internal(format!("{e:?}")))?;
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECONDS as u64, bytes).map_err(internal)
}

/// The time step (within ±1 of now) whose code `code` is, if any.
fn matching_step(secret_b32: &str, code: &str, now_ms: i64) -> Result<Option<i64>> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret_b32)?;
    let current = now_ms.div_euclid(1000) / STEP_SECONDS;
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let Ok(at) = u64::try_from(step * STEP_SECONDS) else {
            continue;
        };
        // Compare every candidate (no early exit) in constant time per candidate.
        if bool::from(totp.generate(at).as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    Ok(found)
}

/// The code a fresh authenticator shows at `now_ms` (tests and the CLI use it).
pub fn code_at(secret_b32: &str, now_ms: i64) -> Result<String> {
    let at = u64::try_from(now_ms.div_euclid(1000)).map_err(internal)?;
    Ok(totp(secret_b32)?.generate(at))
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let raw: String = (0..10)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

fn invalid_code() -> ServiceError {
    ServiceError::invalid("totp.invalid_code", "code", "the code is not valid")
}

impl Portcullis {
    async fn totp_subject(&self, authority: &TotpAuthority<'_>) -> Result<UserKey> {
        match authority {
            TotpAuthority::Caller(caller) => {
                let user = self.require_user(caller)?;
                require_credential_for(
                    caller,
                    CredentialUse::SignIn {
                        code: "credential.session_required",
                        what: "changing two-factor settings",
                    },
                )?;
                crate::sso_trust::require_own_sign_in(caller)?;
                Ok(user)
            }
            TotpAuthority::EnrolmentToken(_, raw) => Ok(self
                .store()
                .peek_one_time_token(
                    &token_hash_hex(raw),
                    TokenPurpose::TwoFactorEnrolment,
                    self.now(),
                )
                .await?
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "token.invalid",
                        "enrolment_token",
                        "the token is unknown, expired or already used",
                    )
                })?
                .user),
        }
    }

    fn authority_caller<'a>(authority: &'a TotpAuthority<'a>) -> &'a Caller {
        match authority {
            TotpAuthority::Caller(caller) | TotpAuthority::EnrolmentToken(caller, _) => caller,
        }
    }

    /// Starts enrolment: a new secret (replacing a pending one). Refused when enabled.
    pub async fn enrol_totp(&self, authority: TotpAuthority<'_>) -> Result<Committed<Enrolment>> {
        let user = self.totp_subject(&authority).await?;
        let caller = Caller {
            subject: Subject::user(user),
            ..Self::authority_caller(&authority).clone()
        };
        let id = self.user_id(user);
        let secret = {
            use rand::RngCore;
            let mut bytes = [0u8; 20];
            rand::thread_rng().fill_bytes(&mut bytes);
            match Secret::Raw(bytes.to_vec()).to_encoded() {
                Secret::Encoded(s) => s,
                Secret::Raw(_) => return Err(internal("secret encoding")),
            }
        };
        let url = format!(
            "otpauth://totp/{ISSUER}:{id}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP_SECONDS}"
        );
        let sealed = self
            .config()
            .secret_keys
            .seal(&Place::totp_secret(user.0), &secret)
            .map_err(internal)?;
        self.commit(&caller, async |w| {
            if !w.put_pending_totp(user, &sealed).await? {
                return Err(ServiceError::state(
                    "totp.already_enabled",
                    "two-factor is already on; disable it first",
                ));
            }
            w.audit(AuditRecord::new(
                None,
                Operation::TotpEnrol,
                json!({"user": id}),
            ));
            Ok((
                Enrolment {
                    secret: SecretString::from(secret.clone()),
                    otpauth_url: SecretString::from(url.clone()),
                },
                vec![],
            ))
        })
        .await
    }

    /// Confirms enrolment with a current code; returns the recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        authority: TotpAuthority<'_>,
        code: &str,
    ) -> Result<Committed<Vec<String>>> {
        let confirmed = self.confirm_factor(&authority, code).await?;
        Ok(Committed {
            value: confirmed.value.0,
            revision: confirmed.revision,
        })
    }

    /// Completes, in one sitting, a login that an organization's two-factor requirement
    /// stopped: confirms the factor started with the login's enrolment token
    /// ([`Self::enrol_totp`]) and grants the session that login asked for, "remember me"
    /// included. The token stands for the password step: bound to its user, single use
    /// (redeemed in the transaction that turns the factor on) and expiring
    /// ([`LOGIN_TOKEN_TTL_MS`]); the current code proves the new factor, as the second step
    /// of a two-step login would. A suspended or locked account gets no session.
    pub async fn login_enrolling_second_factor(
        &self,
        meta: RequestMeta,
        enrolment_token: &str,
        code: &str,
    ) -> Result<EnrolledLogin> {
        let anonymous = Caller::anonymous(meta);
        self.check_throttle(&anonymous).await?;
        let authority = TotpAuthority::EnrolmentToken(&anonymous, enrolment_token);
        let user = self.totp_subject(&authority).await?;
        let user = self
            .store()
            .user(user)
            .await?
            .filter(|u| u.active)
            .ok_or(ServiceError::InvalidCredentials)?;
        if self
            .store()
            .login_state(user.key)
            .await?
            .locked_at(self.now())
        {
            return Err(ServiceError::InvalidCredentials);
        }
        let (recovery_codes, redeemed) = self.confirm_factor(&authority, code).await?.value;
        let redeemed = redeemed.ok_or_else(|| internal("enrolment token not redeemed"))?;
        let actor = Caller {
            subject: Subject::user(user.key),
            ..anonymous.clone()
        };
        let session = self
            .issue_session(&actor, user, redeemed.remember_me, None, "totp_enrolment")
            .await?;
        Ok(EnrolledLogin {
            recovery_codes,
            session,
        })
    }

    /// Turns a pending factor on with a current code: the recovery codes and, for an
    /// enrolment token, what redeeming it said about its login.
    async fn confirm_factor(
        &self,
        authority: &TotpAuthority<'_>,
        code: &str,
    ) -> Result<Committed<(Vec<String>, Option<RedeemedToken>)>> {
        let user = self.totp_subject(authority).await?;
        let caller = Caller {
            subject: Subject::user(user),
            ..Self::authority_caller(authority).clone()
        };
        let factor = self
            .store()
            .totp_factor(user)
            .await?
            .ok_or_else(|| ServiceError::state("totp.not_enrolled", "start enrolment first"))?;
        if factor.enabled {
            return Err(ServiceError::state(
                "totp.already_enabled",
                "two-factor is already on",
            ));
        }
        let step = matching_step(&self.open_seed(user, &factor.secret)?, code, self.now())?
            .ok_or_else(invalid_code)?;
        let codes = new_recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| token_hash_hex(&normalise_recovery(c)))
            .collect();
        let enrolment = match authority {
            TotpAuthority::EnrolmentToken(_, raw) => Some(token_hash_hex(raw)),
            TotpAuthority::Caller(_) => None,
        };
        let id = self.user_id(user);
        let orgs = self.member_orgs(user);
        let email = self.store().user(user).await?.map(|u| u.email);
        self.commit(&caller, async |w| {
            let mut redeemed = None;
            if let Some(hash) = &enrolment {
                redeemed = w
                    .redeem_one_time_token(hash, TokenPurpose::TwoFactorEnrolment)
                    .await?
                    // The token is of the user whose factor this is (peeked above).
                    .filter(|token| token.user == user);
                if redeemed.is_none() {
                    return Err(ServiceError::invalid(
                        "token.invalid",
                        "enrolment_token",
                        "the token is unknown, expired or already used",
                    ));
                }
            }
            if !w.enable_totp(user, step).await? {
                return Err(ServiceError::state(
                    "totp.already_enabled",
                    "two-factor is already on",
                ));
            }
            w.replace_recovery_codes(user, &hashes).await?;
            if let Some(email) = &email {
                two_factor_notice(email, &id, true).queue(w).await?;
            }
            w.audit(
                AuditRecord::new(None, Operation::TotpEnable, json!({"user": id}))
                    .with_copies_to(orgs.iter().copied())
                    .with_details(json!({"recovery_codes": RECOVERY_CODE_COUNT})),
            );
            Ok((
                (codes.clone(), redeemed),
                vec![Change::UserTwoFactor {
                    key: user,
                    enabled: true,
                }],
            ))
        })
        .await
    }

    /// Turns two-factor off; needs a current code. Refused while an organization of the user
    /// requires two-factor.
    pub async fn disable_totp(&self, caller: &Caller, code: &str) -> Result<Committed<()>> {
        let user = self.totp_subject(&TotpAuthority::Caller(caller)).await?;
        let factor = self
            .store()
            .totp_factor(user)
            .await?
            .filter(|f| f.enabled)
            .ok_or_else(|| ServiceError::state("totp.not_enabled", "two-factor is not on"))?;
        if self.store().two_factor_required_for(user).await? {
            return Err(ServiceError::state(
                "totp.required_by_org",
                "an organization you belong to requires two-factor",
            ));
        }
        let step = matching_step(&self.open_seed(user, &factor.secret)?, code, self.now())?
            .ok_or_else(invalid_code)?;
        let id = self.user_id(user);
        let orgs = self.member_orgs(user);
        let email = self.store().user(user).await?.map(|u| u.email);
        self.commit(caller, async |w| {
            if !w.use_totp_step_in_tx(user, step).await? {
                return Err(invalid_code());
            }
            w.delete_totp(user).await?;
            if let Some(email) = &email {
                two_factor_notice(email, &id, false).queue(w).await?;
            }
            w.audit(
                AuditRecord::new(None, Operation::TotpDisable, json!({"user": id}))
                    .with_copies_to(orgs.iter().copied()),
            );
            Ok((
                (),
                vec![Change::UserTwoFactor {
                    key: user,
                    enabled: false,
                }],
            ))
        })
        .await
    }

    /// Whether the caller has two-factor on, and how many recovery codes are left.
    pub async fn totp_status(&self, caller: &Caller) -> Result<(bool, i64)> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        let enabled = self
            .store()
            .totp_factor(user)
            .await?
            .is_some_and(|f| f.enabled);
        let left = if enabled {
            self.store().unused_recovery_codes(user).await?
        } else {
            0
        };
        Ok((enabled, left))
    }

    /// The second login step, when the user has two-factor on or an organization requires it.
    pub(crate) async fn second_factor_step(
        &self,
        actor: &Caller,
        user: &UserRecord,
        remember_me: bool,
    ) -> Result<Option<LoginOutcome>> {
        let enabled = self
            .store()
            .totp_factor(user.key)
            .await?
            .is_some_and(|f| f.enabled);
        let purpose = if enabled {
            TokenPurpose::SecondFactor
        } else if self.store().two_factor_required_for(user.key).await? {
            TokenPurpose::TwoFactorEnrolment
        } else {
            return Ok(None);
        };
        let (secret, hash) = one_time_secret("pcl2");
        let now = self.now();
        let expires_at = now + LOGIN_TOKEN_TTL_MS;
        self.store()
            .issue_one_time_token(&hash, user.key, purpose, now, expires_at, remember_me)
            .await?;
        let state = purpose.as_str();
        let record = AuditRecord::new(None, Operation::LoginSuccess, json!({"user": user.id}))
            .with_details(json!({"state": state, "step": "password"}));
        self.commit(actor, async |w| {
            w.audit(record);
            Ok(((), vec![]))
        })
        .await?;
        let token = SecretString::from(secret);
        Ok(Some(if enabled {
            LoginOutcome::SecondFactorRequired {
                login_token: token,
                expires_at,
                user: user.clone(),
            }
        } else {
            LoginOutcome::TwoFactorEnrolmentRequired {
                enrolment_token: token,
                expires_at,
                user: user.clone(),
            }
        }))
    }

    /// Completes a two-step login with a current code or an unused recovery code. Failures
    /// count toward the account's lockout and the source's throttle.
    pub async fn login_second_factor(
        &self,
        meta: RequestMeta,
        login_token: &str,
        code: Option<&str>,
        recovery_code: Option<&str>,
    ) -> Result<LoginOutcome> {
        let anonymous = Caller::anonymous(meta);
        self.check_throttle(&anonymous).await?;
        let hash = token_hash_hex(login_token);
        let now = self.now();
        let Some(pending) = self
            .store()
            .peek_one_time_token(&hash, TokenPurpose::SecondFactor, now)
            .await?
        else {
            self.count_ip_failure(&anonymous).await?;
            return Err(ServiceError::InvalidCredentials);
        };
        let user = self
            .store()
            .user(pending.user)
            .await?
            .filter(|u| u.active)
            .ok_or(ServiceError::InvalidCredentials)?;
        let factor = self
            .store()
            .totp_factor(user.key)
            .await?
            .filter(|f| f.enabled);
        let locked = self.store().login_state(user.key).await?.locked_at(now);
        let mut method = "totp";
        let passed = match (&factor, code, recovery_code) {
            _ if locked => false,
            (Some(factor), Some(code), None) => {
                match matching_step(&self.open_seed(user.key, &factor.secret)?, code, now)? {
                    Some(step) => self.store().use_totp_step(user.key, step).await?,
                    None => false,
                }
            }
            (Some(_), None, Some(recovery)) => {
                method = "recovery_code";
                let hash = token_hash_hex(&normalise_recovery(recovery));
                self.store().use_recovery_code(user.key, &hash, now).await?
            }
            _ => false,
        };
        if !passed {
            let failure = AuditRecord::new(
                None,
                Operation::SecondFactorFailure,
                json!({"user": user.id}),
            )
            .with_copies_to(self.member_orgs(user.key))
            .with_details(json!({"method": method, "locked": locked}));
            if locked {
                self.store()
                    .record_failure(&anonymous.actor(), now, failure)
                    .await?;
            } else {
                self.count_account_failure(&anonymous, user.key, &user.id, failure)
                    .await?;
            }
            self.count_ip_failure(&anonymous).await?;
            return Err(ServiceError::InvalidCredentials);
        }
        let actor = Caller {
            subject: Subject::user(user.key),
            ..anonymous
        };
        let id = user.id.clone();
        self.commit(&actor, async |w| {
            if w.redeem_one_time_token(&hash, TokenPurpose::SecondFactor)
                .await?
                .is_none()
            {
                return Err(ServiceError::InvalidCredentials);
            }
            if method == "recovery_code" {
                w.audit(AuditRecord::new(
                    None,
                    Operation::RecoveryCodeUse,
                    json!({"user": id}),
                ));
            }
            Ok(((), vec![]))
        })
        .await?;
        self.store().clear_login_failures(user.key, now).await?;
        let session = self
            .issue_session(&actor, user, pending.remember_me, None, method)
            .await?;
        Ok(LoginOutcome::Session(session))
    }

    /// An organization's two-factor requirement (any member reads it).
    pub async fn org_requires_two_factor(&self, caller: &Caller, org: &str) -> Result<bool> {
        let org = self.resolve_org(org)?;
        self.require_visible(caller, Resource::Account(Account::Org(org)), "organization")?;
        Ok(self.store().org_requires_two_factor(org).await?)
    }

    /// Requires (or stops requiring) two-factor of an organization's members
    /// (`security.manage`). Members without it must enrol at their next login.
    pub async fn set_org_requires_two_factor(
        &self,
        caller: &Caller,
        org: &str,
        required: bool,
    ) -> Result<Committed<bool>> {
        let org_key = self.resolve_org(org)?;
        self.authorize_mutation(
            Operation::OrgSecurityUpdate,
            caller,
            Permission::SecurityManage,
            Resource::Account(Account::Org(org_key)),
            "organization",
        )
        .await?;
        let before = self.store().org_requires_two_factor(org_key).await?;
        let org_id = self.member_org_handle(org_key);
        self.commit(caller, async |w| {
            w.set_org_require_two_factor(org_key, required).await?;
            w.audit(
                AuditRecord::new(
                    Some(org_key),
                    Operation::OrgSecurityUpdate,
                    json!({"org": org_id}),
                )
                .with_details(json!({
                    "before": {"require_two_factor": before},
                    "after": {"require_two_factor": required},
                })),
            );
            Ok((
                required,
                vec![Change::OrgTwoFactorRequired {
                    key: org_key,
                    required,
                }],
            ))
        })
        .await
    }

    /// The base32 seed of `user`'s factor from its stored form (sealed, or a legacy plain
    /// seed not yet sealed). A value that does not open is an internal error: the start-up
    /// check refuses a key ring that cannot open every stored secret.
    fn open_seed(&self, user: UserKey, stored: &str) -> Result<Zeroizing<String>> {
        self.config()
            .secret_keys
            .open(&Place::totp_secret(user.0), stored)
            .map(|opened| opened.secret)
            .map_err(|err| internal(format!("the TOTP secret of user row {}: {err}", user.0)))
    }

    fn user_id(&self, user: UserKey) -> String {
        self.with_index(|i| i.user(user).map(|u| u.id.to_string()))
            .unwrap_or_default()
    }
}

/// The notice that two-factor was turned on or off (no secret in it).
fn two_factor_notice(email: &str, user_id: &str, on: bool) -> crate::mail::Mail {
    let (subject, what) = if on {
        ("Two-factor sign-in is on", "turned on")
    } else {
        ("Two-factor sign-in is off", "turned off")
    };
    crate::mail::Mail::new(email, subject, user_id)
        .say(format!(
            "Two-factor sign-in was {what} for your Portcullis account `{user_id}`."
        ))
        .say("If this was not you, change your password now and end your other sessions.")
}
