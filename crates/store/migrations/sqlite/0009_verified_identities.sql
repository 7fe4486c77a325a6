-- Verified email addresses, the single-use links that prove them, invitation links, and the
-- delivery state of outbox messages (sqlite). Keep in step with ../postgres/0009_verified_identities.sql.

-- When the user proved owning its current address (NULL: unverified). Existing accounts start
-- unverified: the owner follows a verification link, or the operator marks them.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- Single-use links sent to an address: 'verify' proves the account's address, 'change' moves
-- the account to a new one once followed. Hash only; bound to the address they were sent to.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'change')),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose, created_at);

-- The secret of the link an invitation mail carries (hash only; NULL for older invitations).
ALTER TABLE invitations ADD COLUMN token_hash TEXT;
CREATE UNIQUE INDEX invitations_by_token ON invitations (token_hash);

-- Delivery: an HTML alternative, attempts with backoff, a lease while a worker sends it, and
-- the final failure with its last error.
ALTER TABLE outbox ADD COLUMN html_body TEXT;
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
ALTER TABLE outbox ADD COLUMN failed_at BIGINT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;
