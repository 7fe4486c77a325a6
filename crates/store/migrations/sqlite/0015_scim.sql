-- SCIM 2.0 provisioning per organization (sqlite). Keep in step with ../postgres/0015_scim.sql.

-- An organization's SCIM bearer tokens. Only the SHA-256 of the secret is stored. A rotated
-- token keeps working until expires_at (the overlap), a revoked one not at all.
CREATE TABLE scim_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX scim_tokens_by_org ON scim_tokens (org_id);

-- A member the organization provisioned through SCIM: its SCIM userName (unique per org,
-- without regard to case), externalId, displayName, the enterprise-extension attributes it
-- keeps (JSON), and the revision of its last SCIM change (the ETag). Leaves with the membership.
CREATE TABLE scim_users (
    org_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT,
    attributes TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id),
    UNIQUE (org_id, user_name_key),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);

-- SCIM metadata of a team (a SCIM Group): its externalId and the revision of its last change.
-- Teams without a row are groups too (never provisioned through SCIM).
CREATE TABLE scim_groups (
    team_id BIGINT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    external_id TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX scim_groups_by_org ON scim_groups (org_id);

-- A membership the organization suspended (SCIM active: false); NULL while active.
ALTER TABLE memberships ADD COLUMN suspended_at BIGINT;

-- The role a member provisioned through SCIM gets.
ALTER TABLE orgs ADD COLUMN scim_default_role TEXT NOT NULL DEFAULT 'org_user';
