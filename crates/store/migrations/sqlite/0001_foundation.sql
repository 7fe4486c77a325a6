-- Portcullis foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql:
-- same tables, columns and constraints; only the dialect differs.
-- Flags are stored as 0/1 integers in both stores (sqlx's Any driver does not map booleans).

CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (name, value) VALUES ('revision', 0);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);

CREATE TABLE users (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    password_hash TEXT,
    state TEXT NOT NULL CHECK (state IN ('active', 'suspended')),
    is_operator BIGINT NOT NULL DEFAULT 0 CHECK (is_operator IN (0, 1))
);

CREATE TABLE orgs (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    billing_email TEXT NOT NULL
);

CREATE TABLE memberships (
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    role TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'cancelled', 'expired')),
    invited_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (org_id, email_key) WHERE state = 'pending';
CREATE INDEX invitations_by_email ON invitations (email_key);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    name TEXT NOT NULL,
    default_role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (org_id, handle_key)
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

CREATE TABLE apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    notes TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'org', 'public')),
    base_workflow TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (owner_id, handle_key)
);

CREATE TABLE team_apps (
    team_id BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, app_id)
);
CREATE INDEX team_apps_by_app ON team_apps (app_id);

CREATE TABLE collaborators (
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'pat', 'app_key', 'service_key')),
    token_hash TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    scopes TEXT NOT NULL,
    org_id BIGINT REFERENCES orgs (account_id) ON DELETE CASCADE,
    app_id BIGINT REFERENCES apps (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX credentials_by_user ON credentials (user_id);

-- No foreign keys: the record outlives what it describes.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT,
    at BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    operation BIGINT NOT NULL,
    actor_user_id BIGINT,
    actor_credential_id BIGINT,
    actor_credential_kind TEXT,
    targets TEXT NOT NULL,
    details TEXT NOT NULL,
    success BIGINT NOT NULL CHECK (success IN (0, 1)),
    request_id TEXT,
    source_ip TEXT,
    user_agent TEXT,
    -- The hash chain (crates/core/src/audit_chain.rs): `platform` or `org:<org row id>`, the
    -- entry's contiguous number in it, its predecessor's hash and its own.
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX audit_log_by_org ON audit_log (org_id, id);
CREATE INDEX audit_log_by_chain ON audit_log (chain, id);
CREATE INDEX audit_log_by_time ON audit_log (at);

-- The last entry of each chain. Appending updates this row first, so its row lock serialises
-- appends per chain, and a removed tail of the log is detected against it.
CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- Retention: each pruning of a chain, with the last pruned entry, so the rest still verifies.
CREATE TABLE audit_prunes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chain TEXT NOT NULL,
    through_seq BIGINT NOT NULL,
    through_hash TEXT NOT NULL,
    pruned_at BIGINT NOT NULL,
    removed BIGINT NOT NULL
);
CREATE INDEX audit_prunes_by_chain ON audit_prunes (chain, through_seq);
