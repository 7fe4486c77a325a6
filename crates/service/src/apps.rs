//! Apps of an account (an organization or a user's personal account): create, list, read,
//! edit and delete.
//!
//! An app the caller may not view is answered with `not_found`, never `forbidden`, so private
//! apps do not reveal that they exist. Each field of an edit is gated by its own permission and
//! the edit is all or nothing: one missing permission refuses the whole request.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::{Account, ItemKind};
use portcullis_core::{AccountId, Change, Permission, Visibility};
use portcullis_store::{AppChanges, AppRecord, AuditRecord, NewApp, StoreError};
use serde_json::{Map, Value, json};

use crate::authentication::{check_name, parse_id};
use crate::input::{check_text, description, parse_visibility};
use crate::members::{MAX_PAGE_SIZE, page_size};
use crate::orgs::non_empty;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

pub const MAX_APP_NAME_CHARS: usize = 200;
pub const MAX_APP_DESCRIPTION_CHARS: usize = 2000;
/// Notes are free text (markdown) up to 64 KiB.
pub const MAX_APP_NOTES_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct AppInput {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub visibility: Option<String>,
}

/// An edit; `None` leaves a field as it is. `base_workflow: Some(None)` clears it.
#[derive(Debug, Default)]
pub struct AppPatch {
    pub id: Option<String>,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub visibility: Option<String>,
    pub base_workflow: Option<Option<String>>,
}

impl AppPatch {
    fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.description.is_none()
            && self.notes.is_none()
            && self.visibility.is_none()
            && self.base_workflow.is_none()
    }

    /// The permission each present field needs, in a fixed order.
    fn required_permissions(&self) -> impl Iterator<Item = Permission> {
        [
            (self.id.is_some(), Permission::AppEditId),
            (self.description.is_some(), Permission::AppEditDescription),
            (self.notes.is_some(), Permission::AppEditNotes),
            (self.visibility.is_some(), Permission::AppChangeVisibility),
            (self.base_workflow.is_some(), Permission::BaseWorkflowEdit),
        ]
        .into_iter()
        .filter_map(|(present, permission)| present.then_some(permission))
    }
}

/// One page of apps; `next_cursor` continues after the last one.
#[derive(Debug, Clone)]
pub struct AppPage {
    pub apps: Vec<AppRecord>,
    pub next_cursor: Option<String>,
}

impl Portcullis {
    pub async fn create_app(
        &self,
        caller: &Caller,
        account: &str,
        input: AppInput,
    ) -> Result<Committed<AppRecord>> {
        let owner = self.resolve_account(account)?;
        self.authorize_mutation(
            Operation::AppCreate,
            caller,
            Permission::AppsCreate,
            Resource::Account(owner),
            "account",
        )
        .await?;
        let new = NewApp {
            owner,
            id: parse_id("id", &input.id)?,
            name: non_empty("name", check_name("name", &input.name, MAX_APP_NAME_CHARS)?)?,
            description: input
                .description
                .as_deref()
                .map(|raw| description(raw, MAX_APP_DESCRIPTION_CHARS))
                .transpose()?
                .unwrap_or_default(),
            notes: input
                .notes
                .as_deref()
                .map(app_notes)
                .transpose()?
                .unwrap_or_default(),
            visibility: input
                .visibility
                .as_deref()
                .map(parse_visibility)
                .transpose()?
                .unwrap_or(Visibility::Private),
        };
        let owner_id = self
            .with_index(|index| index.account_id(owner).map(str::to_owned))
            .unwrap_or_default();
        let now = self.now();
        self.commit(caller, async |w| {
            let key = w.create_app(&new).await?;
            w.audit(
                AuditRecord::new(
                    owner.org(),
                    Operation::AppCreate,
                    json!({"account": owner_id, "app": new.id.as_str()}),
                )
                .with_details(json!({
                    "name": new.name,
                    "description": new.description,
                    "visibility": new.visibility.as_str(),
                })),
            );
            let record = AppRecord {
                key,
                owner,
                owner_id: owner_id.clone(),
                id: new.id.as_str().to_owned(),
                name: new.name.clone(),
                description: new.description.clone(),
                notes: new.notes.clone(),
                visibility: new.visibility,
                base_workflow: None,
                created_at: now,
                modified_at: now,
            };
            let change = Change::AppUpserted {
                key,
                owner,
                id: record.id.clone(),
                visibility: record.visibility,
            };
            Ok((record, vec![change]))
        })
        .await
    }

    /// The apps of `account` that the caller may view, in id order, `limit` at a time.
    /// Anonymous callers see public apps only.
    pub async fn list_apps(
        &self,
        caller: &Caller,
        account: &str,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<AppPage> {
        let owner = self.resolve_account(account)?;
        if let Account::Org(org) = owner {
            self.require_sso(caller, org)?;
        }
        let limit = page_size(limit)?;
        let mut after = match cursor {
            Some(raw) => Some(AccountId::parse(raw).map_err(|_| invalid_cursor())?.key()),
            None => None,
        };
        // Scan in id order, keeping what the caller may view, until one more than a page is
        // found (so we know whether a next page exists) or the account has no more apps.
        let wanted = limit as usize + 1;
        let mut apps = Vec::with_capacity(wanted);
        loop {
            let batch = self
                .store()
                .apps_of_account(owner, after.as_deref(), MAX_PAGE_SIZE)
                .await?;
            let exhausted = batch.len() < MAX_PAGE_SIZE as usize;
            for app in batch {
                after = Some(app.id.to_ascii_lowercase());
                if self
                    .decide(caller, Permission::AppView, Resource::App(app.key))
                    .allowed
                {
                    apps.push(app);
                    if apps.len() == wanted {
                        break;
                    }
                }
            }
            if exhausted || apps.len() == wanted {
                break;
            }
        }
        let next_cursor = if apps.len() > limit as usize {
            apps.truncate(limit as usize);
            apps.last().map(|a| a.id.to_ascii_lowercase())
        } else {
            None
        };
        Ok(AppPage { apps, next_cursor })
    }

    /// One app, for callers with `app.view` on it (others get `not_found`).
    pub async fn get_app(&self, caller: &Caller, account: &str, app: &str) -> Result<AppRecord> {
        let (_, key) = self.resolve_app(account, app)?;
        self.authorize(caller, Permission::AppView, Resource::App(key), "app")?;
        self.store()
            .app(key)
            .await?
            .ok_or(ServiceError::NotFound("app"))
    }

    /// Edits an app. Every present field is checked against its own permission first; the
    /// first one missing refuses the whole edit and nothing changes.
    pub async fn update_app(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        patch: AppPatch,
    ) -> Result<Committed<AppRecord>> {
        let (owner, key) = self.resolve_app(account, app)?;
        let resource = Resource::App(key);
        if patch.is_empty() {
            self.authorize(caller, Permission::AppView, resource, "app")?;
            return Err(ServiceError::invalid(
                "field.required",
                "id",
                "give at least one of `id`, `description`, `notes`, `visibility`, `base_workflow`",
            ));
        }
        for permission in patch.required_permissions() {
            self.authorize_mutation(Operation::AppUpdate, caller, permission, resource, "app")
                .await?;
        }
        let changes = AppChanges {
            id: patch
                .id
                .as_deref()
                .map(|id| parse_id("id", id))
                .transpose()?,
            description: patch
                .description
                .as_deref()
                .map(|raw| description(raw, MAX_APP_DESCRIPTION_CHARS))
                .transpose()?,
            notes: patch.notes.as_deref().map(app_notes).transpose()?,
            visibility: patch
                .visibility
                .as_deref()
                .map(parse_visibility)
                .transpose()?,
            base_workflow: patch
                .base_workflow
                .as_ref()
                .map(|w| {
                    w.as_deref()
                        .map(|w| parse_id("base_workflow", w))
                        .transpose()
                })
                .transpose()?,
        };
        self.commit(caller, async |w| {
            // The base workflow must be one of the app's workflows (checked in the write, so a
            // concurrent delete cannot slip in between), stored with the workflow's own casing.
            let mut changes = changes.clone();
            if let Some(Some(workflow)) = &changes.base_workflow {
                let found = w
                    .item(key, ItemKind::Workflow, workflow.as_str())
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound(_) => ServiceError::invalid(
                            "app.unknown_workflow",
                            "base_workflow",
                            format!("the app has no workflow `{}`", workflow.as_str()),
                        ),
                        other => other.into(),
                    })?;
                changes.base_workflow = Some(Some(parse_id("base_workflow", &found.id)?));
            }
            let (before, after) = w.update_app(key, &changes).await?;
            let (was, now) = changed_fields(&before, &after);
            if !was.is_empty() {
                w.audit(
                    AuditRecord::new(
                        owner.org(),
                        Operation::AppUpdate,
                        json!({"account": after.owner_id, "app": after.id}),
                    )
                    .with_details(json!({"before": was, "after": now})),
                );
            }
            let change = Change::AppUpserted {
                key,
                owner,
                id: after.id.clone(),
                visibility: after.visibility,
            };
            Ok((after, vec![change]))
        })
        .await
    }

    /// Deletes an app with its team links, collaborators and app keys.
    pub async fn delete_app(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
    ) -> Result<Committed<()>> {
        let (owner, key) = self.resolve_app(account, app)?;
        self.authorize_mutation(
            Operation::AppDelete,
            caller,
            Permission::AppDelete,
            Resource::App(key),
            "app",
        )
        .await?;
        self.commit(caller, async |w| {
            let record = w.app(key).await?;
            w.delete_app(key).await?;
            w.audit(AuditRecord::new(
                owner.org(),
                Operation::AppDelete,
                json!({"account": record.owner_id, "app": record.id}),
            ));
            Ok(((), vec![Change::AppDeleted { key }]))
        })
        .await
    }
}

fn invalid_cursor() -> ServiceError {
    ServiceError::invalid(
        "pagination.invalid_cursor",
        "cursor",
        "`cursor` is not a cursor this list returned",
    )
}

fn app_notes(raw: &str) -> Result<String> {
    if raw.len() > MAX_APP_NOTES_BYTES {
        return Err(ServiceError::invalid(
            "field.too_long",
            "notes",
            format!("`notes` must be at most {MAX_APP_NOTES_BYTES} bytes"),
        ));
    }
    check_text("notes", raw)?;
    Ok(raw.to_owned())
}

/// The fields that differ between `before` and `after`, as two JSON objects.
fn changed_fields(
    before: &AppRecord,
    after: &AppRecord,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut was = Map::new();
    let mut now = Map::new();
    let mut diff = |name: &str, old: Value, new: Value| {
        if old != new {
            was.insert(name.to_owned(), old);
            now.insert(name.to_owned(), new);
        }
    };
    diff("id", json!(before.id), json!(after.id));
    diff(
        "description",
        json!(before.description),
        json!(after.description),
    );
    diff("notes", json!(before.notes), json!(after.notes));
    diff(
        "visibility",
        json!(before.visibility.as_str()),
        json!(after.visibility.as_str()),
    );
    diff(
        "base_workflow",
        json!(before.base_workflow),
        json!(after.base_workflow),
    );
    (was, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_permissions_follow_the_present_fields() {
        let patch = AppPatch {
            notes: Some(String::new()),
            base_workflow: Some(None),
            ..AppPatch::default()
        };
        let required: Vec<_> = patch.required_permissions().collect();
        assert_eq!(
            required,
            [Permission::AppEditNotes, Permission::BaseWorkflowEdit]
        );
        assert!(AppPatch::default().is_empty());
    }

    #[test]
    fn text_limits() {
        assert!(
            description(
                &"d".repeat(MAX_APP_DESCRIPTION_CHARS),
                MAX_APP_DESCRIPTION_CHARS
            )
            .is_ok()
        );
        assert!(
            description(
                &"d".repeat(MAX_APP_DESCRIPTION_CHARS + 1),
                MAX_APP_DESCRIPTION_CHARS
            )
            .is_err()
        );
        assert!(app_notes(&"n".repeat(MAX_APP_NOTES_BYTES)).is_ok());
        assert!(app_notes(&"n".repeat(MAX_APP_NOTES_BYTES + 1)).is_err());
        assert!(app_notes("line\nline\ttab").is_ok());
        assert!(app_notes("nul\0").is_err());
    }
}
