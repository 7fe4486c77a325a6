//! Resources inside an app: models, workflows and modules (create, list, view, change
//! visibility, delete), "delete all models", the base workflow, and module installations.
//!
//! Each item has its own visibility, capped by its app's (docs/contract.md §4): reading an item needs
//! `app.view` on it, which a role, team, collaboration or ownership grant on the app gives for
//! every item, while `org` / `public` visibility gives it only for items that are themselves at
//! least that visible. Items the caller may not read are `not_found`, never `forbidden`.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Grant, Resource};
use portcullis_core::index::{Account, ItemKind};
use portcullis_core::{AccountId, AppKey, Change, Permission, Visibility};
use portcullis_store::{AuditRecord, InstalledModule, ItemRecord, NewItem, StoreError};
use serde_json::json;

use crate::authentication::{check_name, parse_id};
use crate::input::{description, parse_visibility};
use crate::members::{MAX_PAGE_SIZE, page_size};
use crate::orgs::non_empty;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

pub const MAX_ITEM_NAME_CHARS: usize = 200;
pub const MAX_ITEM_DESCRIPTION_CHARS: usize = 2000;

#[derive(Debug, Default)]
pub struct ItemInput {
    pub id: String,
    /// Defaults to the id.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Defaults to `private`.
    pub visibility: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ItemPage {
    pub items: Vec<ItemRecord>,
    pub next_cursor: Option<String>,
}

/// Where a module comes from when it is installed: `(account, app)`; `None` = the target app.
pub type ModuleSource = Option<(String, String)>;

/// The permission that creates an item of `kind`.
fn create_permission(kind: ItemKind) -> Permission {
    match kind {
        ItemKind::Model => Permission::ModelsCreate,
        ItemKind::Workflow => Permission::WorkflowsCreate,
        ItemKind::Module => Permission::ModulesManage,
    }
}

/// The permission that deletes one item of `kind`. The matrix has no "delete one model" or
/// "delete a workflow" row: deleting one model is a part of `models.delete_all` (whoever may
/// delete them all may delete one), and a workflow is deleted by whoever may create workflows
/// (`workflows.create`), as Clarifai's workflow editors do. Modules: `modules.manage`.
fn delete_permission(kind: ItemKind) -> Permission {
    match kind {
        ItemKind::Model => Permission::ModelsDeleteAll,
        ItemKind::Workflow => Permission::WorkflowsCreate,
        ItemKind::Module => Permission::ModulesManage,
    }
}

/// The permission that lists and reads items of `kind`.
fn read_permission(kind: ItemKind) -> Permission {
    match kind {
        ItemKind::Model | ItemKind::Workflow => Permission::AppView,
        ItemKind::Module => Permission::ModulesUse,
    }
}

fn operation(kind: ItemKind, action: &str) -> Operation {
    match (kind, action) {
        (ItemKind::Model, "create") => Operation::ModelCreate,
        (ItemKind::Model, "update") => Operation::ModelUpdate,
        (ItemKind::Model, _) => Operation::ModelDelete,
        (ItemKind::Workflow, "create") => Operation::WorkflowCreate,
        (ItemKind::Workflow, "update") => Operation::WorkflowUpdate,
        (ItemKind::Workflow, _) => Operation::WorkflowDelete,
        (ItemKind::Module, "create") => Operation::ModuleCreate,
        (ItemKind::Module, "update") => Operation::ModuleUpdate,
        (ItemKind::Module, _) => Operation::ModuleDelete,
    }
}

impl Portcullis {
    /// The owner's and the app's ids, for audit targets.
    pub(crate) fn app_names(&self, owner: Account, app: AppKey) -> (String, String) {
        self.with_index(|index| {
            (
                index.account_id(owner).unwrap_or_default().to_owned(),
                index.app(app).map(|a| a.id.to_string()).unwrap_or_default(),
            )
        })
    }

    /// An item as a decision resource; `not_found` when the app has no such item, and
    /// `app not found` when the caller may not see the app at all (so a private app's items
    /// do not disclose that the app exists).
    pub(crate) fn item_resource(
        &self,
        caller: &Caller,
        app: AppKey,
        kind: ItemKind,
        id: &str,
    ) -> Result<Resource> {
        if !self.can_see(caller, Resource::App(app)) {
            return Err(ServiceError::NotFound("app"));
        }
        self.with_index(|index| index.item(app, kind, id))
            .map(|visibility| Resource::AppItem { app, visibility })
            .ok_or(ServiceError::NotFound(kind.as_str()))
    }

    /// Whether the caller holds `permission` on the app through a grant that covers every item
    /// (not only through the app's visibility).
    fn reads_every_item(&self, caller: &Caller, permission: Permission, app: AppKey) -> bool {
        let decision = self.decide(caller, permission, Resource::App(app));
        decision.allowed
            && decision
                .via
                .iter()
                .any(|g| !matches!(g, Grant::Visibility(_)))
    }

    pub async fn create_item(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        kind: ItemKind,
        input: ItemInput,
    ) -> Result<Committed<ItemRecord>> {
        let (owner, key) = self.resolve_app(account, app)?;
        self.authorize_mutation(
            operation(kind, "create"),
            caller,
            create_permission(kind),
            Resource::App(key),
            "app",
        )
        .await?;
        let id = parse_id("id", &input.id)?;
        let name = match input.name.as_deref() {
            Some(name) => non_empty("name", check_name("name", name, MAX_ITEM_NAME_CHARS)?)?,
            None => id.as_str().to_owned(),
        };
        let new = NewItem {
            app: key,
            kind,
            id,
            name,
            description: input
                .description
                .as_deref()
                .map(|raw| description(raw, MAX_ITEM_DESCRIPTION_CHARS))
                .transpose()?
                .unwrap_or_default(),
            visibility: input
                .visibility
                .as_deref()
                .map(parse_visibility)
                .transpose()?
                .unwrap_or(Visibility::Private),
            created_by: caller.user(),
        };
        let (owner_id, app_id) = self.app_names(owner, key);
        self.commit(caller, async |w| {
            // The app may have been deleted since it was resolved: a clean 404, not a FK error.
            w.app(key).await?;
            let record = w.create_item(&new).await?;
            w.audit(
                AuditRecord::new(
                    owner.org(),
                    operation(kind, "create"),
                    json!({"account": owner_id, "app": app_id, kind.as_str(): record.id}),
                )
                .with_details(json!({
                    "name": record.name,
                    "description": record.description,
                    "visibility": record.visibility.as_str(),
                })),
            );
            let change = Change::ItemUpserted {
                app: key,
                kind,
                id: record.id.clone(),
                visibility: record.visibility,
            };
            Ok((record, vec![change]))
        })
        .await
    }

    /// The items of `kind` in the app that the caller may read, in id order.
    pub async fn list_items(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        kind: ItemKind,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<ItemPage> {
        let (_, key) = self.resolve_app(account, app)?;
        let permission = read_permission(kind);
        self.authorize(caller, permission, Resource::App(key), "app")?;
        let limit = page_size(limit)?;
        let mut after = match cursor {
            Some(raw) => Some(
                AccountId::parse(raw)
                    .map_err(|_| {
                        ServiceError::invalid(
                            "pagination.invalid_cursor",
                            "cursor",
                            "`cursor` is not a cursor this list returned",
                        )
                    })?
                    .key(),
            ),
            None => None,
        };
        let every = self.reads_every_item(caller, permission, key);
        let wanted = limit as usize + 1;
        let mut items = Vec::with_capacity(wanted);
        loop {
            let batch = self
                .store()
                .items_of_app(key, kind, after.as_deref(), MAX_PAGE_SIZE)
                .await?;
            let exhausted = batch.len() < MAX_PAGE_SIZE as usize;
            for item in batch {
                after = Some(item.id.to_ascii_lowercase());
                let resource = Resource::AppItem {
                    app: key,
                    visibility: item.visibility,
                };
                if every || self.decide(caller, Permission::AppView, resource).allowed {
                    items.push(item);
                    if items.len() == wanted {
                        break;
                    }
                }
            }
            if exhausted || items.len() == wanted {
                break;
            }
        }
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|i| i.id.to_ascii_lowercase())
        } else {
            None
        };
        Ok(ItemPage { items, next_cursor })
    }

    pub async fn get_item(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        kind: ItemKind,
        id: &str,
    ) -> Result<ItemRecord> {
        let (_, key) = self.resolve_app(account, app)?;
        let resource = self.item_resource(caller, key, kind, id)?;
        self.authorize(caller, read_permission(kind), resource, kind.as_str())?;
        self.store()
            .item(key, kind, id)
            .await?
            .ok_or(ServiceError::NotFound(kind.as_str()))
    }

    /// Changes an item's visibility (`resources.change_visibility`).
    pub async fn set_item_visibility(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        kind: ItemKind,
        id: &str,
        visibility: &str,
    ) -> Result<Committed<ItemRecord>> {
        let (owner, key) = self.resolve_app(account, app)?;
        let resource = self.item_resource(caller, key, kind, id)?;
        self.authorize_mutation(
            operation(kind, "update"),
            caller,
            Permission::ResourcesChangeVisibility,
            resource,
            kind.as_str(),
        )
        .await?;
        let visibility = parse_visibility(visibility)?;
        let (owner_id, app_id) = self.app_names(owner, key);
        self.commit(caller, async |w| {
            let (before, after) = w.set_item_visibility(key, kind, id, visibility).await?;
            if before.visibility != after.visibility {
                w.audit(
                    AuditRecord::new(
                        owner.org(),
                        operation(kind, "update"),
                        json!({"account": owner_id, "app": app_id, kind.as_str(): after.id}),
                    )
                    .with_details(json!({
                        "before": {"visibility": before.visibility.as_str()},
                        "after": {"visibility": after.visibility.as_str()},
                    })),
                );
            }
            let change = Change::ItemUpserted {
                app: key,
                kind,
                id: after.id.clone(),
                visibility: after.visibility,
            };
            Ok((after, vec![change]))
        })
        .await
    }

    /// Deletes one item. Deleting the app's base workflow clears the app's base workflow.
    pub async fn delete_item(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        kind: ItemKind,
        id: &str,
    ) -> Result<Committed<()>> {
        let (owner, key) = self.resolve_app(account, app)?;
        let resource = self.item_resource(caller, key, kind, id)?;
        self.authorize_mutation(
            operation(kind, "delete"),
            caller,
            delete_permission(kind),
            resource,
            kind.as_str(),
        )
        .await?;
        let (owner_id, app_id) = self.app_names(owner, key);
        self.commit(caller, async |w| {
            let record = w.delete_item(key, kind, id).await?;
            let cleared = kind == ItemKind::Workflow && w.clear_base_workflow_if(key, id).await?;
            let mut entry = AuditRecord::new(
                owner.org(),
                operation(kind, "delete"),
                json!({"account": owner_id, "app": app_id, kind.as_str(): record.id}),
            );
            if cleared {
                entry = entry.with_details(json!({"base_workflow_cleared": true}));
            }
            w.audit(entry);
            let change = Change::ItemDeleted {
                app: key,
                kind,
                id: record.id,
            };
            Ok(((), vec![change]))
        })
        .await
    }

    /// Deletes every model of the app (`models.delete_all`); returns how many there were.
    pub async fn delete_all_models(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
    ) -> Result<Committed<usize>> {
        let (owner, key) = self.resolve_app(account, app)?;
        self.authorize_mutation(
            Operation::ModelDeleteAll,
            caller,
            Permission::ModelsDeleteAll,
            Resource::App(key),
            "app",
        )
        .await?;
        let (owner_id, app_id) = self.app_names(owner, key);
        self.commit(caller, async |w| {
            let ids = w.delete_all_items(key, ItemKind::Model).await?;
            w.audit(
                AuditRecord::new(
                    owner.org(),
                    Operation::ModelDeleteAll,
                    json!({"account": owner_id, "app": app_id}),
                )
                .with_details(json!({"models": ids})),
            );
            let count = ids.len();
            let changes = ids
                .into_iter()
                .map(|id| Change::ItemDeleted {
                    app: key,
                    kind: ItemKind::Model,
                    id,
                })
                .collect();
            Ok((count, changes))
        })
        .await
    }

    /// The app's base workflow (`base_workflow.view`).
    pub async fn base_workflow(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
    ) -> Result<Option<String>> {
        let (_, key) = self.resolve_app(account, app)?;
        self.authorize(
            caller,
            Permission::BaseWorkflowView,
            Resource::App(key),
            "app",
        )?;
        Ok(self
            .store()
            .app(key)
            .await?
            .ok_or(ServiceError::NotFound("app"))?
            .base_workflow)
    }

    /// Installs a module into an app (`modules.install` there); the caller must be able to
    /// read the module in its source app. Installing twice is not an error.
    pub async fn install_module(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        module: &str,
        source: ModuleSource,
    ) -> Result<Committed<InstalledModule>> {
        let (owner, key) = self.resolve_app(account, app)?;
        self.authorize_mutation(
            Operation::ModuleInstall,
            caller,
            Permission::ModulesInstall,
            Resource::App(key),
            "app",
        )
        .await?;
        let source_key = match &source {
            Some((src_account, src_app)) => self.resolve_app(src_account, src_app)?.1,
            None => key,
        };
        let resource = self.item_resource(caller, source_key, ItemKind::Module, module)?;
        // Authorized (not only decided), so the commit asks again: a revocation that commits
        // in between stops the installation.
        if self.decide(caller, Permission::AppView, resource).allowed {
            self.authorize(caller, Permission::AppView, resource, "module")?;
        } else if self.reads_every_item(caller, Permission::ModulesUse, source_key) {
            self.authorize(
                caller,
                Permission::ModulesUse,
                Resource::App(source_key),
                "module",
            )?;
        } else {
            return Err(ServiceError::NotFound("module"));
        }
        let (owner_id, app_id) = self.app_names(owner, key);
        let (src_owner_id, src_app_id) = self.with_index(|index| {
            let entry = index.app(source_key);
            (
                entry
                    .and_then(|a| index.account_id(a.owner))
                    .unwrap_or_default()
                    .to_owned(),
                entry.map(|a| a.id.to_string()).unwrap_or_default(),
            )
        });
        let user = caller.user();
        let now = self.now();
        self.commit(caller, async |w| {
            w.app(key).await?;
            let record = w.item(source_key, ItemKind::Module, module).await?;
            if w.install_module(key, record.row, user).await? {
                w.audit(AuditRecord::new(
                    owner.org(),
                    Operation::ModuleInstall,
                    json!({"account": owner_id, "app": app_id, "module": record.id,
                           "source_account": src_owner_id, "source_app": src_app_id}),
                ));
            }
            let installed = InstalledModule {
                module: record,
                source_account: src_owner_id.clone(),
                source_app: src_app_id.clone(),
                installed_at: now,
            };
            Ok((installed, vec![]))
        })
        .await
    }

    /// Uninstalls a module from an app (`modules.install` there).
    pub async fn uninstall_module(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        module: &str,
        source: ModuleSource,
    ) -> Result<Committed<()>> {
        let (owner, key) = self.resolve_app(account, app)?;
        self.authorize_mutation(
            Operation::ModuleUninstall,
            caller,
            Permission::ModulesInstall,
            Resource::App(key),
            "app",
        )
        .await?;
        let source_key = match &source {
            Some((src_account, src_app)) => {
                self.resolve_app(src_account, src_app)
                    .map_err(|_| ServiceError::NotFound("installed module"))?
                    .1
            }
            None => key,
        };
        let (owner_id, app_id) = self.app_names(owner, key);
        self.commit(caller, async |w| {
            let record =
                w.item(source_key, ItemKind::Module, module)
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound(_) => ServiceError::NotFound("installed module"),
                        other => other.into(),
                    })?;
            w.uninstall_module(key, record.row).await?;
            w.audit(AuditRecord::new(
                owner.org(),
                Operation::ModuleUninstall,
                json!({"account": owner_id, "app": app_id, "module": record.id}),
            ));
            Ok(((), vec![]))
        })
        .await
    }

    /// The modules installed into an app (`modules.use` there).
    pub async fn installed_modules(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
    ) -> Result<Vec<InstalledModule>> {
        let (_, key) = self.resolve_app(account, app)?;
        self.authorize(caller, Permission::ModulesUse, Resource::App(key), "app")?;
        Ok(self.store().installed_modules(key).await?)
    }
}
