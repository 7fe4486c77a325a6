-- Which organization's identity providers may vouch for an account (sqlite). Keep in step
-- with ../postgres/0012_sso_trust.sql.

-- The organization that provisioned the account (JIT today) and therefore owns it: only its
-- identity providers sign it in. NULL for accounts people created themselves.
ALTER TABLE users ADD COLUMN managed_by BIGINT REFERENCES orgs (account_id) ON DELETE SET NULL;

-- Accounts created by JIT before this column existed: no password, never the operator, and
-- linked to an identity provider; the org of their first link provisioned them.
UPDATE users SET managed_by = (
    SELECT i.org_id FROM sso_accounts s JOIN identity_providers i ON i.id = s.idp_id
    WHERE s.user_id = users.account_id ORDER BY s.created_at, s.idp_id LIMIT 1
) WHERE password_hash IS NULL AND is_operator = 0;

-- Earlier versions linked an IdP identity to an existing account by its email address, which
-- let an organization's administrator sign in as any member. Such links, and the sessions they
-- produced, are not trusted: only links to accounts managed by the IdP's organization remain.
UPDATE credentials SET revoked_at = created_at
WHERE revoked_at IS NULL AND id IN (
    SELECT c.credential_id FROM credential_sso c JOIN identity_providers i ON i.id = c.idp_id
    JOIN credentials k ON k.id = c.credential_id JOIN users u ON u.account_id = k.user_id
    WHERE u.managed_by IS NULL OR u.managed_by <> i.org_id
);
DELETE FROM sso_accounts WHERE NOT EXISTS (
    SELECT 1 FROM identity_providers i JOIN users u ON u.managed_by = i.org_id
    WHERE i.id = sso_accounts.idp_id AND u.account_id = sso_accounts.user_id
);

-- A session from an organization's identity provider reaches that organization only.
UPDATE credentials SET org_id = (
    SELECT c.org_id FROM credential_sso c WHERE c.credential_id = credentials.id AND c.idp_id IS NOT NULL
) WHERE kind = 'session' AND org_id IS NULL AND id IN (
    SELECT credential_id FROM credential_sso WHERE idp_id IS NOT NULL
);
