//! Organizations: accounts whose members hold roles. The creator becomes the first admin.

use portcullis_core::{AccountId, Email, OrgKey, OrgRole, Timestamp, UserKey};

use crate::error::conflict_as;
use crate::rows::{id_of, org_key, org_role};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone)]
pub struct NewOrg {
    pub id: AccountId,
    pub name: String,
    pub billing_email: Email,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrgRecord {
    pub key: OrgKey,
    pub id: String,
    pub name: String,
    pub billing_email: String,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

type OrgRow = (i64, String, String, String, i64, i64);

const ORG_COLUMNS: &str = "a.id, a.handle, o.name, o.billing_email, a.created_at, a.modified_at";

fn org_from_row(
    (id, handle, name, billing_email, created_at, modified_at): OrgRow,
) -> Result<OrgRecord> {
    Ok(OrgRecord {
        key: org_key(id)?,
        id: handle,
        name,
        billing_email,
        created_at,
        modified_at,
    })
}

impl Store {
    pub async fn org(&self, key: OrgKey) -> Result<Option<OrgRecord>> {
        let row: Option<OrgRow> = sqlx::query_as(&format!(
            "SELECT {ORG_COLUMNS} FROM orgs o JOIN accounts a ON a.id = o.account_id WHERE a.id = $1"
        ))
        .bind(id_of(key.0))
        .fetch_optional(&self.pool)
        .await?;
        row.map(org_from_row).transpose()
    }

    /// The organizations a user belongs to, with its role in each, by org id.
    pub async fn orgs_of_user(&self, user: UserKey) -> Result<Vec<(OrgRecord, OrgRole)>> {
        let rows: Vec<(i64, String, String, String, i64, i64, String)> = sqlx::query_as(&format!(
            "SELECT {ORG_COLUMNS}, m.role FROM memberships m \
             JOIN orgs o ON o.account_id = m.org_id JOIN accounts a ON a.id = o.account_id \
             WHERE m.user_id = $1 ORDER BY a.handle_key"
        ))
        .bind(id_of(user.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(a, b, c, d, e, f, role)| {
                Ok((org_from_row((a, b, c, d, e, f))?, org_role(&role)?))
            })
            .collect()
    }
}

impl Write {
    /// Creates the organization and makes `creator` its first administrator.
    pub async fn create_org(&mut self, new: &NewOrg, creator: UserKey) -> Result<OrgKey> {
        let now = self.now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (handle, handle_key, kind, created_at, modified_at) \
             VALUES ($1, $2, 'org', $3, $3) RETURNING id",
        )
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("account id"))?;
        sqlx::query("INSERT INTO orgs (account_id, name, billing_email) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&new.name)
            .bind(new.billing_email.as_str())
            .execute(self.conn())
            .await?;
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'admin', $3)")
            .bind(id)
            .bind(id_of(creator.0))
            .bind(now)
            .execute(self.conn())
            .await?;
        org_key(id)
    }

    /// Changes the name and/or billing email; returns the record before and after.
    pub async fn update_org(
        &mut self,
        org: OrgKey,
        name: Option<&str>,
        billing_email: Option<&Email>,
    ) -> Result<(OrgRecord, OrgRecord)> {
        let before = self.org(org).await?;
        let now = self.now();
        sqlx::query(
            "UPDATE orgs SET name = COALESCE($1, name), billing_email = COALESCE($2, billing_email) \
             WHERE account_id = $3",
        )
        .bind(name)
        .bind(billing_email.map(Email::as_str))
        .bind(id_of(org.0))
        .execute(self.conn())
        .await?;
        sqlx::query("UPDATE accounts SET modified_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id_of(org.0))
            .execute(self.conn())
            .await?;
        let after = self.org(org).await?;
        Ok((before, after))
    }

    /// Deletes the organization and, by cascade, its memberships, teams, apps, invitations and
    /// org-bound credentials. Its audit entries stay.
    pub async fn delete_org(&mut self, org: OrgKey) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM accounts WHERE id = $1 AND kind = 'org'")
            .bind(id_of(org.0))
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("organization"));
        }
        Ok(())
    }

    /// The organization as this transaction sees it.
    pub async fn org(&mut self, org: OrgKey) -> Result<OrgRecord> {
        let row: Option<OrgRow> = sqlx::query_as(&format!(
            "SELECT {ORG_COLUMNS} FROM orgs o JOIN accounts a ON a.id = o.account_id WHERE a.id = $1"
        ))
        .bind(id_of(org.0))
        .fetch_optional(self.conn())
        .await?;
        row.map(org_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("organization"))
    }

    /// How many organizations `user` belongs to (for the membership quota).
    pub async fn membership_count(&mut self, user: UserKey) -> Result<u32> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE user_id = $1")
            .bind(id_of(user.0))
            .fetch_one(self.conn())
            .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }
}
