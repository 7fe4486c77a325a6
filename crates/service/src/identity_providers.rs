//! SAML identity providers of an organization (`security.manage`): create from fields, from
//! metadata XML or from a metadata URL (fetched through the outbound guard, with a timeout, a size
//! cap and HTTP(S)-only redirects), update, refresh from the URL, delete. An IdP without a signing certificate is
//! never saved: a response could not be verified against it.

use std::collections::BTreeMap;
use std::time::Duration;

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{OrgKey, OrgRole, Permission, Timestamp};
use portcullis_saml::{CertificateInfo, IdpMetadata, SamlError};
pub use portcullis_saml::{NAME_ID_EMAIL, NAME_ID_PERSISTENT, NAME_ID_UNSPECIFIED};
use portcullis_store::{AuditRecord, IdpRecord, IdpSettings};
use serde_json::json;

use crate::authentication::{check_name, parse_id};
use crate::orgs::non_empty;
use crate::outbound::{OutboundPolicy, OutboundRefused, TooManyRedirects};
use crate::teams::org_label;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// A certificate is "expiring soon" within this many days.
pub const EXPIRY_WARNING_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
const MAX_URL_CHARS: usize = 2048;
const ATTRIBUTE_KEYS: [&str; 4] = ["email", "first_name", "last_name", "groups"];

/// Fields of a create or update; `None` keeps the current value (or the default on create).
#[derive(Debug, Clone, Default)]
pub struct IdpInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub entity_id: Option<String>,
    pub sso_url: Option<String>,
    pub certificates: Option<Vec<String>>,
    pub name_id_format: Option<String>,
    pub attribute_mapping: Option<BTreeMap<String, String>>,
    pub jit_enabled: Option<bool>,
    pub default_role: Option<String>,
    pub group_teams: Option<BTreeMap<String, String>>,
    pub idp_initiated: Option<bool>,
    pub sign_requests: Option<bool>,
    pub allow_sha1: Option<bool>,
    pub clock_skew_secs: Option<i64>,
    /// Metadata pasted or uploaded: fills entity id, SSO URL, certificates, NameID format.
    pub metadata_xml: Option<String>,
    /// Metadata fetched by the server (and kept for `refresh`).
    pub metadata_url: Option<String>,
}

/// A certificate as shown to administrators.
#[derive(Debug, Clone)]
pub struct CertificateView {
    pub certificate: String,
    pub info: Option<CertificateInfo>,
    pub expired: bool,
    pub expiring_soon: bool,
}

#[derive(Debug, Clone)]
pub struct IdpView {
    pub org: String,
    pub record: IdpRecord,
    pub certificates: Vec<CertificateView>,
    pub warnings: Vec<String>,
    /// The SP entity id and ACS URL to configure at the IdP (under `public_url`).
    pub sp_entity_id: String,
    pub acs_url: String,
}

fn invalid_saml(field: &'static str, err: &SamlError) -> ServiceError {
    let code = match err {
        SamlError::Certificate(_) => "idp.certificate_invalid",
        SamlError::TooLarge => "idp.metadata_too_large",
        SamlError::DtdForbidden => "idp.metadata_dtd_forbidden",
        _ => "idp.metadata_invalid",
    };
    ServiceError::invalid(code, field, err.to_string())
}

fn http_url(field: &'static str, raw: &str) -> Result<String> {
    let raw = raw.trim();
    let ok = raw.chars().count() <= MAX_URL_CHARS
        && reqwest::Url::parse(raw)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        return Err(ServiceError::invalid(
            "field.url_invalid",
            field,
            format!("`{field}` must be an absolute http(s) URL"),
        ));
    }
    Ok(raw.to_owned())
}

fn text(field: &'static str, raw: &str, max: usize) -> Result<String> {
    non_empty(field, check_name(field, raw, max)?)
}

pub(crate) fn view(org: String, record: IdpRecord, now: Timestamp, public_url: &str) -> IdpView {
    let (sp_entity_id, acs_url) =
        crate::sso::sp_urls(public_url, &org, record.settings.id.as_str());
    let mut warnings = Vec::new();
    let certificates = record
        .settings
        .certificates
        .iter()
        .map(|c| {
            let info = portcullis_saml::certificate_info(c).ok();
            let (expired, soon) = match &info {
                Some(i) => (
                    i.not_after_ms <= now,
                    i.not_after_ms > now && i.not_after_ms - now <= EXPIRY_WARNING_DAYS * DAY_MS,
                ),
                None => (true, false),
            };
            if expired {
                warnings.push(format!("certificate {} has expired", short(c)));
            } else if soon {
                warnings.push(format!(
                    "certificate {} expires within {EXPIRY_WARNING_DAYS} days",
                    short(c)
                ));
            }
            CertificateView {
                certificate: c.clone(),
                info,
                expired,
                expiring_soon: soon,
            }
        })
        .collect();
    IdpView {
        org,
        record,
        certificates,
        warnings,
        sp_entity_id,
        acs_url,
    }
}

fn short(cert: &str) -> String {
    portcullis_saml::certificate_info(cert)
        .map(|i| i.fingerprint_sha256.chars().take(16).collect())
        .unwrap_or_else(|_| "?".into())
}

const MAX_REDIRECTS: usize = 3;

/// The first error of type `T` in `err`'s source chain, stepping into the error an
/// `io::Error` wraps (its `source` skips it).
fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    None
}

/// The one answer for a metadata URL that did not give SAML metadata: a closed port, an HTTP
/// error, a body that is not UTF-8 or not metadata all look alike, so the fetch cannot map an
/// internal network (the detail goes to the log).
fn unusable_metadata(detail: &dyn std::fmt::Display) -> ServiceError {
    tracing::info!(detail = %detail, "metadata URL gave no usable metadata");
    ServiceError::invalid(
        "idp.metadata_fetch_failed",
        "metadata_url",
        "the metadata URL did not answer with usable SAML metadata",
    )
}

fn refused_address() -> ServiceError {
    ServiceError::invalid(
        "idp.metadata_address_refused",
        "metadata_url",
        "the metadata URL points to an address this server does not connect to",
    )
}

fn refused_scheme() -> ServiceError {
    ServiceError::invalid(
        "idp.metadata_redirect_scheme",
        "metadata_url",
        "the metadata URL redirected to a non-HTTP(S) URL",
    )
}

/// Maps a failed metadata request: a refused target or redirect, TLS, timeout, anything else.
fn fetch_error(err: &reqwest::Error) -> ServiceError {
    if let Some(refused) = find_in_chain::<OutboundRefused>(err) {
        return match refused {
            OutboundRefused::Scheme => refused_scheme(),
            OutboundRefused::Address | OutboundRefused::ResolvedAddress => refused_address(),
        };
    }
    let (code, message) = if let Some(too_many) = find_in_chain::<TooManyRedirects>(err) {
        ("idp.metadata_too_many_redirects", too_many.to_string())
    } else if let Some(tls) = find_in_chain::<rustls::Error>(err) {
        match tls {
            rustls::Error::InvalidCertificate(why) => (
                "idp.metadata_tls_untrusted",
                format!("the metadata server's TLS certificate is not trusted ({why:?})"),
            ),
            other => (
                "idp.metadata_tls_failed",
                format!("the TLS handshake with the metadata server failed ({other})"),
            ),
        }
    } else if err.is_timeout() {
        (
            "idp.metadata_fetch_timeout",
            "the metadata URL did not answer in time".to_owned(),
        )
    } else {
        return unusable_metadata(err);
    };
    ServiceError::invalid(code, "metadata_url", message)
}

/// Fetches metadata through the outbound guard ([`OutboundPolicy`]): http(s) only (also after
/// redirects), never to an internal address the operator did not allow, TLS verified against
/// the web PKI roots, a timeout, a size cap.
pub(crate) async fn fetch_metadata(
    url: &str,
    timeout: Duration,
    policy: &OutboundPolicy,
) -> Result<String> {
    let too_large = || {
        ServiceError::invalid(
            "idp.metadata_too_large",
            "metadata_url",
            "the metadata document is too large",
        )
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| unusable_metadata(&e))?;
    match policy.check_url(&parsed) {
        Ok(()) => {}
        Err(OutboundRefused::Scheme) => return Err(refused_scheme()),
        Err(_) => return Err(refused_address()),
    }
    let client = policy
        .client(timeout, MAX_REDIRECTS)
        .map_err(|e| ServiceError::Internal(Box::new(e)))?;
    let mut response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| fetch_error(&e))?;
    if response.status().is_redirection() {
        // reqwest leaves a redirect it cannot even express as an HTTP URI (`file:///...`)
        // unfollowed: refuse it as the policy refuses any other non-HTTP(S) target.
        let target = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| response.url().join(l).ok());
        if target.is_some_and(|t| !matches!(t.scheme(), "http" | "https")) {
            return Err(refused_scheme());
        }
    }
    if !response.status().is_success() {
        return Err(unusable_metadata(&response.status()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > portcullis_saml::MAX_METADATA_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fetch_error(&e))? {
        body.extend_from_slice(&chunk);
        if body.len() > portcullis_saml::MAX_METADATA_BYTES {
            return Err(too_large());
        }
    }
    String::from_utf8(body).map_err(|e| unusable_metadata(&e))
}

impl Portcullis {
    async fn authorize_idp(&self, caller: &Caller, org_id: &str, op: Operation) -> Result<OrgKey> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            op,
            caller,
            Permission::SecurityManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )
        .await?;
        Ok(org)
    }

    /// Applies `input` over `base`, validating every field; fills from metadata when given.
    async fn settings_from(
        &self,
        org: OrgKey,
        base: Option<&IdpSettings>,
        mut input: IdpInput,
    ) -> Result<IdpSettings> {
        let mut fetched_at = base.and_then(|b| b.metadata_fetched_at);
        let mut metadata: Option<IdpMetadata> = None;
        if let Some(url) = &input.metadata_url {
            let url = http_url("metadata_url", url)?;
            let xml = fetch_metadata(
                &url,
                self.config().metadata_fetch_timeout,
                &self.config().outbound_allow,
            )
            .await?;
            metadata = Some(
                portcullis_saml::parse_idp_metadata(&xml).map_err(|e| match e {
                    // Only what a fetched document can say without telling an internal service
                    // from an identity provider.
                    SamlError::TooLarge | SamlError::DtdForbidden | SamlError::Certificate(_) => {
                        invalid_saml("metadata_url", &e)
                    }
                    other => unusable_metadata(&other),
                })?,
            );
            fetched_at = Some(self.now());
            input.metadata_url = Some(url);
        } else if let Some(xml) = &input.metadata_xml {
            metadata = Some(
                portcullis_saml::parse_idp_metadata(xml)
                    .map_err(|e| invalid_saml("metadata_xml", &e))?,
            );
        }
        if let Some(m) = metadata {
            input.entity_id.get_or_insert(m.entity_id);
            input.sso_url.get_or_insert(m.sso_url);
            input.certificates.get_or_insert(m.certificates);
            if input.name_id_format.is_none() {
                input.name_id_format = m.name_id_formats.into_iter().next();
            }
        }
        let required = |field: &'static str| {
            ServiceError::invalid("field.required", field, format!("`{field}` is required"))
        };
        let id = match (&input.id, base) {
            (Some(raw), _) => parse_id("id", raw)?,
            (None, Some(b)) => b.id.clone(),
            (None, None) => return Err(required("id")),
        };
        let name = match (&input.name, base) {
            (Some(raw), _) => text("name", raw, 100)?,
            (None, Some(b)) => b.name.clone(),
            (None, None) => id.as_str().to_owned(),
        };
        let entity_id = match (&input.entity_id, base) {
            (Some(raw), _) => text("entity_id", raw, 1024)?,
            (None, Some(b)) => b.entity_id.clone(),
            (None, None) => return Err(required("entity_id")),
        };
        let sso_url = match (&input.sso_url, base) {
            (Some(raw), _) => http_url("sso_url", raw)?,
            (None, Some(b)) => b.sso_url.clone(),
            (None, None) => return Err(required("sso_url")),
        };
        let certificates = match (input.certificates, base) {
            (Some(list), _) => {
                let mut out: Vec<String> = Vec::new();
                for raw in list {
                    let compact: String = raw
                        .lines()
                        .filter(|l| !l.starts_with("-----"))
                        .collect::<String>()
                        .chars()
                        .filter(|c| !c.is_ascii_whitespace())
                        .collect();
                    portcullis_saml::certificate_info(&compact)
                        .map_err(|e| invalid_saml("certificates", &e))?;
                    if !out.contains(&compact) {
                        out.push(compact);
                    }
                }
                out
            }
            (None, Some(b)) => b.certificates.clone(),
            (None, None) => Vec::new(),
        };
        if certificates.is_empty() {
            return Err(ServiceError::invalid(
                "idp.no_signing_certificate",
                "certificates",
                "an identity provider needs at least one signing certificate",
            ));
        }
        if certificates.len() > 5 {
            return Err(ServiceError::invalid(
                "field.too_long",
                "certificates",
                "at most 5 signing certificates",
            ));
        }
        let name_id_format = match (&input.name_id_format, base) {
            (Some(raw), _) => text("name_id_format", raw, 256)?,
            (None, Some(b)) => b.name_id_format.clone(),
            (None, None) => NAME_ID_EMAIL.to_owned(),
        };
        let attribute_mapping = match (input.attribute_mapping, base) {
            (Some(map), _) => {
                for (key, value) in &map {
                    if !ATTRIBUTE_KEYS.contains(&key.as_str()) {
                        return Err(ServiceError::invalid(
                            "idp.attribute_unknown",
                            "attribute_mapping",
                            format!(
                                "unknown mapped attribute `{key}` (email, first_name, last_name, groups)"
                            ),
                        ));
                    }
                    text("attribute_mapping", value, 256)?;
                }
                map
            }
            (None, Some(b)) => b.attribute_mapping.clone(),
            (None, None) => BTreeMap::new(),
        };
        let default_role = match (&input.default_role, base) {
            (Some(raw), _) => crate::members::parse_role("default_role", raw)?,
            (None, Some(b)) => b.default_role,
            (None, None) => OrgRole::OrgUser,
        };
        let group_teams = match (input.group_teams, base) {
            (Some(map), _) => {
                for (group, team) in &map {
                    text("group_teams", group, 256)?;
                    if self.resolve_team(org, team).is_err() {
                        return Err(ServiceError::invalid(
                            "idp.unknown_team",
                            "group_teams",
                            format!("no team `{team}` in this organization"),
                        ));
                    }
                }
                map
            }
            (None, Some(b)) => b.group_teams.clone(),
            (None, None) => BTreeMap::new(),
        };
        let sign_requests = input
            .sign_requests
            .or(base.map(|b| b.sign_requests))
            .unwrap_or(false);
        if sign_requests && self.config().saml_sp_key.is_none() {
            return Err(crate::sso::sp_key_missing());
        }
        let clock_skew_secs = input
            .clock_skew_secs
            .or(base.map(|b| b.clock_skew_secs))
            .unwrap_or(120);
        if !(0..=600).contains(&clock_skew_secs) {
            return Err(ServiceError::invalid(
                "field.out_of_range",
                "clock_skew_secs",
                "`clock_skew_secs` must be between 0 and 600",
            ));
        }
        Ok(IdpSettings {
            id,
            name,
            enabled: input.enabled.or(base.map(|b| b.enabled)).unwrap_or(false),
            entity_id,
            sso_url,
            certificates,
            name_id_format,
            attribute_mapping,
            jit_enabled: input
                .jit_enabled
                .or(base.map(|b| b.jit_enabled))
                .unwrap_or(false),
            default_role,
            group_teams,
            idp_initiated: input
                .idp_initiated
                .or(base.map(|b| b.idp_initiated))
                .unwrap_or(false),
            sign_requests,
            allow_sha1: input
                .allow_sha1
                .or(base.map(|b| b.allow_sha1))
                .unwrap_or(false),
            clock_skew_secs,
            metadata_url: input
                .metadata_url
                .or_else(|| base.and_then(|b| b.metadata_url.clone())),
            metadata_fetched_at: fetched_at,
        })
    }

    pub async fn create_identity_provider(
        &self,
        caller: &Caller,
        org_id: &str,
        input: IdpInput,
    ) -> Result<Committed<IdpView>> {
        let org = self
            .authorize_idp(caller, org_id, Operation::IdpCreate)
            .await?;
        let settings = self.settings_from(org, None, input).await?;
        let label = org_label(self, org);
        let now = self.now();
        self.commit(caller, async |w| {
            let record = w.create_identity_provider(org, &settings).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::IdpCreate,
                    json!({"org": label, "identity_provider": settings.id.as_str()}),
                )
                .with_details(json!({"after": audit_view(&settings)})),
            );
            Ok((
                view(label.clone(), record, now, &self.config().public_url),
                vec![],
            ))
        })
        .await
    }

    pub async fn identity_providers(&self, caller: &Caller, org_id: &str) -> Result<Vec<IdpView>> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::SecurityView,
            Resource::Account(Account::Org(org)),
            "organization",
        )?;
        let label = org_label(self, org);
        let now = self.now();
        Ok(self
            .store()
            .identity_providers(org)
            .await?
            .into_iter()
            .map(|r| view(label.clone(), r, now, &self.config().public_url))
            .collect())
    }

    pub async fn identity_provider(
        &self,
        caller: &Caller,
        org_id: &str,
        idp: &str,
    ) -> Result<IdpView> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::SecurityView,
            Resource::Account(Account::Org(org)),
            "organization",
        )?;
        let record = self
            .store()
            .identity_provider(org, idp)
            .await?
            .ok_or(ServiceError::NotFound("identity provider"))?;
        Ok(view(
            org_label(self, org),
            record,
            self.now(),
            &self.config().public_url,
        ))
    }

    /// Updates fields; `refresh` re-reads the stored metadata URL.
    pub async fn update_identity_provider(
        &self,
        caller: &Caller,
        org_id: &str,
        idp: &str,
        mut input: IdpInput,
        refresh: bool,
    ) -> Result<Committed<IdpView>> {
        let op = if refresh {
            Operation::IdpMetadataRefresh
        } else {
            Operation::IdpUpdate
        };
        let org = self.authorize_idp(caller, org_id, op).await?;
        let current = self
            .store()
            .identity_provider(org, idp)
            .await?
            .ok_or(ServiceError::NotFound("identity provider"))?;
        if refresh {
            let url = current.settings.metadata_url.clone().ok_or_else(|| {
                ServiceError::state(
                    "idp.no_metadata_url",
                    "this identity provider has no metadata URL",
                )
            })?;
            // Metadata wins over the stored entity id, SSO URL and certificates.
            input = IdpInput {
                metadata_url: Some(url),
                ..IdpInput::default()
            };
        }
        let settings = self
            .settings_from(org, Some(&current.settings), input)
            .await?;
        let label = org_label(self, org);
        let now = self.now();
        let key = current.key;
        self.commit(caller, async |w| {
            let before = w.identity_provider(org, idp).await?;
            if before.key != key {
                return Err(ServiceError::NotFound("identity provider"));
            }
            let record = w.update_identity_provider(key, &settings).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    op,
                    json!({"org": label, "identity_provider": settings.id.as_str()}),
                )
                .with_details(json!({
                    "before": audit_view(&before.settings),
                    "after": audit_view(&settings),
                })),
            );
            Ok((
                view(label.clone(), record, now, &self.config().public_url),
                vec![],
            ))
        })
        .await
    }

    pub async fn delete_identity_provider(
        &self,
        caller: &Caller,
        org_id: &str,
        idp: &str,
    ) -> Result<Committed<()>> {
        let org = self
            .authorize_idp(caller, org_id, Operation::IdpDelete)
            .await?;
        let label = org_label(self, org);
        self.commit(caller, async |w| {
            let before = w.identity_provider(org, idp).await?;
            w.delete_identity_provider(before.key).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::IdpDelete,
                    json!({"org": label, "identity_provider": before.settings.id.as_str()}),
                )
                .with_details(json!({"before": audit_view(&before.settings)})),
            );
            Ok(((), vec![]))
        })
        .await
    }
}

/// The audited form of the settings (certificates by fingerprint).
fn audit_view(s: &IdpSettings) -> serde_json::Value {
    json!({
        "id": s.id.as_str(),
        "name": s.name,
        "enabled": s.enabled,
        "entity_id": s.entity_id,
        "sso_url": s.sso_url,
        "certificates": s.certificates.iter().map(|c| short(c)).collect::<Vec<_>>(),
        "name_id_format": s.name_id_format,
        "attribute_mapping": s.attribute_mapping,
        "jit_enabled": s.jit_enabled,
        "default_role": s.default_role.as_str(),
        "group_teams": s.group_teams,
        "idp_initiated": s.idp_initiated,
        "allow_sha1": s.allow_sha1,
        "clock_skew_secs": s.clock_skew_secs,
        "metadata_url": s.metadata_url,
    })
}
