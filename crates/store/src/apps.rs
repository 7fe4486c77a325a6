//! Apps, owned by an organization or by a user's personal account. Deleting an app cascades
//! (by foreign key) to its team links, collaborators and app keys.

use portcullis_core::index::Account;
use portcullis_core::{AccountId, AppKey, Timestamp, Visibility};

use crate::error::conflict_as;
use crate::rows::{app_key, id_of, org_key, user_key, visibility};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone)]
pub struct NewApp {
    pub owner: Account,
    pub id: AccountId,
    pub name: String,
    pub description: String,
    pub notes: String,
    pub visibility: Visibility,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppRecord {
    pub key: AppKey,
    pub owner: Account,
    /// The owning account's id.
    pub owner_id: String,
    pub id: String,
    pub name: String,
    pub description: String,
    pub notes: String,
    pub visibility: Visibility,
    pub base_workflow: Option<String>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// What an app update changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct AppChanges {
    pub id: Option<AccountId>,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub visibility: Option<Visibility>,
    /// `Some(None)` clears the base workflow.
    pub base_workflow: Option<Option<AccountId>>,
}

type AppRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
);

const APP_COLUMNS: &str = "p.id, p.owner_id, a.kind, a.handle, p.handle, p.name, p.description, p.notes, \
                           p.visibility, p.base_workflow, p.created_at, p.modified_at";
const APP_FROM: &str = "apps p JOIN accounts a ON a.id = p.owner_id";

fn app_from_row(row: AppRow) -> Result<AppRecord> {
    let (
        id,
        owner,
        kind,
        owner_id,
        handle,
        name,
        description,
        notes,
        vis,
        base_workflow,
        created_at,
        modified_at,
    ) = row;
    let owner = match kind.as_str() {
        "org" => Account::Org(org_key(owner)?),
        "user" => Account::User(user_key(owner)?),
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown account kind `{other}`"
            )));
        }
    };
    Ok(AppRecord {
        key: app_key(id)?,
        owner,
        owner_id,
        id: handle,
        name,
        description,
        notes,
        visibility: visibility(&vis)?,
        base_workflow,
        created_at,
        modified_at,
    })
}

fn account_row_id(account: Account) -> i64 {
    match account {
        Account::Org(o) => id_of(o.0),
        Account::User(u) => id_of(u.0),
    }
}

impl Store {
    pub async fn app(&self, app: AppKey) -> Result<Option<AppRecord>> {
        let row: Option<AppRow> = sqlx::query_as(&format!(
            "SELECT {APP_COLUMNS} FROM {APP_FROM} WHERE p.id = $1"
        ))
        .bind(id_of(app.0))
        .fetch_optional(&self.pool)
        .await?;
        row.map(app_from_row).transpose()
    }

    /// Up to `limit` apps of `owner` in id order, starting after the (lower-case) id `after`.
    pub async fn apps_of_account(
        &self,
        owner: Account,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AppRecord>> {
        let rows: Vec<AppRow> = sqlx::query_as(&format!(
            "SELECT {APP_COLUMNS} FROM {APP_FROM} WHERE p.owner_id = $1 AND p.handle_key > $2 \
             ORDER BY p.handle_key LIMIT $3"
        ))
        .bind(account_row_id(owner))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(app_from_row).collect()
    }
}

impl Write {
    pub async fn create_app(&mut self, new: &NewApp) -> Result<AppKey> {
        let now = self.now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO apps (owner_id, handle, handle_key, name, description, notes, visibility, base_workflow, \
             created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8) RETURNING id",
        )
        .bind(account_row_id(new.owner))
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(&new.name)
        .bind(&new.description)
        .bind(&new.notes)
        .bind(new.visibility.as_str())
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("app"))?;
        app_key(id)
    }

    /// The app as this transaction sees it.
    pub async fn app(&mut self, app: AppKey) -> Result<AppRecord> {
        let row: Option<AppRow> = sqlx::query_as(&format!(
            "SELECT {APP_COLUMNS} FROM {APP_FROM} WHERE p.id = $1"
        ))
        .bind(id_of(app.0))
        .fetch_optional(self.conn())
        .await?;
        row.map(app_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("app"))
    }

    /// Applies `changes`; returns the app before and after. The row id stays, so team links,
    /// collaborators and app keys follow a renamed app.
    pub async fn update_app(
        &mut self,
        app: AppKey,
        changes: &AppChanges,
    ) -> Result<(AppRecord, AppRecord)> {
        let before = self.app(app).await?;
        let now = self.now();
        let base_workflow = match &changes.base_workflow {
            Some(value) => value.as_ref().map(|w| w.as_str().to_owned()),
            None => before.base_workflow.clone(),
        };
        sqlx::query(
            "UPDATE apps SET handle = COALESCE($1, handle), handle_key = COALESCE($2, handle_key), \
             description = COALESCE($3, description), notes = COALESCE($4, notes), \
             visibility = COALESCE($5, visibility), base_workflow = $6, modified_at = $7 WHERE id = $8",
        )
        .bind(changes.id.as_ref().map(AccountId::as_str))
        .bind(changes.id.as_ref().map(AccountId::key))
        .bind(changes.description.as_deref())
        .bind(changes.notes.as_deref())
        .bind(changes.visibility.map(Visibility::as_str))
        .bind(base_workflow)
        .bind(now)
        .bind(id_of(app.0))
        .execute(self.conn())
        .await
        .map_err(conflict_as("app"))?;
        let after = self.app(app).await?;
        Ok((before, after))
    }

    /// Deletes the app; team links, collaborators and app keys go with it.
    pub async fn delete_app(&mut self, app: AppKey) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(id_of(app.0))
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("app"));
        }
        Ok(())
    }
}
