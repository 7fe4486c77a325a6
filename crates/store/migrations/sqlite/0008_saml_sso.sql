-- SAML identity providers, SSO accounts, the AuthnRequest and assertion-replay caches, SSO
-- enforcement (sqlite). Keep in step with ../postgres/0008_saml_sso.sql.

-- One SAML identity provider of an organization. The JSON columns hold lists/maps
-- (certificates, attribute mapping, group -> team mapping).
CREATE TABLE identity_providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    name TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    entity_id TEXT NOT NULL,
    sso_url TEXT NOT NULL,
    certificates TEXT NOT NULL,
    name_id_format TEXT NOT NULL,
    attribute_mapping TEXT NOT NULL,
    jit_enabled BIGINT NOT NULL,
    default_role TEXT NOT NULL,
    group_teams TEXT NOT NULL,
    idp_initiated BIGINT NOT NULL,
    sign_requests BIGINT NOT NULL,
    allow_sha1 BIGINT NOT NULL,
    clock_skew_secs BIGINT NOT NULL,
    metadata_url TEXT,
    metadata_fetched_at BIGINT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (org_id, handle_key)
);

-- Accounts are keyed by (org, idp, NameID): never matched silently by email across orgs.
CREATE TABLE sso_accounts (
    idp_id BIGINT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    name_id TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, name_id)
);

-- Outstanding SP-initiated AuthnRequests (InResponseTo), each usable once.
CREATE TABLE saml_requests (
    request_id TEXT PRIMARY KEY,
    idp_id BIGINT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    relay_state TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Assertion ids already consumed, kept until they could no longer be valid anyway. Shared by
-- every server process using this database; the primary key makes consumption atomic.
CREATE TABLE saml_assertion_ids (
    idp_id BIGINT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, assertion_id)
);

-- Which organizations a credential is SSO-authorized for: an SSO session for its IdP's org,
-- a PAT after its user completed an SSO login for that org.
CREATE TABLE credential_sso (
    credential_id BIGINT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    idp_id BIGINT,
    PRIMARY KEY (credential_id, org_id)
);

-- SSO enforcement per organization; break_glass is a JSON list of user account ids.
CREATE TABLE org_sso (
    org_id BIGINT PRIMARY KEY REFERENCES orgs (account_id) ON DELETE CASCADE,
    enforced BIGINT NOT NULL,
    break_glass TEXT NOT NULL,
    modified_at BIGINT NOT NULL
);
