//! Service settings that shape behaviour (not where to listen or store: that is the CLI's).

/// One hour, one day, in milliseconds.
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Where a server reachable only on this machine is (the default listen address's port).
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Whether `POST /v1/signup` creates accounts.
    pub signup_enabled: bool,
    /// Session lifetime without and with "remember me" (docs/contract.md §7: 1 day, 30 days).
    pub session_ttl_ms: i64,
    pub remember_me_ttl_ms: i64,
    /// How long an invitation stays acceptable (docs/contract.md §6: 7 days).
    pub invitation_ttl_ms: i64,
    /// How many organizations one user may belong to (docs/contract.md §1: 20).
    pub max_orgs_per_user: u32,
    /// Longest a request carrying a consistency token (`at_least`, `fully_consistent`, the
    /// `portcullis-revision` header) waits for this server's index to reach the revision.
    pub consistency_wait_ms: u32,
    /// How long fetching an identity provider's metadata URL may take.
    pub metadata_fetch_timeout: std::time::Duration,
    /// The SAML service-provider key pair (validated at start-up): signs AuthnRequests of IdPs
    /// with `sign_requests`, decrypts encrypted assertions, and its certificate is published in
    /// the SP metadata. `None`: neither is available (and each is refused with its own code).
    pub saml_sp_key: Option<std::sync::Arc<portcullis_saml::SpKey>>,
    /// Where browsers and identity providers reach this server (scheme, host, optional port
    /// and path prefix, no trailing slash): SAML entity ids and ACS URLs derive from it, and so
    /// does every link the server sends out.
    pub public_url: String,
    /// The DNS server domain verification asks (`None`: the system resolver).
    pub dns_nameserver: Option<std::net::SocketAddr>,
    /// Internal hosts and networks the server may fetch from on a user's behalf (identity
    /// provider metadata); everything internal is refused by default.
    pub outbound_allow: crate::outbound::OutboundPolicy,
    /// The keys stored secrets (TOTP seeds) are sealed with: the first seals, all open. The
    /// default is one fresh key that lives as long as the process, right only for tests and
    /// commands that open no stored secret; `serve` and `init` load the configured ring.
    pub secret_keys: std::sync::Arc<crate::sealing::KeyRing>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            signup_enabled: true,
            session_ttl_ms: DAY_MS,
            remember_me_ttl_ms: 30 * DAY_MS,
            invitation_ttl_ms: 7 * DAY_MS,
            max_orgs_per_user: 20,
            consistency_wait_ms: 2_000,
            metadata_fetch_timeout: std::time::Duration::from_secs(10),
            saml_sp_key: None,
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            dns_nameserver: None,
            outbound_allow: crate::outbound::OutboundPolicy::default(),
            secret_keys: std::sync::Arc::new(crate::sealing::KeyRing::ephemeral()),
        }
    }
}
