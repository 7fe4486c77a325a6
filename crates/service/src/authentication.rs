//! Signing up, logging in and out, resolving a presented token into a [`Caller`], and the
//! first operator account.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Binding, Subject};
use portcullis_core::index::CredentialEntry;
use portcullis_core::{
    AccountId, Change, CredentialKind, Email, IdError, PermissionSet, Timestamp, UserKey, token,
};
use portcullis_store::{AuditRecord, NewCredential, NewUser, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use smallvec::SmallVec;

use crate::credential_use::{CredentialUse, require_credential_for};
use crate::password_hashing::{PasswordHasher, Verified};
use crate::{Caller, Committed, Portcullis, RequestMeta, Result, ServiceError};

/// Longest accepted first or last name.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug)]
pub struct SignupInput {
    pub id: String,
    pub email: String,
    pub password: SecretString,
    pub first_name: String,
    pub last_name: String,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    Session(NewSession),
    /// The password no longer complies with the policy (or has expired): the token only
    /// allows `POST /v1/users/me/password` with it.
    PasswordChangeRequired {
        change_token: SecretString,
        expires_at: Timestamp,
        user: UserRecord,
        reasons: Vec<&'static str>,
    },
    /// Two-factor is on: the token plus a current code (or a recovery code) completes login.
    SecondFactorRequired {
        login_token: SecretString,
        expires_at: Timestamp,
        user: UserRecord,
    },
    /// An organization of the user requires two-factor and it has none: the token only allows
    /// enrolling (`POST /v1/users/me/totp` and `.../totp/verify`); then log in again.
    TwoFactorEnrolmentRequired {
        enrolment_token: SecretString,
        expires_at: Timestamp,
        user: UserRecord,
    },
}

/// A new session: the token is shown once.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretString,
    pub expires_at: Timestamp,
    pub user: UserRecord,
    /// Whether the login asked to be remembered (at the password step, carried by the
    /// service through any later step), so a browser keeps the cookie past its own session.
    pub remember_me: bool,
}

pub(crate) fn check_name(field: &'static str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(ServiceError::invalid(
            "field.too_long",
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "field.invalid",
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(value.to_owned())
}

pub(crate) fn parse_id(field: &'static str, raw: &str) -> Result<AccountId> {
    AccountId::parse(raw).map_err(|e| ServiceError::invalid("id.invalid", field, e.to_string()))
}

pub(crate) fn parse_email(field: &'static str, raw: &str) -> Result<Email> {
    Email::parse(raw).map_err(|e| {
        let code = match e {
            IdError::EmailNotNormalized(_) => "email.not_normalized",
            IdError::EmailInvisibleCharacters(_) => "email.invisible_characters",
            _ => "email.invalid",
        };
        ServiceError::invalid(code, field, e.to_string())
    })
}

/// A random public id for listing and revoking credentials (not a secret).
pub(crate) fn public_id(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let body: String = (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{body}")
}

pub(crate) fn credential_change(id: i64, new: &NewCredential) -> Change {
    Change::CredentialAdded {
        hash: new.token_hash,
        entry: CredentialEntry {
            id,
            user: new.user,
            kind: new.kind,
            scopes: new.scopes,
            org: new.org,
            app: new.app,
            expires_at: new.expires_at,
        },
    }
}

impl Portcullis {
    pub async fn signup(
        &self,
        caller: &Caller,
        input: SignupInput,
    ) -> Result<Committed<UserRecord>> {
        if !self.config().signup_enabled {
            return Err(ServiceError::NotAllowed {
                code: "signup.disabled",
                message: "signup is disabled on this server".into(),
            });
        }
        self.create_user(caller, input, false).await
    }

    /// Creates the platform operator (`portcullis init`); refused once one exists.
    pub async fn init_operator(&self, input: SignupInput) -> Result<Committed<UserRecord>> {
        if self.store().operator_exists().await? {
            return Err(ServiceError::state(
                "operator.exists",
                "the platform operator already exists",
            ));
        }
        self.create_user(&Caller::system(), input, true).await
    }

    async fn create_user(
        &self,
        caller: &Caller,
        input: SignupInput,
        operator: bool,
    ) -> Result<Committed<UserRecord>> {
        let new = NewUser {
            id: parse_id("id", &input.id)?,
            email: parse_email("email", &input.email)?,
            first_name: check_name("first_name", &input.first_name, MAX_NAME_CHARS)?,
            last_name: check_name("last_name", &input.last_name, MAX_NAME_CHARS)?,
            password_hash: None,
            operator,
        };
        PasswordHasher::validate(&input.password)?;
        let owner = crate::policy::PasswordOwner {
            user: None,
            id: Some(new.id.as_str().to_owned()),
            email: Some(new.email.as_str().to_owned()),
            first_name: Some(new.first_name.clone()),
            last_name: Some(new.last_name.clone()),
        };
        let global = self.global_policy().await?;
        self.enforce_policy(&global, input.password.expose_secret(), &owner, None)
            .await?;
        let new = NewUser {
            password_hash: Some(self.passwords.hash(input.password).await?),
            ..new
        };
        let operation = if operator {
            Operation::OperatorInit
        } else {
            Operation::UserSignup
        };
        let now = self.now();
        let public_url = self.config().public_url.clone();
        // A taken address gets the same answer after the same work as a free one; its owner
        // hears of the attempt instead. (A taken id is public anyway: it is refused as usual.)
        if !operator
            && self.with_index(|i| i.account(new.id.as_str()).is_none())
            && let Some(owner) = self.store().user_by_email(&new.email).await?
        {
            let mail = crate::mail::Mail::new(
                &owner.email,
                "Someone tried to sign up with your address",
                &owner.id,
            )
            .say(format!(
                "Someone tried to create a new Portcullis account with this address, which \
                 already belongs to your account `{}`. Nothing was created.",
                owner.id
            ))
            .say("If it was you, sign in instead, or reset your password if you forgot it.");
            let committed = self
                .commit(caller, async |w| {
                    let message = mail.queue(w).await?;
                    w.audit(
                        AuditRecord::new(
                            None,
                            Operation::SignupExistingEmail,
                            json!({"user": owner.id}),
                        )
                        .with_details(json!({"outbox_message": message})),
                    );
                    Ok(((), vec![]))
                })
                .await?;
            return Ok(Committed {
                value: UserRecord {
                    key: owner.key,
                    id: new.id.as_str().to_owned(),
                    email: new.email.as_str().to_owned(),
                    first_name: new.first_name.clone(),
                    last_name: new.last_name.clone(),
                    active: true,
                    operator: false,
                    created_at: now,
                    modified_at: now,
                },
                revision: committed.revision,
            });
        }
        self.commit(caller, async |w| {
            let key = w.create_user(&new).await?;
            if let Some(hash) = &new.password_hash {
                w.record_password_set(key, hash).await?;
            }
            // The operator proves itself by holding the data directory; anyone else by
            // following the link mailed to the address.
            if operator {
                w.mark_email_verified(key, &new.email.key()).await?;
            } else {
                crate::email_verification::queue_verification(
                    w,
                    &public_url,
                    key,
                    new.id.as_str(),
                    &new.email,
                )
                .await?;
            }
            w.audit(AuditRecord::new(
                None,
                operation,
                json!({"user": new.id.as_str()}),
            ));
            let record = UserRecord {
                key,
                id: new.id.as_str().to_owned(),
                email: new.email.as_str().to_owned(),
                first_name: new.first_name.clone(),
                last_name: new.last_name.clone(),
                active: true,
                operator,
                created_at: now,
                modified_at: now,
            };
            let change = Change::UserUpserted {
                key,
                id: record.id.clone(),
                active: true,
                operator,
            };
            Ok((record, vec![change]))
        })
        .await
    }

    /// Password login. Unknown email, wrong password, locked and inactive accounts all
    /// answer [`ServiceError::InvalidCredentials`] after the same amount of hashing work.
    /// Failures are counted per account (lockout) and per source IP (throttling).
    pub async fn login(
        &self,
        meta: RequestMeta,
        email: &str,
        password: SecretString,
        remember_me: bool,
    ) -> Result<LoginOutcome> {
        let anonymous = Caller::anonymous(meta);
        self.check_throttle(&anonymous).await?;
        let found = match Email::parse(email) {
            Ok(email) => self.store().user_with_password(&email).await?,
            Err(_) => None,
        };
        let (user, stored) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let plain = password.expose_secret().to_owned();
        let verified = self.passwords.verify(password, stored).await?;
        let failure = |user: Option<&UserRecord>, reason: &str| {
            let targets = json!({"email": email.chars().take(254).collect::<String>()});
            let mut record = AuditRecord::new(None, Operation::LoginFailure, targets);
            if let Some(user) = user {
                record = record
                    .with_details(json!({"user": user.id, "reason": reason}))
                    .with_copies_to(self.member_orgs(user.key));
            }
            record
        };
        let user = match (user, &verified) {
            (Some(user), Verified::Yes | Verified::YesRehashed(_)) if user.active => user,
            (Some(user), Verified::No) => {
                self.count_account_failure(
                    &anonymous,
                    user.key,
                    &user.id,
                    failure(Some(&user), "wrong_password"),
                )
                .await?;
                self.count_ip_failure(&anonymous).await?;
                return Err(ServiceError::InvalidCredentials);
            }
            (user, _) => {
                let reason = if user.is_some() {
                    "inactive"
                } else {
                    "unknown"
                };
                self.store()
                    .record_failure(
                        &anonymous.actor(),
                        self.now(),
                        failure(user.as_ref(), reason),
                    )
                    .await?;
                self.count_ip_failure(&anonymous).await?;
                return Err(ServiceError::InvalidCredentials);
            }
        };
        // The right password does not open a locked account, and says nothing about it.
        if !self
            .store()
            .clear_login_failures(user.key, self.now())
            .await?
        {
            self.store()
                .record_failure(
                    &anonymous.actor(),
                    self.now(),
                    failure(Some(&user), "locked"),
                )
                .await?;
            self.count_ip_failure(&anonymous).await?;
            return Err(ServiceError::InvalidCredentials);
        }
        let actor = Caller {
            subject: Subject::user(user.key),
            ..anonymous
        };
        let rehash = match verified {
            Verified::YesRehashed(fresh) => Some(fresh),
            _ => None,
        };
        let reasons = self.password_change_reasons(&user, &plain).await?;
        if !reasons.is_empty() {
            if let Some(fresh) = &rehash {
                self.rehash_password(&actor, user.key, fresh).await?;
            }
            return self
                .require_password_change(&actor, user, reasons, remember_me)
                .await;
        }
        if let Some(second) = self.second_factor_step(&actor, &user, remember_me).await? {
            if let Some(fresh) = &rehash {
                self.rehash_password(&actor, user.key, fresh).await?;
            }
            return Ok(second);
        }
        let session = self
            .issue_session(&actor, user, remember_me, rehash, "password")
            .await?;
        Ok(LoginOutcome::Session(session))
    }

    async fn rehash_password(&self, actor: &Caller, user: UserKey, fresh: &str) -> Result<()> {
        self.commit(actor, async |w| {
            w.set_password_hash(user, fresh).await?;
            Ok(((), vec![]))
        })
        .await?;
        Ok(())
    }

    /// Mints a session for a user who has passed every login step.
    pub(crate) async fn issue_session(
        &self,
        actor: &Caller,
        user: UserRecord,
        remember_me: bool,
        rehash: Option<String>,
        method: &str,
    ) -> Result<NewSession> {
        let ttl = if remember_me {
            self.config().remember_me_ttl_ms
        } else {
            self.config().session_ttl_ms
        };
        let minted = token::mint(CredentialKind::Session, &mut rand::thread_rng());
        let expires_at = self.now() + ttl;
        let new = NewCredential {
            public_id: public_id("ses"),
            user: user.key,
            kind: CredentialKind::Session,
            token_hash: minted.hash,
            description: "login session".to_owned(),
            scopes: PermissionSet::all(),
            org: None,
            app: None,
            expires_at: Some(expires_at),
        };
        self.commit(actor, async |w| {
            if let Some(fresh) = &rehash {
                w.set_password_hash(user.key, fresh).await?;
            }
            let id = w.create_credential(&new).await?;
            w.audit(
                AuditRecord::new(
                    None,
                    Operation::LoginSuccess,
                    json!({"user": user.id, "credential": new.public_id}),
                )
                .with_details(json!({"method": method, "remember_me": remember_me})),
            );
            Ok(((), vec![credential_change(id, &new)]))
        })
        .await?;
        Ok(NewSession {
            token: SecretString::from(minted.secret),
            expires_at,
            user,
            remember_me,
        })
    }

    /// Ends the session (or revokes the token) the caller presented.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        let Some(hash) = caller.token_hash else {
            return Err(ServiceError::Unauthenticated);
        };
        self.commit(caller, async |w| {
            let revoked = w.revoke_credential_by_hash(&hash).await?;
            let Some(revoked) = revoked else {
                return Err(ServiceError::Unauthenticated);
            };
            w.audit(AuditRecord::new(
                None,
                Operation::Logout,
                json!({"credential": revoked.public_id}),
            ));
            Ok(((), vec![Change::CredentialRevoked { hash }]))
        })
        .await?;
        Ok(())
    }

    /// Resolves a presented bearer token. Malformed, unknown, expired or revoked tokens and
    /// tokens of suspended users are all `unauthenticated`.
    pub fn authenticate(&self, presented: &str, meta: RequestMeta) -> Result<Caller> {
        let (_, hash) = token::parse(presented).ok_or(ServiceError::Unauthenticated)?;
        let now = self.now();
        self.with_index(|index| {
            let entry = index
                .credential(&hash)
                .ok_or(ServiceError::Unauthenticated)?;
            if entry.expires_at.is_some_and(|at| at <= now) {
                return Err(ServiceError::Unauthenticated);
            }
            if !index.user(entry.user).is_some_and(|u| u.active) {
                return Err(ServiceError::Unauthenticated);
            }
            if entry.kind == CredentialKind::Session && !self.activity.touch(hash, now) {
                return Err(ServiceError::Unauthenticated);
            }
            let mut subject = subject_of(entry);
            subject.sso_orgs = index.sso_orgs_of(entry.id);
            Ok(Caller {
                subject,
                credential: Some((entry.id, entry.kind)),
                token_hash: Some(hash),
                meta,
                granted: crate::caller::Grants::default(),
            })
        })
    }

    pub async fn me(&self, caller: &Caller) -> Result<UserRecord> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ReadAccount)?;
        self.store()
            .user(user)
            .await?
            .ok_or(ServiceError::Unauthenticated)
    }

    pub fn user_key_of(&self, caller: &Caller) -> Result<UserKey> {
        self.require_user(caller)
    }
}

/// What a credential lets its holder be, as the decision function sees it.
pub(crate) fn subject_of(entry: &CredentialEntry) -> Subject {
    let binding = match (entry.kind, entry.app, entry.org) {
        (_, Some(app), _) => Binding::App(app),
        (CredentialKind::ServiceKey, None, Some(org)) => {
            Binding::Orgs(SmallVec::from_slice(&[org]))
        }
        (_, None, Some(org)) => Binding::Org(org),
        (_, None, None) => Binding::Anywhere,
    };
    let platform_service = entry.kind == CredentialKind::ServiceKey;
    Subject {
        // A service key acts for the platform, not as its creator.
        user: if platform_service {
            None
        } else {
            Some(entry.user)
        },
        scopes: entry.scopes,
        binding,
        platform_service,
        sso_orgs: SmallVec::new(),
    }
}
