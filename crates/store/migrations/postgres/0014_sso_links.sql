-- Identity-provider identities an account's owner linked explicitly (postgres). Keep in step with
-- ../sqlite/0014_sso_links.sql.

-- An SP-initiated login started by a signed-in owner to link the IdP identity to their account
-- rather than to sign in: the account it is for.
ALTER TABLE saml_requests ADD COLUMN link_user BIGINT REFERENCES users (account_id) ON DELETE CASCADE;

-- When the account's owner confirmed this link by mail (NULL: provisioned or matched by the
-- organization's rules, not by the owner).
ALTER TABLE sso_accounts ADD COLUMN owner_linked_at BIGINT;

-- A link the IdP has authenticated and the owner has yet to confirm from the mail sent to the
-- account's address. Hash of the mailed secret only; usable once.
CREATE TABLE sso_link_requests (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (account_id) ON DELETE CASCADE,
    idp_id BIGINT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    name_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX sso_link_requests_by_user ON sso_link_requests (user_id, idp_id);
