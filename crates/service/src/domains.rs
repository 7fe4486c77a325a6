//! Email domains an organization proves it controls (`security.manage` to change,
//! `security.view` to list): adding a domain issues a DNS TXT challenge, verifying resolves it,
//! a domain is verified by one organization at most, and a periodic re-check suspends a claim
//! whose record is gone. A verified claim lets the organization's identity provider vouch for
//! accounts whose verified address is in the domain (see `sso_trust`).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::rr::RData;
use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{Change, OrgKey, OrgRole, Permission};
use portcullis_store::{AuditRecord, DomainRecord, DomainStatus};
use serde_json::json;

use crate::mail::Mail;
use crate::teams::org_label;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// The TXT record is looked up at this label under the domain.
pub const CHALLENGE_LABEL: &str = "_portcullis-challenge";
/// The TXT record's value is this prefix followed by the claim's token.
pub const CHALLENGE_PREFIX: &str = "portcullis-domain-verification=";
/// How often `serve` re-checks every verified claim.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(3_600);
/// How many domains one organization may claim.
pub const MAX_DOMAINS_PER_ORG: usize = 50;
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// A claim as shown to the organization's administrators, with the record to publish.
#[derive(Debug, Clone)]
pub struct DomainView {
    pub org: String,
    pub record: DomainRecord,
    /// `_portcullis-challenge.<domain>`
    pub record_name: String,
    /// `portcullis-domain-verification=<token>`
    pub record_value: String,
}

/// What one re-check pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecheckReport {
    pub checked: usize,
    pub suspended: Vec<String>,
    /// Domains whose look-up failed for another reason (left as they were).
    pub unresolved: Vec<String>,
}

fn view(org: String, record: DomainRecord) -> DomainView {
    DomainView {
        record_name: format!("{CHALLENGE_LABEL}.{}", record.domain),
        record_value: format!("{CHALLENGE_PREFIX}{}", record.token),
        org,
        record,
    }
}

/// The canonical domain of user input, or `domain.invalid`.
pub fn parse_domain(raw: &str) -> Result<String> {
    portcullis_core::email::canonical_domain(raw).ok_or_else(|| {
        ServiceError::invalid(
            "domain.invalid",
            "domain",
            format!(
                "`{}` is not a domain name",
                raw.chars().take(260).collect::<String>()
            ),
        )
    })
}

fn new_token() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What the DNS said about the challenge record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Found,
    /// No TXT record at the name (or no such name).
    Missing,
    /// TXT records exist but none carries the token.
    Mismatch,
}

/// Looks the challenge up, uncached, at `nameserver` or the system resolver.
async fn look_up(
    nameserver: Option<SocketAddr>,
    record: &DomainRecord,
) -> std::result::Result<Challenge, String> {
    let mut builder = match nameserver {
        Some(addr) => {
            let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                .into_iter()
                .map(|mut connection| {
                    connection.port = addr.port();
                    connection
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    addr.ip(),
                    true,
                    connections,
                )]),
                TokioRuntimeProvider::default(),
            )
        }
        None => Resolver::builder_tokio().map_err(|e| e.to_string())?,
    };
    let options = builder.options_mut();
    // A removed record must be noticed at once, not after a cached answer expires.
    options.cache_size = 0;
    options.timeout = DNS_TIMEOUT;
    options.attempts = 2;
    let resolver = builder.build().map_err(|e| e.to_string())?;
    // Fully qualified: no search domain of the host is appended.
    let name = format!("{CHALLENGE_LABEL}.{}.", record.domain);
    let expected = format!("{CHALLENGE_PREFIX}{}", record.token);
    match resolver.txt_lookup(name).await {
        Ok(lookup) => {
            let found = lookup.answers().iter().any(|record| match &record.data {
                RData::TXT(txt) => {
                    let value: Vec<u8> = txt
                        .txt_data
                        .iter()
                        .flat_map(|s| s.iter().copied())
                        .collect();
                    value == expected.as_bytes()
                }
                _ => false,
            });
            Ok(if found {
                Challenge::Found
            } else {
                Challenge::Mismatch
            })
        }
        Err(err) if record_absent(&err) => Ok(Challenge::Missing),
        Err(err) => Err(err.to_string()),
    }
}

/// Whether the server said the record does not exist (no such name, or no TXT at it), as
/// opposed to failing to answer (SERVFAIL, REFUSED, a timeout): only the former loses a claim.
fn record_absent(err: &NetError) -> bool {
    use hickory_resolver::proto::op::ResponseCode;
    matches!(
        err,
        NetError::Dns(DnsError::NoRecordsFound(NoRecords {
            response_code: ResponseCode::NXDomain | ResponseCode::NoError,
            ..
        }))
    )
}

fn claimed_elsewhere(domain: &str) -> ServiceError {
    ServiceError::state(
        "domain.claimed_elsewhere",
        format!("`{domain}` is verified by another organization"),
    )
}

impl Portcullis {
    async fn authorize_domains(
        &self,
        caller: &Caller,
        org_id: &str,
        op: Operation,
    ) -> Result<OrgKey> {
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

    /// Records a verification the DNS (or another organization's claim) refused.
    async fn audit_refused_verify(&self, caller: &Caller, org: OrgKey, domain: &str, why: &str) {
        let record = AuditRecord::new(
            Some(org),
            Operation::DomainVerify,
            json!({"org": org_label(self, org), "domain": domain}),
        )
        .with_details(json!({"denied": why}));
        if let Err(err) = self
            .store()
            .record_failure(&caller.actor(), self.now(), record)
            .await
        {
            tracing::error!(error = %err, "could not audit a refused domain verification");
        }
    }

    /// Claims `domain` for the organization: a pending claim and the TXT record to publish.
    pub async fn add_domain(
        &self,
        caller: &Caller,
        org_id: &str,
        domain: &str,
    ) -> Result<Committed<DomainView>> {
        let org = self
            .authorize_domains(caller, org_id, Operation::DomainAdd)
            .await?;
        let domain = parse_domain(domain)?;
        if self.store().org_domains(org).await?.len() >= MAX_DOMAINS_PER_ORG {
            return Err(ServiceError::state(
                "domain.limit_reached",
                format!("an organization claims at most {MAX_DOMAINS_PER_ORG} domains"),
            ));
        }
        let label = org_label(self, org);
        let token = new_token();
        self.commit(caller, async |w| {
            let record = w.add_org_domain(org, &domain, &token).await?;
            w.audit(AuditRecord::new(
                Some(org),
                Operation::DomainAdd,
                json!({"org": label, "domain": domain}),
            ));
            Ok((view(label.clone(), record), vec![]))
        })
        .await
    }

    pub async fn domains(&self, caller: &Caller, org_id: &str) -> Result<Vec<DomainView>> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::SecurityView,
            Resource::Account(Account::Org(org)),
            "organization",
        )?;
        let label = org_label(self, org);
        Ok(self
            .store()
            .org_domains(org)
            .await?
            .into_iter()
            .map(|r| view(label.clone(), r))
            .collect())
    }

    /// Resolves the challenge now: verified when the TXT record carries the token and no other
    /// organization has verified the domain. A suspended claim is verified again this way.
    pub async fn verify_domain(
        &self,
        caller: &Caller,
        org_id: &str,
        domain: &str,
    ) -> Result<Committed<DomainView>> {
        let org = self
            .authorize_domains(caller, org_id, Operation::DomainVerify)
            .await?;
        let domain = parse_domain(domain)?;
        let current = self
            .store()
            .org_domain(org, &domain)
            .await?
            .ok_or(ServiceError::NotFound("domain"))?;
        if self
            .store()
            .domain_verified_by(&domain)
            .await?
            .is_some_and(|owner| owner != org)
        {
            self.audit_refused_verify(caller, org, &domain, "claimed_elsewhere")
                .await;
            return Err(claimed_elsewhere(&domain));
        }
        let refused = match look_up(self.config().dns_nameserver, &current).await {
            Ok(Challenge::Found) => None,
            Ok(Challenge::Missing) => Some((
                "domain.record_not_found",
                format!(
                    "no TXT record at `{CHALLENGE_LABEL}.{domain}`; publish `{CHALLENGE_PREFIX}{}` \
                     there and verify again",
                    current.token
                ),
            )),
            Ok(Challenge::Mismatch) => Some((
                "domain.record_mismatch",
                format!(
                    "no TXT record at `{CHALLENGE_LABEL}.{domain}` carries this claim's value \
                     `{CHALLENGE_PREFIX}{}`",
                    current.token
                ),
            )),
            Err(why) => {
                tracing::warn!(%domain, error = %why, "domain verification look-up failed");
                self.audit_refused_verify(caller, org, &domain, "dns_unavailable")
                    .await;
                return Err(ServiceError::Unavailable {
                    code: "domain.dns_unavailable",
                    message: format!(
                        "the DNS look-up of `{CHALLENGE_LABEL}.{domain}` failed; retry later"
                    ),
                });
            }
        };
        if let Some((code, message)) = refused {
            self.audit_refused_verify(caller, org, &domain, code).await;
            return Err(ServiceError::state(code, message));
        }
        let label = org_label(self, org);
        let key = current.key;
        let token = current.token.clone();
        let result = self
            .commit(caller, async |w| {
                let before = w.org_domain(org, &domain).await?;
                // Deleted and added again meanwhile: that claim has another token.
                if before.key != key || before.token != token {
                    return Err(ServiceError::NotFound("domain"));
                }
                let record = w.set_org_domain_status(key, DomainStatus::Verified).await?;
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::DomainVerify,
                        json!({"org": label, "domain": domain}),
                    )
                    .with_details(json!({"before": before.status.as_str()})),
                );
                Ok((view(label.clone(), record), vec![]))
            })
            .await;
        match result {
            // The unique index: another organization verified it in the meantime.
            Err(ServiceError::Conflict("verified domain")) => {
                self.audit_refused_verify(caller, org, &domain, "claimed_elsewhere")
                    .await;
                Err(claimed_elsewhere(&domain))
            }
            other => other,
        }
    }

    pub async fn delete_domain(
        &self,
        caller: &Caller,
        org_id: &str,
        domain: &str,
    ) -> Result<Committed<()>> {
        let org = self
            .authorize_domains(caller, org_id, Operation::DomainDelete)
            .await?;
        let domain = parse_domain(domain)?;
        let label = org_label(self, org);
        self.commit(caller, async |w| {
            let before = w.org_domain(org, &domain).await?;
            w.delete_org_domain(before.key).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::DomainDelete,
                    json!({"org": label, "domain": domain}),
                )
                .with_details(json!({"before": before.status.as_str()})),
            );
            Ok(((), vec![]))
        })
        .await
    }

    /// Re-checks every verified claim: one whose record is gone (or no longer carries the
    /// token) is suspended, audited, and its organization's administrators are mailed. A
    /// look-up that fails otherwise (timeout, server failure) leaves the claim as it is.
    pub async fn recheck_domains(&self) -> Result<RecheckReport> {
        let mut report = RecheckReport::default();
        let nameserver = self.config().dns_nameserver;
        for record in self.store().verified_domains().await? {
            report.checked += 1;
            match look_up(nameserver, &record).await {
                Ok(Challenge::Found) => {}
                Ok(lost) => {
                    self.suspend_domain(&record, &lost).await?;
                    report.suspended.push(record.domain.clone());
                }
                Err(why) => {
                    tracing::warn!(domain = %record.domain, error = %why, "domain re-check look-up failed");
                    report.unresolved.push(record.domain.clone());
                }
            }
        }
        Ok(report)
    }

    async fn suspend_domain(&self, record: &DomainRecord, lost: &Challenge) -> Result<()> {
        let org = record.org;
        let label = org_label(self, org);
        let domain = record.domain.clone();
        let security_page = format!(
            "{}/a/{label}/security",
            self.config().public_url.trim_end_matches('/')
        );
        // One message per administrator, rendered and queued like every other mail.
        let mails: Vec<Mail> = self
            .store()
            .members(org, None, 1_000)
            .await?
            .into_iter()
            .filter(|m| m.role == OrgRole::Admin)
            .map(|admin| {
                Mail::new(&admin.email, "A verified domain was suspended", &admin.id)
                    .say(format!(
                        "The TXT record `{CHALLENGE_LABEL}.{domain}` that proves organization \
                         `{label}` controls `{domain}` is no longer found, so the claim is \
                         suspended: the organization's identity providers no longer sign in \
                         accounts of this domain, and the sessions they gave them have ended."
                    ))
                    .say(format!(
                        "Publish `{CHALLENGE_PREFIX}{}` there again and verify the domain to \
                         restore it.",
                        record.token
                    ))
                    .link("Open the Security page", security_page.clone())
            })
            .collect();
        let why = match lost {
            Challenge::Missing => "record_not_found",
            _ => "record_mismatch",
        };
        let key = record.key;
        let result = self
            .commit(&Caller::system(), async |w| {
                let before = w.org_domain(org, &domain).await?;
                if before.key != key || before.status != DomainStatus::Verified {
                    return Ok(((), vec![]));
                }
                w.set_org_domain_status(key, DomainStatus::Suspended)
                    .await?;
                // What the organization's IdP signed in on the strength of this domain ends now.
                let revoked = w.revoke_domain_vouched_credentials(org, &domain).await?;
                let mut messages = Vec::new();
                for mail in &mails {
                    messages.push(mail.queue(w).await?);
                }
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::DomainSuspend,
                        json!({"org": label, "domain": domain}),
                    )
                    .with_details(json!({
                        "reason": why,
                        "outbox_messages": messages,
                        "revoked_credentials": revoked.len(),
                    })),
                );
                Ok((
                    (),
                    revoked
                        .into_iter()
                        .map(|hash| Change::CredentialRevoked { hash })
                        .collect(),
                ))
            })
            .await;
        match result {
            Ok(_) | Err(ServiceError::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
