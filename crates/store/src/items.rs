//! Resources inside an app: models, workflows and modules (one shape, three tables), and the
//! installation of modules into apps. Deleting an app cascades (by foreign key) to all of them.

use portcullis_core::index::ItemKind;
use portcullis_core::{AccountId, AppKey, Timestamp, UserKey, Visibility};

use crate::error::conflict_as;
use crate::rows::{app_key, id_of, visibility};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone)]
pub struct NewItem {
    pub app: AppKey,
    pub kind: ItemKind,
    pub id: AccountId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub created_by: Option<UserKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    /// Row id in the kind's table.
    pub row: i64,
    pub app: AppKey,
    pub kind: ItemKind,
    pub id: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// A module installed into an app, with where the module comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct InstalledModule {
    pub module: ItemRecord,
    /// The account owning the module's app, and that app's id.
    pub source_account: String,
    pub source_app: String,
    pub installed_at: Timestamp,
}

type ItemRow = (i64, i64, String, String, String, String, i64, i64);
/// An installation row: the module, its source account and app ids, and when it was installed.
type InstalledRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    String,
    i64,
);

const ITEM_COLUMNS: &str =
    "i.id, i.app_id, i.handle, i.name, i.description, i.visibility, i.created_at, i.modified_at";

fn table(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Model => "models",
        ItemKind::Workflow => "workflows",
        ItemKind::Module => "modules",
    }
}

fn item_from_row(kind: ItemKind, row: ItemRow) -> Result<ItemRecord> {
    let (row, app, id, name, description, vis, created_at, modified_at) = row;
    Ok(ItemRecord {
        row,
        app: app_key(app)?,
        kind,
        id,
        name,
        description,
        visibility: visibility(&vis)?,
        created_at,
        modified_at,
    })
}

fn lower(id: &str) -> String {
    id.to_ascii_lowercase()
}

impl Store {
    /// Up to `limit` items of `kind` in `app`, in id order, after the (lower-case) id `after`.
    pub async fn items_of_app(
        &self,
        app: AppKey,
        kind: ItemKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ItemRecord>> {
        let rows: Vec<ItemRow> = sqlx::query_as(&format!(
            "SELECT {ITEM_COLUMNS} FROM {} i WHERE i.app_id = $1 AND i.handle_key > $2 \
             ORDER BY i.handle_key LIMIT $3",
            table(kind)
        ))
        .bind(id_of(app.0))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|r| item_from_row(kind, r)).collect()
    }

    pub async fn item(&self, app: AppKey, kind: ItemKind, id: &str) -> Result<Option<ItemRecord>> {
        let row: Option<ItemRow> = sqlx::query_as(&format!(
            "SELECT {ITEM_COLUMNS} FROM {} i WHERE i.app_id = $1 AND i.handle_key = $2",
            table(kind)
        ))
        .bind(id_of(app.0))
        .bind(lower(id))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| item_from_row(kind, r)).transpose()
    }

    /// The modules installed into `app`, by source and module id.
    pub async fn installed_modules(&self, app: AppKey) -> Result<Vec<InstalledModule>> {
        let rows: Vec<InstalledRow> = sqlx::query_as(&format!(
            "SELECT {ITEM_COLUMNS}, a.handle, p.handle, m.created_at FROM installed_modules m \
                 JOIN modules i ON i.id = m.module_id JOIN apps p ON p.id = i.app_id \
                 JOIN accounts a ON a.id = p.owner_id WHERE m.app_id = $1 \
                 ORDER BY a.handle_key, p.handle_key, i.handle_key"
        ))
        .bind(id_of(app.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(r, a, h, n, d, v, c, m, account, source_app, at)| {
                Ok(InstalledModule {
                    module: item_from_row(ItemKind::Module, (r, a, h, n, d, v, c, m))?,
                    source_account: account,
                    source_app,
                    installed_at: at,
                })
            })
            .collect()
    }
}

impl Write {
    pub async fn create_item(&mut self, new: &NewItem) -> Result<ItemRecord> {
        let now = self.now();
        let row: ItemRow = sqlx::query_as(&format!(
            "INSERT INTO {} (app_id, handle, handle_key, name, description, visibility, created_by, \
             created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             RETURNING id, app_id, handle, name, description, visibility, created_at, modified_at",
            table(new.kind)
        ))
        .bind(id_of(new.app.0))
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(&new.name)
        .bind(&new.description)
        .bind(new.visibility.as_str())
        .bind(new.created_by.map(|u| id_of(u.0)))
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as(new.kind.as_str()))?;
        item_from_row(new.kind, row)
    }

    /// The item as this transaction sees it.
    pub async fn item(&mut self, app: AppKey, kind: ItemKind, id: &str) -> Result<ItemRecord> {
        let row: Option<ItemRow> = sqlx::query_as(&format!(
            "SELECT {ITEM_COLUMNS} FROM {} i WHERE i.app_id = $1 AND i.handle_key = $2",
            table(kind)
        ))
        .bind(id_of(app.0))
        .bind(lower(id))
        .fetch_optional(self.conn())
        .await?;
        row.map(|r| item_from_row(kind, r))
            .transpose()?
            .ok_or(StoreError::NotFound(kind.as_str()))
    }

    /// Changes an item's visibility; returns it before and after.
    pub async fn set_item_visibility(
        &mut self,
        app: AppKey,
        kind: ItemKind,
        id: &str,
        visibility: Visibility,
    ) -> Result<(ItemRecord, ItemRecord)> {
        let before = self.item(app, kind, id).await?;
        let now = self.now();
        sqlx::query(&format!(
            "UPDATE {} SET visibility = $1, modified_at = $2 WHERE id = $3",
            table(kind)
        ))
        .bind(visibility.as_str())
        .bind(now)
        .bind(before.row)
        .execute(self.conn())
        .await?;
        let after = ItemRecord {
            visibility,
            modified_at: now,
            ..before.clone()
        };
        Ok((before, after))
    }

    pub async fn delete_item(
        &mut self,
        app: AppKey,
        kind: ItemKind,
        id: &str,
    ) -> Result<ItemRecord> {
        let record = self.item(app, kind, id).await?;
        sqlx::query(&format!("DELETE FROM {} WHERE id = $1", table(kind)))
            .bind(record.row)
            .execute(self.conn())
            .await?;
        Ok(record)
    }

    /// Deletes every item of `kind` in `app`; returns the ids deleted.
    pub async fn delete_all_items(&mut self, app: AppKey, kind: ItemKind) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "DELETE FROM {} WHERE app_id = $1 RETURNING handle",
            table(kind)
        ))
        .bind(id_of(app.0))
        .fetch_all(self.conn())
        .await?;
        Ok(ids)
    }

    /// Clears the app's base workflow if it names `workflow`; returns whether it did.
    pub async fn clear_base_workflow_if(&mut self, app: AppKey, workflow: &str) -> Result<bool> {
        let now = self.now();
        let cleared = sqlx::query(
            "UPDATE apps SET base_workflow = NULL, modified_at = $1 \
             WHERE id = $2 AND LOWER(base_workflow) = $3",
        )
        .bind(now)
        .bind(id_of(app.0))
        .bind(lower(workflow))
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(cleared > 0)
    }

    /// Installs module row `module` into `app`; `false` when it already was.
    pub async fn install_module(
        &mut self,
        app: AppKey,
        module: i64,
        by: Option<UserKey>,
    ) -> Result<bool> {
        let now = self.now();
        let inserted = sqlx::query(
            "INSERT INTO installed_modules (app_id, module_id, installed_by, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, module_id) DO NOTHING",
        )
        .bind(id_of(app.0))
        .bind(module)
        .bind(by.map(|u| id_of(u.0)))
        .bind(now)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// Uninstalls module row `module` from `app`; `NotFound` when it was not installed.
    pub async fn uninstall_module(&mut self, app: AppKey, module: i64) -> Result<()> {
        let deleted =
            sqlx::query("DELETE FROM installed_modules WHERE app_id = $1 AND module_id = $2")
                .bind(id_of(app.0))
                .bind(module)
                .execute(self.conn())
                .await?
                .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("installed module"));
        }
        Ok(())
    }
}
