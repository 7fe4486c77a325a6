-- Password policies, lockout and throttling, password history, one-time tokens, the outbox,
-- two-factor (SQLite). Keep in step with ../postgres/0004_password_security.sql.

-- One row per scope: 'global' or 'org:<account id>'. The policy is a JSON object.
CREATE TABLE password_policies (
    scope TEXT PRIMARY KEY,
    org_id BIGINT REFERENCES orgs (account_id) ON DELETE CASCADE,
    policy TEXT NOT NULL,
    modified_at BIGINT NOT NULL
);

-- Per-account login state: failures counted atomically, the lockout, the password's age.
-- locked_until: NULL = not locked; 9223372036854775807 = until an administrator unlocks.
CREATE TABLE login_state (
    user_id BIGINT PRIMARY KEY REFERENCES users (account_id) ON DELETE CASCADE,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    password_changed_at BIGINT
);

-- Failed logins per source IP in a fixed window.
CREATE TABLE login_throttle (
    source_ip TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);

-- Instance-wide security settings (name -> JSON value).
CREATE TABLE security_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Previous password hashes (never passwords), newest last.
CREATE TABLE password_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_history_by_user ON password_history (user_id, id);

-- Single-use expiring tokens (password reset, forced change, second login step); hash only.
CREATE TABLE one_time_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'password_change', 'second_factor', 'two_factor_enrolment')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    remember_me BIGINT NOT NULL DEFAULT 0 CHECK (remember_me IN (0, 1))
);
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id);

-- Messages waiting for delivery (read by an operator or sent by SMTP).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);

-- TOTP: the shared secret (base32), whether enrolment is confirmed, the last step used.
CREATE TABLE totp_factors (
    user_id BIGINT PRIMARY KEY REFERENCES users (account_id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_by_user ON recovery_codes (user_id);

-- Per-organization security switches beyond the password policy.
CREATE TABLE org_security (
    org_id BIGINT PRIMARY KEY REFERENCES orgs (account_id) ON DELETE CASCADE,
    require_two_factor BIGINT NOT NULL DEFAULT 0 CHECK (require_two_factor IN (0, 1))
);
