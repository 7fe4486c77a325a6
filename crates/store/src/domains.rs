//! Email domains organizations claim, each with its DNS TXT challenge and its state. A domain
//! is verified by one organization at most (a partial unique index enforces it).

use portcullis_core::{OrgKey, Timestamp, UserKey};

use crate::credentials::{CREDENTIAL_COLUMNS, CredentialRow, credential_from_row};
use crate::error::conflict_as;
use crate::rows::{id_of, org_key};
use crate::{Result, Store, StoreError, Write};

/// Where an organization's claim on a domain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainStatus {
    /// The challenge was issued and never verified.
    Pending,
    Verified,
    /// A re-check no longer found the record: the claim grants nothing until verified again.
    Suspended,
}

impl DomainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Pending => "pending",
            DomainStatus::Verified => "verified",
            DomainStatus::Suspended => "suspended",
        }
    }

    fn parse(raw: &str) -> Result<Self> {
        match raw {
            "pending" => Ok(DomainStatus::Pending),
            "verified" => Ok(DomainStatus::Verified),
            "suspended" => Ok(DomainStatus::Suspended),
            other => Err(StoreError::Corrupt(format!("domain status `{other}`"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DomainRecord {
    pub key: i64,
    pub org: OrgKey,
    /// Canonical: UTS-46 ASCII, lower case.
    pub domain: String,
    /// The challenge token the TXT record must carry.
    pub token: String,
    pub status: DomainStatus,
    pub verified_at: Option<Timestamp>,
    pub checked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
);

const COLUMNS: &str = "id, org_id, domain, token, status, verified_at, checked_at, created_at";

fn from_row(row: Row) -> Result<DomainRecord> {
    let (key, org, domain, token, status, verified_at, checked_at, created_at) = row;
    Ok(DomainRecord {
        key,
        org: org_key(org)?,
        domain,
        token,
        status: DomainStatus::parse(&status)?,
        verified_at,
        checked_at,
        created_at,
    })
}

/// The domain of a canonical email key (already UTS-46 ASCII, lower case).
fn email_domain(key: &str) -> Option<&str> {
    key.rsplit_once('@').map(|(_, domain)| domain)
}

impl Store {
    /// The domains an organization claims, by name.
    pub async fn org_domains(&self, org: OrgKey) -> Result<Vec<DomainRecord>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM org_domains WHERE org_id = $1 ORDER BY domain"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn org_domain(&self, org: OrgKey, domain: &str) -> Result<Option<DomainRecord>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM org_domains WHERE org_id = $1 AND domain = $2"
        ))
        .bind(id_of(org.0))
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        row.map(from_row).transpose()
    }

    /// Every verified claim, of every organization (the periodic re-check).
    pub async fn verified_domains(&self) -> Result<Vec<DomainRecord>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM org_domains WHERE status = 'verified' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// The organization whose verified claim covers the domain of `user`'s *verified* email
    /// address, if any (an unverified address counts for nothing).
    pub async fn verified_domain_org_of(&self, user: UserKey) -> Result<Option<OrgKey>> {
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT email_key, email_verified_at FROM users WHERE account_id = $1")
                .bind(id_of(user.0))
                .fetch_optional(&self.pool)
                .await?;
        match row.as_ref().and_then(|(key, at)| at.and(email_domain(key))) {
            Some(domain) => self.domain_verified_by(domain).await,
            None => Ok(None),
        }
    }

    /// The organization whose verified claim covers `domain`, if any.
    pub async fn domain_verified_by(&self, domain: &str) -> Result<Option<OrgKey>> {
        let org: Option<i64> = sqlx::query_scalar(
            "SELECT org_id FROM org_domains WHERE domain = $1 AND status = 'verified'",
        )
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        org.map(org_key).transpose()
    }
}

impl Write {
    pub async fn add_org_domain(
        &mut self,
        org: OrgKey,
        domain: &str,
        token: &str,
    ) -> Result<DomainRecord> {
        let now = self.now();
        let row: Row = sqlx::query_as(&format!(
            "INSERT INTO org_domains (org_id, domain, token, status, created_at) \
             VALUES ($1, $2, $3, 'pending', $4) RETURNING {COLUMNS}"
        ))
        .bind(id_of(org.0))
        .bind(domain)
        .bind(token)
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("domain"))?;
        from_row(row)
    }

    /// The claim as this transaction sees it.
    pub async fn org_domain(&mut self, org: OrgKey, domain: &str) -> Result<DomainRecord> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM org_domains WHERE org_id = $1 AND domain = $2"
        ))
        .bind(id_of(org.0))
        .bind(domain)
        .fetch_optional(self.conn())
        .await?;
        row.map(from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("domain"))
    }

    /// Sets the claim's status (and `verified_at` when it becomes verified). A second
    /// organization's verification of the same domain is a `Conflict("verified domain")`.
    pub async fn set_org_domain_status(
        &mut self,
        key: i64,
        status: DomainStatus,
    ) -> Result<DomainRecord> {
        let now = self.now();
        let row: Option<Row> = sqlx::query_as(&format!(
            "UPDATE org_domains SET status = $1, checked_at = $2, \
             verified_at = CASE WHEN $1 = 'verified' THEN $2 ELSE verified_at END \
             WHERE id = $3 RETURNING {COLUMNS}"
        ))
        .bind(status.as_str())
        .bind(now)
        .bind(key)
        .fetch_optional(self.conn())
        .await
        .map_err(conflict_as("verified domain"))?;
        row.map(from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("domain"))
    }

    /// The organization whose verified claim covers `domain`, as this transaction sees it.
    pub async fn domain_verified_by(&mut self, domain: &str) -> Result<Option<OrgKey>> {
        let org: Option<i64> = sqlx::query_scalar(
            "SELECT org_id FROM org_domains WHERE domain = $1 AND status = 'verified'",
        )
        .bind(domain)
        .fetch_optional(self.conn())
        .await?;
        org.map(org_key).transpose()
    }

    /// [`Store::verified_domain_org_of`] as this transaction sees it.
    pub async fn verified_domain_org_of(&mut self, user: UserKey) -> Result<Option<OrgKey>> {
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT email_key, email_verified_at FROM users WHERE account_id = $1")
                .bind(id_of(user.0))
                .fetch_optional(self.conn())
                .await?;
        match row.as_ref().and_then(|(key, at)| at.and(email_domain(key))) {
            Some(domain) => self.domain_verified_by(domain).await,
            None => Ok(None),
        }
    }

    /// Revokes the live credentials bound to `org` (its SSO sessions and the tokens they
    /// created) of accounts the organization does not manage whose address is in `domain`:
    /// what its identity provider vouched for on the strength of that domain. Returns their
    /// token hashes.
    pub async fn revoke_domain_vouched_credentials(
        &mut self,
        org: OrgKey,
        domain: &str,
    ) -> Result<Vec<[u8; 32]>> {
        let now = self.now();
        let rows: Vec<CredentialRow> = sqlx::query_as(&format!(
            "UPDATE credentials SET revoked_at = $1 WHERE revoked_at IS NULL AND org_id = $2 \
             AND user_id IN (SELECT account_id FROM users WHERE \
             (managed_by IS NULL OR managed_by <> $2) AND email_key LIKE $3) \
             RETURNING {CREDENTIAL_COLUMNS}"
        ))
        .bind(now)
        .bind(id_of(org.0))
        // Canonical domains hold no LIKE wildcards (letters, digits, hyphens and dots only).
        .bind(format!("%@{domain}"))
        .fetch_all(self.conn())
        .await?;
        rows.into_iter()
            .map(|row| credential_from_row(row).map(|c| c.token_hash))
            .collect()
    }

    pub async fn delete_org_domain(&mut self, key: i64) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM org_domains WHERE id = $1")
            .bind(key)
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("domain"));
        }
        Ok(())
    }
}
