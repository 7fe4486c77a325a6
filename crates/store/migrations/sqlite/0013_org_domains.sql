-- Email domains an organization claims and proves by a DNS TXT record (sqlite). Keep in step
-- with ../postgres/0013_org_domains.sql.

-- status: 'pending' (challenge issued, never verified), 'verified', or 'suspended' (a
-- periodic re-check no longer found the record). domain is the canonical (UTS-46 ASCII,
-- lower-case) name.
CREATE TABLE org_domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    verified_at BIGINT,
    checked_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, domain)
);

-- A domain is verified by one organization at most.
CREATE UNIQUE INDEX org_domains_one_verified ON org_domains (domain) WHERE status = 'verified';
