//! SAML single sign-on: SP metadata, SP-initiated login, the ACS, SSO enforcement per org,
//! PAT SSO authorization and the login page's list of methods.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{
    Change, CredentialKind, Email, OrgKey, Permission, PermissionSet, TeamKey, UserKey, token,
};
use portcullis_saml::{IdpTrust, SamlError, SpEndpoints, ValidatedLogin};
use portcullis_store::{
    AuditRecord, IdpRecord, NewCredential, NewUser, OrgSso, SamlRequest, TeamMemberAdd, UserRecord,
};
use secrecy::SecretString;
use serde_json::json;

use crate::authentication::{NewSession, credential_change, public_id};
use crate::sso_trust::{AccountTrust, Vouch, account_not_owned, idp_may_vouch};
use crate::teams::org_label;
use crate::{Caller, Committed, Portcullis, RequestMeta, Result, ServiceError};

/// SSO sessions last 7 days (docs/contract.md §7).
pub const SSO_SESSION_TTL_MS: i64 = 7 * 86_400_000;
/// How long an AuthnRequest may be answered.
const REQUEST_TTL_MS: i64 = 10 * 60_000;
const MAX_RELAY_STATE: usize = 512;

/// The SP entity id and ACS URL of one IdP connection, under the server's public URL.
pub fn sp_urls(public_url: &str, org: &str, idp: &str) -> (String, String) {
    let base = public_url.trim_end_matches('/');
    let org = org.to_ascii_lowercase();
    let idp = idp.to_ascii_lowercase();
    (
        format!("{base}/saml/{org}/{idp}/metadata"),
        format!("{base}/saml/{org}/{idp}/acs"),
    )
}

/// What a valid response to the ACS did.
#[derive(Debug)]
pub enum AcsOutcome {
    /// The browser is signed in.
    SignedIn(SsoLogin),
    /// The response answered a signed-in owner's request to link the identity: a confirmation
    /// went to the account's address, and nobody is signed in.
    LinkMailed { org: String },
}

/// A successful SSO login.
#[derive(Debug)]
pub struct SsoLogin {
    pub session: NewSession,
    pub org: String,
    pub relay_state: Option<String>,
}

/// An enabled IdP as the login page lists it.
#[derive(Debug, Clone)]
pub struct LoginMethod {
    pub id: String,
    pub name: String,
    pub login_url: String,
}

fn saml_refusal(err: &SamlError) -> ServiceError {
    ServiceError::NotAllowed {
        code: err.code(),
        message: err.to_string(),
    }
}

/// `sign_requests` without an SP key configured.
pub(crate) fn sp_key_missing() -> ServiceError {
    ServiceError::invalid(
        "idp.sp_key_missing",
        "sign_requests",
        "signed AuthnRequests need the service-provider key (saml_sp_key_file and \
         saml_sp_cert_file), and none is configured",
    )
}

pub(crate) fn refusal(code: &'static str, message: &str) -> ServiceError {
    ServiceError::NotAllowed {
        code,
        message: message.to_owned(),
    }
}

/// RelayState: a same-site absolute path only.
fn relay_state(raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let ok = raw.len() <= MAX_RELAY_STATE
        && raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
    if !ok {
        return Err(ServiceError::invalid(
            "saml.relay_state_invalid",
            "relay_state",
            "RelayState must be a path on this site (starting with a single `/`)",
        ));
    }
    Ok(Some(raw.to_owned()))
}

/// A fresh account id for a JIT user: from the email's local part plus a random suffix.
fn new_user_id(email: &Email) -> String {
    use rand::Rng;
    let local: String = email
        .as_str()
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    let mut rng = rand::thread_rng();
    let suffix: String = (0..6)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
        .collect();
    if local.is_empty() {
        format!("sso-{suffix}")
    } else {
        format!("{local}-{suffix}")
    }
}

fn first(login: &ValidatedLogin, attribute: Option<&String>) -> Option<String> {
    attribute
        .and_then(|a| login.attributes.get(a))
        .and_then(|v| v.first())
        .cloned()
}

impl Portcullis {
    /// The enabled IdP `idp` of `org` (unknown and disabled look the same: not found).
    pub(crate) async fn enabled_idp(&self, org_id: &str, idp: &str) -> Result<(OrgKey, IdpRecord)> {
        let org = self.resolve_org(org_id)?;
        let record = self
            .store()
            .identity_provider(org, idp)
            .await?
            .filter(|r| r.settings.enabled)
            .ok_or(ServiceError::NotFound("identity provider"))?;
        Ok((org, record))
    }

    /// The facts [`idp_may_vouch`] decides on, from the index and the store; `identity` is the
    /// asserted (IdP, NameID) when it is already linked to `user`.
    async fn account_trust(
        &self,
        user: UserKey,
        identity: Option<(i64, &str)>,
    ) -> Result<AccountTrust> {
        let owner_linked = match identity {
            Some((idp, name_id)) => self.store().owner_linked(idp, name_id, user).await?,
            None => false,
        };
        Ok(AccountTrust {
            operator: self.with_index(|i| i.user(user).is_some_and(|u| u.operator)),
            managed_by: self.store().user_managed_by(user).await?,
            verified_domain_of: self.store().verified_domain_org_of(user).await?,
            owner_linked,
        })
    }

    /// SP metadata XML for one IdP connection.
    pub async fn sp_metadata(&self, org_id: &str, idp: &str) -> Result<String> {
        let (_, record) = self.enabled_idp(org_id, idp).await?;
        let (entity, acs) = sp_urls(
            &self.config().public_url,
            org_id,
            record.settings.id.as_str(),
        );
        let certificate = self
            .config()
            .saml_sp_key
            .as_ref()
            .map(|k| k.certificate_b64());
        Ok(portcullis_saml::sp_metadata(
            &entity,
            &acs,
            &record.settings.name_id_format,
            certificate.as_deref(),
            record.settings.sign_requests && certificate.is_some(),
        ))
    }
}

/// What the browser posted to the ACS.
struct AcsPost<'a> {
    saml_response: &'a str,
    relay: Option<&'a str>,
    /// The AuthnRequest ID its SSO cookie names.
    browser_request: Option<&'a str>,
}

/// An SP-initiated login on its way to the IdP.
#[derive(Debug)]
pub struct SsoLoginStart {
    /// Where to redirect the browser.
    pub redirect_url: String,
    /// The AuthnRequest's ID: the browser keeps it (a cookie) so that only the browser that
    /// started a login can finish it.
    pub request_id: String,
}

impl Portcullis {
    /// Starts an SP-initiated login: the IdP URL to redirect the browser to.
    pub async fn sso_login_start(
        &self,
        meta: RequestMeta,
        org_id: &str,
        idp: &str,
        relay: Option<&str>,
    ) -> Result<SsoLoginStart> {
        let relay = relay_state(relay)?;
        let (_, record) = self.enabled_idp(org_id, idp).await?;
        self.send_authn_request(&Caller::anonymous(meta), org_id, &record, relay, None)
            .await
    }

    /// Records an AuthnRequest to `record` (a sign-in, or a link for `link_user`) and builds
    /// the redirect carrying it.
    pub(crate) async fn send_authn_request(
        &self,
        caller: &Caller,
        org_id: &str,
        record: &IdpRecord,
        relay: Option<String>,
        link_user: Option<UserKey>,
    ) -> Result<SsoLoginStart> {
        let (entity, acs) = sp_urls(
            &self.config().public_url,
            org_id,
            record.settings.id.as_str(),
        );
        let instant = portcullis_saml::rfc3339(self.now());
        let signing = if record.settings.sign_requests {
            // Refused when saving without a key; a key removed since then must not turn
            // signed requests into unsigned ones silently.
            Some(
                self.config()
                    .saml_sp_key
                    .as_deref()
                    .ok_or_else(sp_key_missing)?,
            )
        } else {
            None
        };
        let request = portcullis_saml::authn_request(
            &record.settings.sso_url,
            &entity,
            &acs,
            &record.settings.name_id_format,
            &instant,
            relay.as_deref(),
            signing,
        )
        .map_err(|e| ServiceError::Internal(Box::new(e)))?;
        let stored = SamlRequest {
            request_id: request.id.clone(),
            idp: record.key,
            relay_state: relay,
            expires_at: self.now() + REQUEST_TTL_MS,
            link_user,
        };
        self.commit(caller, async |w| {
            w.create_saml_request(&stored).await?;
            Ok(((), vec![]))
        })
        .await?;
        Ok(SsoLoginStart {
            redirect_url: request.redirect_url,
            request_id: request.id,
        })
    }

    /// The ACS: validates the response, resolves or provisions the account, maps groups to
    /// teams and mints a 7-day session SSO-authorized for the org. Every refusal is audited.
    pub async fn sso_acs(
        &self,
        meta: RequestMeta,
        org_id: &str,
        idp: &str,
        saml_response: &str,
        relay: Option<&str>,
        browser_request: Option<&str>,
    ) -> Result<AcsOutcome> {
        let anonymous = Caller::anonymous(meta);
        let (org, record) = self.enabled_idp(org_id, idp).await?;
        let label = org_label(self, org);
        let result = self
            .sso_acs_inner(
                &anonymous,
                org,
                &label,
                &record,
                AcsPost {
                    saml_response,
                    relay,
                    browser_request,
                },
            )
            .await;
        if let Err(err) = &result {
            let code = match err {
                ServiceError::NotAllowed { code, .. } => *code,
                ServiceError::Invalid { code, .. } => *code,
                _ => "internal",
            };
            let entry = AuditRecord::new(
                Some(org),
                Operation::SsoLoginFailure,
                json!({"org": label, "identity_provider": record.settings.id.as_str()}),
            )
            .with_details(json!({"reason": code}));
            if let Err(e) = self
                .store()
                .record_failure(&anonymous.actor(), self.now(), entry)
                .await
            {
                tracing::warn!(error = %e, "could not record an SSO failure");
            }
        }
        result
    }

    async fn sso_acs_inner(
        &self,
        anonymous: &Caller,
        org: OrgKey,
        label: &str,
        record: &IdpRecord,
        post: AcsPost<'_>,
    ) -> Result<AcsOutcome> {
        let AcsPost {
            saml_response,
            relay,
            browser_request,
        } = post;
        let settings = &record.settings;
        let (entity, acs) = sp_urls(&self.config().public_url, label, settings.id.as_str());
        let trust = IdpTrust {
            entity_id: &settings.entity_id,
            certificates: &settings.certificates,
            allow_sha1: settings.allow_sha1,
            clock_skew_secs: settings.clock_skew_secs,
        };
        let sp = SpEndpoints {
            entity_id: &entity,
            acs_url: &acs,
            decryption_key: self.config().saml_sp_key.as_deref(),
        };
        let login = portcullis_saml::validate_response(saml_response, &trust, &sp, self.now())
            .map_err(|e| saml_refusal(&e))?;
        if login.in_response_to.is_none() && !settings.idp_initiated {
            return Err(refusal(
                "saml.unsolicited",
                "IdP-initiated login is not enabled for this identity provider",
            ));
        }
        // A response to our request is accepted only from the browser that started the login,
        // so nobody can post their own login into someone else's browser (login CSRF).
        if let Some(request) = &login.in_response_to
            && browser_request != Some(request.as_str())
        {
            return Err(refusal(
                "saml.other_browser",
                "this sign-in was started in another browser; start it again here",
            ));
        }
        // The account is read from the store below and its state from the index: bring the
        // index up to every committed write first, so a user provisioned or linked through
        // another server a moment ago is not mistaken for a suspended or unknown one.
        self.catch_up().await?;
        // A response to a signed-in owner's link request links; it signs nobody in.
        if let Some(request) = &login.in_response_to
            && let Some(stored) = self
                .store()
                .saml_request(record.key, request, self.now())
                .await?
            && let Some(owner) = stored.link_user
        {
            return self
                .mail_sso_link(anonymous, owner, org, label, record, &login)
                .await;
        }
        // Who: (org, idp, NameID). A known identity signs in its linked account if this org
        // may vouch for it; an unknown one may be provisioned (JIT), never attached to an
        // existing account by its email address unless the org owns that account (manages
        // it, or its verified address is in a domain the org has verified).
        let mapping = &settings.attribute_mapping;
        let email_raw = first(&login, mapping.get("email")).or_else(|| {
            (login.name_id_format.as_deref() == Some(portcullis_saml::NAME_ID_EMAIL))
                .then(|| login.name_id.clone())
        });
        let mut existing = self.store().sso_account(record.key, &login.name_id).await?;
        let mut new_user: Option<NewUser> = None;
        if let Some(user) = existing {
            // Checked again in the transaction; this early answer keeps refusals cheap.
            let trust = self
                .account_trust(user, Some((record.key, &login.name_id)))
                .await?;
            idp_may_vouch(org, trust)?;
        } else {
            let no_account = || {
                refusal(
                    "saml.no_account",
                    "no account is linked to this identity and JIT provisioning is off",
                )
            };
            let email = email_raw
                .as_deref()
                .and_then(|e| Email::parse(e).ok())
                .ok_or_else(|| {
                    if settings.jit_enabled {
                        refusal("saml.no_email", "the assertion carries no usable email")
                    } else {
                        no_account()
                    }
                })?;
            // An account the org owns is found by its address whether or not JIT is on: JIT
            // only decides whether a missing account (or membership) is created.
            if let Some(found) = self.store().user_by_email(&email).await? {
                // Only an account this org owns (provisioned through an IdP of its, since
                // replaced, or verified in one of its verified domains) is found and linked;
                // any other is never attached by its email.
                if idp_may_vouch(org, self.account_trust(found.key, None).await?).is_err() {
                    return Err(account_not_owned());
                }
                existing = Some(found.key);
            } else if !settings.jit_enabled {
                return Err(no_account());
            } else {
                new_user = Some(NewUser {
                    id: crate::authentication::parse_id("id", &new_user_id(&email))?,
                    email,
                    first_name: crate::authentication::check_name(
                        "first_name",
                        &first(&login, mapping.get("first_name")).unwrap_or_default(),
                        crate::authentication::MAX_NAME_CHARS,
                    )?,
                    last_name: crate::authentication::check_name(
                        "last_name",
                        &first(&login, mapping.get("last_name")).unwrap_or_default(),
                        crate::authentication::MAX_NAME_CHARS,
                    )?,
                    password_hash: None,
                    operator: false,
                });
            }
        }
        if let Some(user) = existing {
            if !self.with_index(|i| i.user(user).is_some_and(|u| u.active)) {
                return Err(refusal("saml.user_suspended", "this account is suspended"));
            }
            // An IdP login does not stand in for a second factor the account's owner set up.
            if self
                .store()
                .totp_factor(user)
                .await?
                .is_some_and(|f| f.enabled)
            {
                return Err(refusal(
                    "sso.second_factor_enrolled",
                    "this account has a second factor, which a sign-in through an identity \
                     provider cannot skip; sign in with the account's password and code",
                ));
            }
        }
        let groups: Vec<String> = mapping
            .get("groups")
            .and_then(|a| login.attributes.get(a))
            .cloned()
            .unwrap_or_default();
        let team_map: Vec<(TeamKey, String, bool)> = settings
            .group_teams
            .iter()
            .filter_map(|(group, team)| {
                self.resolve_team(org, team)
                    .ok()
                    .map(|key| (key, team.clone(), groups.contains(group)))
            })
            .collect();
        let minted = token::mint(CredentialKind::Session, &mut rand::thread_rng());
        let expires_at = self.now() + SSO_SESSION_TTL_MS;
        let now = self.now();
        let relay_fallback = relay_state(relay).ok().flatten();
        let idp_key = record.key;
        let idp_id = settings.id.as_str().to_owned();
        let jit = settings.jit_enabled;
        let operator =
            existing.is_some_and(|u| self.with_index(|i| i.user(u).is_some_and(|e| e.operator)));
        let default_role = settings.default_role;
        let committed: Committed<(UserRecord, Option<String>)> = self
            .commit(anonymous, async |w| {
                // The replay cache first: a replayed response also answers a consumed request,
                // and must be reported as what it is.
                if !w
                    .consume_assertion_id(idp_key, &login.assertion_id, login.valid_until_ms)
                    .await?
                {
                    return Err(refusal("saml.replay", "this assertion was already used"));
                }
                let mut relay_state = relay_fallback.clone();
                if let Some(request_id) = &login.in_response_to {
                    let Some(stored) = w.consume_saml_request(idp_key, request_id).await? else {
                        return Err(refusal(
                            "saml.in_response_to_unknown",
                            "the response answers no outstanding request of this server",
                        ));
                    };
                    if stored.link_user.is_some() {
                        // Became a link request since the check above: not a sign-in.
                        return Err(refusal(
                            "saml.in_response_to_unknown",
                            "the response answers no outstanding sign-in of this server",
                        ));
                    }
                    relay_state = stored.relay_state;
                }
                let mut changes = Vec::new();
                let (user, vouch) = match (&new_user, existing) {
                    (_, Some(user)) => {
                        // The link may predate the rules, or the account changed hands since
                        // the check above: the decision stands on what this transaction reads.
                        let trust = AccountTrust {
                            operator,
                            managed_by: w.user_managed_by(user).await?,
                            verified_domain_of: w.verified_domain_org_of(user).await?,
                            owner_linked: w.owner_linked(idp_key, &login.name_id, user).await?,
                        };
                        (user, idp_may_vouch(org, trust)?)
                    }
                    (Some(new), None) => {
                        let key = w.create_user(new).await?;
                        w.set_user_managed_by(key, org).await?;
                        changes.push(Change::UserUpserted {
                            key,
                            id: new.id.as_str().to_owned(),
                            active: true,
                            operator: false,
                        });
                        (key, Vouch::Managed)
                    }
                    (None, None) => return Err(ServiceError::NotFound("user")),
                };
                w.link_sso_account(idp_key, &login.name_id, user).await?;
                if w.member_role(org, user).await?.is_none() {
                    if !jit {
                        return Err(refusal(
                            "saml.not_a_member",
                            "this account is not a member of the organization",
                        ));
                    }
                    w.add_member(org, user, default_role).await?;
                    changes.push(Change::MemberSet {
                        org,
                        user,
                        role: default_role,
                    });
                    w.audit(
                        AuditRecord::new(
                            Some(org),
                            Operation::SsoJitMember,
                            json!({"org": label, "user": user_label(self, user, new_user.as_ref())}),
                        )
                        .with_details(json!({"role": default_role.as_str(), "identity_provider": idp_id})),
                    );
                }
                let mut added = Vec::new();
                let mut removed = Vec::new();
                for (team, team_id, wanted) in &team_map {
                    if *wanted {
                        if w.add_team_member(*team, user).await? == TeamMemberAdd::Added {
                            changes.push(Change::TeamMemberAdded { team: *team, user });
                            added.push(team_id.clone());
                        }
                    } else if w.remove_team_member(*team, user).await? {
                        changes.push(Change::TeamMemberRemoved { team: *team, user });
                        removed.push(team_id.clone());
                    }
                }
                if !added.is_empty() || !removed.is_empty() {
                    w.audit(
                        AuditRecord::new(
                            Some(org),
                            Operation::SsoTeamSync,
                            json!({"org": label, "user": user_label(self, user, new_user.as_ref())}),
                        )
                        .with_details(json!({"added": added, "removed": removed})),
                    );
                }
                let new = NewCredential {
                    public_id: public_id("ses"),
                    user,
                    kind: CredentialKind::Session,
                    token_hash: minted.hash,
                    description: format!("SSO session ({label}/{idp_id})"),
                    scopes: PermissionSet::all(),
                    // Reaches this organization only, whatever else the account may reach.
                    org: Some(org),
                    app: None,
                    expires_at: Some(expires_at),
                };
                let id = w.create_credential(&new).await?;
                w.mark_credential_sso(id, org, Some(idp_key)).await?;
                changes.push(credential_change(id, &new));
                changes.push(Change::CredentialSsoAuthorized {
                    credential: id,
                    org,
                });
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::SsoLoginSuccess,
                        json!({
                            "org": label,
                            "identity_provider": idp_id,
                            "user": user_label(self, user, new_user.as_ref()),
                            "credential": new.public_id,
                        }),
                    )
                    .with_details(json!({"assertion": login.assertion_id, "vouched": vouch.as_str()})),
                );
                let record = UserRecord {
                    key: user,
                    id: user_label(self, user, new_user.as_ref()),
                    email: String::new(),
                    first_name: String::new(),
                    last_name: String::new(),
                    active: true,
                    operator: false,
                    created_at: now,
                    modified_at: now,
                };
                Ok(((record, relay_state), changes))
            })
            .await?;
        let (record, relay_state) = committed.value;
        let user = self.store().user(record.key).await?.unwrap_or(record);
        Ok(AcsOutcome::SignedIn(SsoLogin {
            session: NewSession {
                token: SecretString::from(minted.secret),
                expires_at,
                user,
                remember_me: false,
            },
            org: label.to_owned(),
            relay_state,
        }))
    }

    /// The org's SSO enforcement (`security.view`).
    pub async fn sso_enforcement(
        &self,
        caller: &Caller,
        org_id: &str,
    ) -> Result<(bool, Vec<String>)> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::SecurityView,
            Resource::Account(Account::Org(org)),
            "organization",
        )?;
        let sso = self.store().org_sso(org).await?;
        Ok((sso.enforced, self.user_ids(&sso.break_glass)))
    }

    fn user_ids(&self, users: &[UserKey]) -> Vec<String> {
        self.with_index(|i| {
            users
                .iter()
                .filter_map(|u| i.user(*u).map(|e| e.id.to_string()))
                .collect()
        })
    }

    /// Turns SSO enforcement on or off and sets the break-glass administrators.
    pub async fn set_sso_enforcement(
        &self,
        caller: &Caller,
        org_id: &str,
        enforced: bool,
        break_glass: &[String],
    ) -> Result<Committed<(bool, Vec<String>)>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::SsoEnforcementUpdate,
            caller,
            Permission::SecurityManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )
        .await?;
        if break_glass.len() > 10 {
            return Err(ServiceError::invalid(
                "field.too_long",
                "break_glass",
                "at most 10 break-glass administrators",
            ));
        }
        let mut users = Vec::new();
        for id in break_glass {
            let user = self.resolve_user(id).map_err(|_| {
                ServiceError::invalid(
                    "sso.break_glass_invalid",
                    "break_glass",
                    format!("no user `{id}`"),
                )
            })?;
            let is_admin = self.with_index(|i| {
                i.membership(user, org)
                    .is_some_and(|m| m.role == portcullis_core::OrgRole::Admin)
            });
            if !is_admin {
                return Err(ServiceError::invalid(
                    "sso.break_glass_invalid",
                    "break_glass",
                    format!("`{id}` is not an administrator of this organization"),
                ));
            }
            if !users.contains(&user) {
                users.push(user);
            }
        }
        if enforced
            && !self
                .store()
                .identity_providers(org)
                .await?
                .iter()
                .any(|i| i.settings.enabled)
        {
            return Err(ServiceError::state(
                "sso.no_enabled_idp",
                "enable an identity provider before enforcing SSO",
            ));
        }
        let label = org_label(self, org);
        let ids = self.user_ids(&users);
        self.commit(caller, async |w| {
            let before = w.org_sso(org).await?;
            let after = OrgSso {
                enforced,
                break_glass: users.clone(),
            };
            w.set_org_sso(org, &after).await?;
            w.audit(
                AuditRecord::new(Some(org), Operation::SsoEnforcementUpdate, json!({"org": label}))
                    .with_details(json!({
                        "before": {"enforced": before.enforced, "break_glass": self.user_ids(&before.break_glass)},
                        "after": {"enforced": enforced, "break_glass": ids},
                    })),
            );
            Ok((
                (enforced, ids.clone()),
                vec![
                    Change::OrgSsoEnforced { key: org, enforced },
                    Change::OrgSsoBreakGlass {
                        key: org,
                        users: users.clone(),
                    },
                ],
            ))
        })
        .await
    }

    /// SSO-authorizes one of the caller's PATs for `org`: the caller must present a session
    /// from an SSO login of that org.
    pub async fn sso_authorize_key(
        &self,
        caller: &Caller,
        key_id: &str,
        org_id: &str,
    ) -> Result<Committed<()>> {
        let user = self.require_user(caller)?;
        let org = self.resolve_org(org_id)?;
        if caller.kind() != Some(CredentialKind::Session) || !caller.subject.sso_orgs.contains(&org)
        {
            return Err(refusal(
                "sso.session_required",
                "sign in through this organization's identity provider first",
            ));
        }
        let label = org_label(self, org);
        self.commit(caller, async |w| {
            let id = w
                .live_pat_of(user, key_id)
                .await?
                .ok_or(ServiceError::NotFound("key"))?;
            w.mark_credential_sso(id, org, None).await?;
            w.audit(AuditRecord::new(
                Some(org),
                Operation::SsoPatAuthorize,
                json!({"org": label, "credential": key_id}),
            ));
            Ok((
                (),
                vec![Change::CredentialSsoAuthorized {
                    credential: id,
                    org,
                }],
            ))
        })
        .await
    }

    /// The enabled identity providers of an org, for its login page.
    pub async fn login_methods(&self, org_id: &str) -> Result<Vec<LoginMethod>> {
        let org = self.resolve_org(org_id)?;
        let label = org_label(self, org);
        Ok(self
            .store()
            .identity_providers(org)
            .await?
            .into_iter()
            .filter(|i| i.settings.enabled)
            .map(|i| LoginMethod {
                login_url: format!("/saml/{}/{}/login", label, i.settings.id.as_str()),
                id: i.settings.id.as_str().to_owned(),
                name: i.settings.name,
            })
            .collect())
    }
}

fn user_label(service: &Portcullis, user: UserKey, new: Option<&NewUser>) -> String {
    service
        .with_index(|i| i.user(user).map(|u| u.id.to_string()))
        .or_else(|| new.map(|n| n.id.as_str().to_owned()))
        .unwrap_or_default()
}
