//! Compute: an organization's clusters and their nodepools (`compute.manage` to change them),
//! and deployments of the organization's models onto its nodepools (`compute.deploy`, plus
//! `app.view` on the model's app).
//!
//! Reading any of them needs `compute.view`, or the thing's visibility: `org` lets every member
//! of the organization read it (with a credential that reaches the organization and carries
//! `compute.view`), `public` lets anyone read it, anonymous callers included. A nodepool is
//! never more visible than its cluster; a deployment never more than its model, the model's app
//! and every nodepool it runs on. A member who may not read gets `forbidden`; anyone else gets
//! `not_found`, so private compute does not reveal that it exists.
//!
//! Deleting a cluster deletes its nodepools, unless one of them is used by a deployment: then
//! nothing is deleted (`cluster.in_use`). A nodepool that a deployment uses cannot be deleted
//! (`nodepool.in_use`). Every such rule is checked inside the write transaction.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Resource, binding_reaches};
use portcullis_core::index::Account;
use portcullis_core::{AccountId, OrgKey, Permission, Visibility};
use portcullis_store::{
    AuditRecord, CapacityType, ClusterRecord, DeploymentChanges, DeploymentRecord, NewCluster,
    NewDeployment, NewNodepool, NodepoolChanges, NodepoolRecord,
};
use serde_json::{Map, Value, json};

use crate::authentication::parse_id;
use crate::input::{description, parse_visibility, shown};
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Cloud provider, region, cluster type and instance type names.
pub const MAX_LABEL_CHARS: usize = 64;
pub const MAX_INSTANCE_TYPES: usize = 20;
pub const MAX_INSTANCES: i64 = 1000;
pub const MAX_REPLICAS: i64 = 1000;
pub const MAX_DEPLOYMENT_NODEPOOLS: usize = 20;
pub const MAX_PRIORITY: i64 = 9;

#[derive(Debug, Default)]
pub struct ClusterInput {
    pub id: String,
    pub description: Option<String>,
    pub cloud_provider: String,
    pub region: String,
    pub cluster_type: String,
    pub visibility: Option<String>,
}

#[derive(Debug, Default)]
pub struct ClusterPatch {
    pub description: Option<String>,
    pub visibility: Option<String>,
}

#[derive(Debug, Default)]
pub struct NodepoolInput {
    pub id: String,
    pub instance_types: Vec<String>,
    pub capacity_type: String,
    pub min_instances: i64,
    pub max_instances: i64,
    pub visibility: Option<String>,
}

#[derive(Debug, Default)]
pub struct NodepoolPatch {
    pub instance_types: Option<Vec<String>>,
    pub capacity_type: Option<String>,
    pub min_instances: Option<i64>,
    pub max_instances: Option<i64>,
    pub visibility: Option<String>,
}

/// The model to deploy: `{account}/apps/{app}/models/{id}`.
#[derive(Debug, Default, Clone)]
pub struct ModelInput {
    pub account: String,
    pub app: String,
    pub id: String,
}

/// A nodepool a deployment runs on. `org`, when given, must be the deployment's organization.
#[derive(Debug, Default, Clone)]
pub struct TargetInput {
    pub org: Option<String>,
    pub cluster: String,
    pub nodepool: String,
    pub priority: i64,
}

#[derive(Debug, Default)]
pub struct DeploymentInput {
    pub id: String,
    pub model: ModelInput,
    pub nodepools: Vec<TargetInput>,
    pub min_replicas: i64,
    pub max_replicas: i64,
    pub visibility: Option<String>,
}

#[derive(Debug, Default)]
pub struct DeploymentPatch {
    pub min_replicas: Option<i64>,
    pub max_replicas: Option<i64>,
    pub nodepools: Option<Vec<TargetInput>>,
    pub visibility: Option<String>,
}

/// How a caller may read an organization's compute.
#[derive(Debug, Clone, Copy)]
struct Reader {
    /// Holds `compute.view`: reads everything.
    full: bool,
    /// A member reaching the organization with `compute.view` in scope: reads `org` things.
    member: bool,
}

impl Reader {
    fn reads(self, visibility: Visibility) -> bool {
        self.full
            || visibility == Visibility::Public
            || (visibility == Visibility::Org && self.member)
    }
}

/// The visibility a deployment actually has: capped by its model, the model's app and the
/// nodepools it runs on.
pub fn deployment_visibility(d: &DeploymentRecord) -> Visibility {
    d.targets
        .iter()
        .map(|t| t.visibility)
        .chain([d.visibility, d.model.visibility, d.model.app_visibility])
        .min()
        .unwrap_or(Visibility::Private)
}

/// The visibility a nodepool actually has: capped by its cluster's.
pub fn nodepool_visibility(n: &NodepoolRecord) -> Visibility {
    n.visibility.min(n.cluster_visibility)
}

impl Portcullis {
    fn compute_reader(&self, caller: &Caller, org: OrgKey) -> Reader {
        let resource = org_resource(org);
        let full = self
            .decide(caller, Permission::ComputeView, resource)
            .allowed;
        let member = caller
            .user()
            .is_some_and(|user| self.with_index(|index| index.membership(user, org).is_some()))
            && binding_reaches(&caller.subject.binding, Account::Org(org), None)
            && caller.subject.scopes.contains(Permission::ComputeView);
        Reader { full, member }
    }

    /// The refusal for a reader that may not read `what`: members learn that they lack
    /// `compute.view`, everyone else only that there is nothing here.
    fn unreadable(
        &self,
        caller: &Caller,
        org: OrgKey,
        reader: Reader,
        what: &'static str,
    ) -> ServiceError {
        if reader.full {
            ServiceError::NotFound(what)
        } else if self.can_see(caller, org_resource(org)) {
            ServiceError::Forbidden(Permission::ComputeView)
        } else {
            self.invisible(caller, org_resource(org), what)
        }
    }

    /// Every compute mutation is gated by one org-level permission (`compute.manage` for
    /// clusters and nodepools, `compute.deploy` for deployments); a refusal is audited as
    /// `operation`.
    async fn authorize_in_org(
        &self,
        caller: &Caller,
        org: OrgKey,
        permission: Permission,
        operation: Operation,
    ) -> Result<()> {
        self.authorize_mutation(
            operation,
            caller,
            permission,
            org_resource(org),
            "organization",
        )
        .await
    }

    fn org_handle(&self, org: OrgKey) -> String {
        self.with_index(|index| index.org(org).map(|o| o.id.to_string()))
            .unwrap_or_default()
    }

    /// A cluster the caller may read, or the refusal.
    async fn readable_cluster(
        &self,
        caller: &Caller,
        org: OrgKey,
        reader: Reader,
        cluster: &str,
    ) -> Result<ClusterRecord> {
        match self.store().cluster(org, cluster).await? {
            Some(c) if reader.reads(c.visibility) => Ok(c),
            _ => Err(self.unreadable(caller, org, reader, "cluster")),
        }
    }

    pub async fn create_cluster(
        &self,
        caller: &Caller,
        org_id: &str,
        input: ClusterInput,
    ) -> Result<Committed<ClusterRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeManage,
            Operation::ClusterCreate,
        )
        .await?;
        let new = NewCluster {
            org,
            id: parse_id("id", &input.id)?,
            description: input
                .description
                .as_deref()
                .map(|raw| description(raw, MAX_DESCRIPTION_CHARS))
                .transpose()?
                .unwrap_or_default(),
            cloud_provider: label("cloud_provider", &input.cloud_provider)?,
            region: label("region", &input.region)?,
            cluster_type: label("cluster_type", &input.cluster_type)?,
            visibility: optional_visibility(input.visibility.as_deref())?,
            created_by: caller.user(),
        };
        let org_name = self.org_handle(org);
        self.commit(caller, async |w| {
            let cluster = w.create_cluster(&new).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::ClusterCreate,
                    json!({"org": org_name, "cluster": cluster.id}),
                )
                .with_details(Value::Object(cluster_fields(&cluster))),
            );
            Ok((cluster, vec![]))
        })
        .await
    }

    /// The clusters of `org` that the caller may read, in id order.
    pub async fn list_clusters(&self, caller: &Caller, org_id: &str) -> Result<Vec<ClusterRecord>> {
        let org = self.resolve_org(org_id)?;
        let reader = self.compute_reader(caller, org);
        let mut clusters = self.store().clusters(org).await?;
        clusters.retain(|c| reader.reads(c.visibility));
        if clusters.is_empty() && !reader.full && !self.can_see(caller, org_resource(org)) {
            // Outsiders learn nothing about an organization without public compute.
            return Err(self.invisible(caller, org_resource(org), "organization"));
        }
        Ok(clusters)
    }

    pub async fn get_cluster(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
    ) -> Result<ClusterRecord> {
        let org = self.resolve_org(org_id)?;
        let reader = self.compute_reader(caller, org);
        self.readable_cluster(caller, org, reader, cluster).await
    }

    pub async fn update_cluster(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        patch: ClusterPatch,
    ) -> Result<Committed<ClusterRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeManage,
            Operation::ClusterUpdate,
        )
        .await?;
        if patch.description.is_none() && patch.visibility.is_none() {
            return Err(ServiceError::invalid(
                "field.required",
                "description",
                "give at least one of `description`, `visibility`",
            ));
        }
        let new_description = patch
            .description
            .as_deref()
            .map(|raw| description(raw, MAX_DESCRIPTION_CHARS))
            .transpose()?;
        let new_visibility = patch
            .visibility
            .as_deref()
            .map(parse_visibility)
            .transpose()?;
        let org_name = self.org_handle(org);
        self.commit(caller, async |w| {
            let current = w.cluster(org, cluster).await?;
            let (before, after) = w
                .update_cluster(current.row, new_description.as_deref(), new_visibility)
                .await?;
            let (was, now) = diff(&cluster_fields(&before), &cluster_fields(&after));
            if !was.is_empty() {
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::ClusterUpdate,
                        json!({"org": org_name, "cluster": after.id}),
                    )
                    .with_details(json!({"before": was, "after": now})),
                );
            }
            Ok((after, vec![]))
        })
        .await
    }

    /// Deletes a cluster with its nodepools, unless a deployment uses one of them.
    pub async fn delete_cluster(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
    ) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeManage,
            Operation::ClusterDelete,
        )
        .await?;
        let org_name = self.org_handle(org);
        self.commit(caller, async |w| {
            let record = w.cluster(org, cluster).await?;
            let users = w.deployments_on_cluster(record.row).await?;
            if !users.is_empty() {
                return Err(ServiceError::state(
                    "cluster.in_use",
                    format!(
                        "cluster `{}` has nodepools used by deployments {}; delete those deployments \
                         or move them to other nodepools first",
                        record.id,
                        quoted(&users)
                    ),
                ));
            }
            let nodepools = w.delete_cluster(record.row).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::ClusterDelete,
                    json!({"org": org_name, "cluster": record.id}),
                )
                .with_details(json!({"nodepools_deleted": nodepools})),
            );
            Ok(((), vec![]))
        })
        .await
    }

    pub async fn create_nodepool(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        input: NodepoolInput,
    ) -> Result<Committed<NodepoolRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeManage,
            Operation::NodepoolCreate,
        )
        .await?;
        let id = parse_id("id", &input.id)?;
        let instance_types = instance_types(&input.instance_types)?;
        let capacity_type = capacity_type(&input.capacity_type)?;
        instances(input.min_instances, input.max_instances)?;
        let visibility = optional_visibility(input.visibility.as_deref())?;
        let org_name = self.org_handle(org);
        self.commit(caller, async |w| {
            let parent = w.cluster(org, cluster).await?;
            let new = NewNodepool {
                cluster: parent.row,
                id,
                instance_types,
                capacity_type,
                min_instances: input.min_instances,
                max_instances: input.max_instances,
                visibility,
                created_by: caller.user(),
            };
            let nodepool = w.create_nodepool(&new).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::NodepoolCreate,
                    json!({"org": org_name, "cluster": parent.id, "nodepool": nodepool.id}),
                )
                .with_details(Value::Object(nodepool_fields(&nodepool))),
            );
            Ok((nodepool, vec![]))
        })
        .await
    }

    /// The nodepools of a cluster that the caller may read.
    pub async fn list_nodepools(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
    ) -> Result<Vec<NodepoolRecord>> {
        let org = self.resolve_org(org_id)?;
        let reader = self.compute_reader(caller, org);
        let parent = self.readable_cluster(caller, org, reader, cluster).await?;
        let mut nodepools = self.store().nodepools(parent.row).await?;
        nodepools.retain(|n| reader.reads(nodepool_visibility(n)));
        Ok(nodepools)
    }

    pub async fn get_nodepool(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        nodepool: &str,
    ) -> Result<NodepoolRecord> {
        let org = self.resolve_org(org_id)?;
        let reader = self.compute_reader(caller, org);
        let parent = self.readable_cluster(caller, org, reader, cluster).await?;
        match self.store().nodepool(parent.row, nodepool).await? {
            Some(n) if reader.reads(nodepool_visibility(&n)) => Ok(n),
            _ => Err(self.unreadable(caller, org, reader, "nodepool")),
        }
    }

    pub async fn update_nodepool(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        nodepool: &str,
        patch: NodepoolPatch,
    ) -> Result<Committed<NodepoolRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeManage,
            Operation::NodepoolUpdate,
        )
        .await?;
        let changes = NodepoolChanges {
            instance_types: patch
                .instance_types
                .as_deref()
                .map(instance_types)
                .transpose()?,
            capacity_type: patch
                .capacity_type
                .as_deref()
                .map(capacity_type)
                .transpose()?,
            min_instances: patch.min_instances,
            max_instances: patch.max_instances,
            visibility: patch
                .visibility
                .as_deref()
                .map(parse_visibility)
                .transpose()?,
        };
        if changes.instance_types.is_none()
            && changes.capacity_type.is_none()
            && changes.min_instances.is_none()
            && changes.max_instances.is_none()
            && changes.visibility.is_none()
        {
            return Err(ServiceError::invalid(
                "field.required",
                "instance_types",
                "give at least one of `instance_types`, `capacity_type`, `min_instances`, \
                 `max_instances`, `visibility`",
            ));
        }
        let org_name = self.org_handle(org);
        self.commit(caller, async |w| {
            let parent = w.cluster(org, cluster).await?;
            let current = w.nodepool(parent.row, nodepool).await?;
            instances(
                changes.min_instances.unwrap_or(current.min_instances),
                changes.max_instances.unwrap_or(current.max_instances),
            )?;
            let (before, after) = w.update_nodepool(current.row, &changes).await?;
            let (was, now) = diff(&nodepool_fields(&before), &nodepool_fields(&after));
            if !was.is_empty() {
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::NodepoolUpdate,
                        json!({"org": org_name, "cluster": parent.id, "nodepool": after.id}),
                    )
                    .with_details(json!({"before": was, "after": now})),
                );
            }
            Ok((after, vec![]))
        })
        .await
    }

    /// Deletes a nodepool that no deployment uses.
    pub async fn delete_nodepool(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        nodepool: &str,
    ) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeManage,
            Operation::NodepoolDelete,
        )
        .await?;
        let org_name = self.org_handle(org);
        self.commit(caller, async |w| {
            let parent = w.cluster(org, cluster).await?;
            let record = w.nodepool(parent.row, nodepool).await?;
            let users = w.deployments_on_nodepool(record.row).await?;
            if !users.is_empty() {
                return Err(ServiceError::state(
                    "nodepool.in_use",
                    format!(
                        "nodepool `{}/{}` is used by deployments {}; delete those deployments or \
                         move them to other nodepools first",
                        parent.id,
                        record.id,
                        quoted(&users)
                    ),
                ));
            }
            w.delete_nodepool(record.row).await?;
            w.audit(AuditRecord::new(
                Some(org),
                Operation::NodepoolDelete,
                json!({"org": org_name, "cluster": parent.id, "nodepool": record.id}),
            ));
            Ok(((), vec![]))
        })
        .await
    }

    /// Deploys a model of one of the organization's apps onto nodepools of the organization
    /// (`compute.deploy`, and `app.view` on the model, without which the model is `not_found`).
    pub async fn create_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        input: DeploymentInput,
    ) -> Result<Committed<DeploymentRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeDeploy,
            Operation::DeploymentCreate,
        )
        .await?;
        let org_name = self.org_handle(org);
        let id = parse_id("id", &input.id)?;
        replicas(input.min_replicas, input.max_replicas)?;
        let visibility = optional_visibility(input.visibility.as_deref())?;
        let targets = targets(&org_name, &input.nodepools)?;
        // The model: decided from the request alone first, so another organization's private
        // apps are never looked up on this caller's behalf.
        if !input.model.account.eq_ignore_ascii_case(&org_name) {
            return Err(ServiceError::invalid(
                "deployment.model_not_in_org",
                "model",
                format!(
                    "the model must belong to an app of organization `{org_name}`, not of `{}`",
                    shown(&input.model.account)
                ),
            ));
        }
        let (_, app) = self
            .resolve_app(&input.model.account, &input.model.app)
            .map_err(|_| ServiceError::NotFound("model"))?;
        let model = self
            .store()
            .deployable_model(app, &input.model.id)
            .await?
            .ok_or(ServiceError::NotFound("model"))?;
        let item = Resource::AppItem {
            app,
            visibility: model.visibility,
        };
        // Authorized (not only decided), so the commit asks again: a revocation that commits
        // in between stops the deployment.
        self.authorize(caller, Permission::AppView, item, "model")
            .map_err(|err| match err {
                ServiceError::Forbidden(_) | ServiceError::NotFound(_) => {
                    ServiceError::NotFound("model")
                }
                other => other,
            })?;
        self.commit(caller, async |w| {
            let model = w
                .deployable_model(app, &input.model.id)
                .await?
                .ok_or(ServiceError::NotFound("model"))?;
            let rows = resolve_targets(w, org, &org_name, &targets).await?;
            let new = NewDeployment {
                org,
                id,
                model: model.row,
                targets: rows,
                min_replicas: input.min_replicas,
                max_replicas: input.max_replicas,
                visibility,
                created_by: caller.user(),
            };
            let deployment = w.create_deployment(&new).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::DeploymentCreate,
                    json!({"org": org_name, "deployment": deployment.id}),
                )
                .with_details(Value::Object(deployment_fields(&deployment))),
            );
            Ok((deployment, vec![]))
        })
        .await
    }

    /// The deployments of `org` the caller may read, in id order.
    pub async fn list_deployments(
        &self,
        caller: &Caller,
        org_id: &str,
    ) -> Result<Vec<DeploymentRecord>> {
        let org = self.resolve_org(org_id)?;
        let reader = self.compute_reader(caller, org);
        let mut deployments = self.store().deployments(org).await?;
        deployments.retain(|d| reader.reads(deployment_visibility(d)));
        if deployments.is_empty() && !reader.full && !self.can_see(caller, org_resource(org)) {
            return Err(self.invisible(caller, org_resource(org), "organization"));
        }
        Ok(deployments)
    }

    pub async fn get_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        deployment: &str,
    ) -> Result<DeploymentRecord> {
        let org = self.resolve_org(org_id)?;
        let reader = self.compute_reader(caller, org);
        match self.store().deployment(org, deployment).await? {
            Some(d) if reader.reads(deployment_visibility(&d)) => Ok(d),
            _ => Err(self.unreadable(caller, org, reader, "deployment")),
        }
    }

    pub async fn update_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        deployment: &str,
        patch: DeploymentPatch,
    ) -> Result<Committed<DeploymentRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeDeploy,
            Operation::DeploymentUpdate,
        )
        .await?;
        let org_name = self.org_handle(org);
        let new_targets = patch
            .nodepools
            .as_deref()
            .map(|t| targets(&org_name, t))
            .transpose()?;
        let new_visibility = patch
            .visibility
            .as_deref()
            .map(parse_visibility)
            .transpose()?;
        if patch.min_replicas.is_none()
            && patch.max_replicas.is_none()
            && new_targets.is_none()
            && new_visibility.is_none()
        {
            return Err(ServiceError::invalid(
                "field.required",
                "min_replicas",
                "give at least one of `min_replicas`, `max_replicas`, `nodepools`, `visibility`",
            ));
        }
        self.commit(caller, async |w| {
            let current = w.deployment(org, deployment).await?;
            replicas(
                patch.min_replicas.unwrap_or(current.min_replicas),
                patch.max_replicas.unwrap_or(current.max_replicas),
            )?;
            let rows = match &new_targets {
                Some(t) => Some(resolve_targets(w, org, &org_name, t).await?),
                None => None,
            };
            let changes = DeploymentChanges {
                min_replicas: patch.min_replicas,
                max_replicas: patch.max_replicas,
                targets: rows,
                visibility: new_visibility,
            };
            let (before, after) = w.update_deployment(current.row, &changes).await?;
            let (was, now) = diff(&deployment_fields(&before), &deployment_fields(&after));
            if !was.is_empty() {
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::DeploymentUpdate,
                        json!({"org": org_name, "deployment": after.id}),
                    )
                    .with_details(json!({"before": was, "after": now})),
                );
            }
            Ok((after, vec![]))
        })
        .await
    }

    pub async fn delete_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        deployment: &str,
    ) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_in_org(
            caller,
            org,
            Permission::ComputeDeploy,
            Operation::DeploymentDelete,
        )
        .await?;
        let org_name = self.org_handle(org);
        self.commit(caller, async |w| {
            let record = w.deployment(org, deployment).await?;
            w.delete_deployment(record.row).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::DeploymentDelete,
                    json!({"org": org_name, "deployment": record.id}),
                )
                .with_details(Value::Object(deployment_fields(&record))),
            );
            Ok(((), vec![]))
        })
        .await
    }
}

/// A validated deployment target, not yet resolved: (cluster, nodepool, priority).
type Target = (String, String, i64);

async fn resolve_targets(
    w: &mut portcullis_store::Write,
    org: OrgKey,
    org_name: &str,
    targets: &[Target],
) -> Result<Vec<(i64, i64)>> {
    let mut rows: Vec<(i64, i64)> = Vec::with_capacity(targets.len());
    for (cluster, nodepool, priority) in targets {
        let Some(found) = w.org_nodepool(org, cluster, nodepool).await? else {
            return Err(not_in_org(org_name, cluster, nodepool));
        };
        if rows.iter().any(|(row, _)| *row == found.row) {
            return Err(duplicate_target(cluster, nodepool));
        }
        rows.push((found.row, *priority));
    }
    Ok(rows)
}

fn not_in_org(org_name: &str, cluster: &str, nodepool: &str) -> ServiceError {
    ServiceError::invalid(
        "deployment.nodepool_not_in_org",
        "nodepools",
        format!(
            "`{}/{}` is not a nodepool of organization `{org_name}`",
            shown(cluster),
            shown(nodepool)
        ),
    )
}

fn duplicate_target(cluster: &str, nodepool: &str) -> ServiceError {
    ServiceError::invalid(
        "deployment.duplicate_nodepool",
        "nodepools",
        format!(
            "nodepool `{}/{}` is listed more than once",
            shown(cluster),
            shown(nodepool)
        ),
    )
}

/// Checks the shape of a deployment's nodepool list (1–20 entries, priority 0–9, all of this
/// organization, no repeats); existence is checked in the write transaction.
fn targets(org_name: &str, input: &[TargetInput]) -> Result<Vec<Target>> {
    if input.is_empty() || input.len() > MAX_DEPLOYMENT_NODEPOOLS {
        return Err(ServiceError::invalid(
            "deployment.invalid_nodepools",
            "nodepools",
            format!("a deployment runs on 1 to {MAX_DEPLOYMENT_NODEPOOLS} nodepools"),
        ));
    }
    let mut out: Vec<Target> = Vec::with_capacity(input.len());
    for target in input {
        if !(0..=MAX_PRIORITY).contains(&target.priority) {
            return Err(ServiceError::invalid(
                "deployment.invalid_priority",
                "priority",
                format!(
                    "priority must be between 0 and {MAX_PRIORITY}, not {}",
                    target.priority
                ),
            ));
        }
        if let Some(other) = &target.org
            && !other.eq_ignore_ascii_case(org_name)
        {
            return Err(not_in_org(org_name, &target.cluster, &target.nodepool));
        }
        let (Ok(cluster), Ok(nodepool)) = (
            AccountId::parse(&target.cluster),
            AccountId::parse(&target.nodepool),
        ) else {
            return Err(not_in_org(org_name, &target.cluster, &target.nodepool));
        };
        let key = (cluster.key(), nodepool.key());
        if out
            .iter()
            .any(|(c, n, _)| (c.as_str(), n.as_str()) == (key.0.as_str(), key.1.as_str()))
        {
            return Err(duplicate_target(&target.cluster, &target.nodepool));
        }
        out.push((key.0, key.1, target.priority));
    }
    Ok(out)
}

fn replicas(min: i64, max: i64) -> Result<()> {
    for (field, value) in [("min_replicas", min), ("max_replicas", max)] {
        if !(0..=MAX_REPLICAS).contains(&value) {
            return Err(ServiceError::invalid(
                "deployment.invalid_replicas",
                field,
                format!("`{field}` must be between 0 and {MAX_REPLICAS}"),
            ));
        }
    }
    if min > max {
        return Err(ServiceError::invalid(
            "deployment.min_above_max",
            "min_replicas",
            format!("`min_replicas` ({min}) must not exceed `max_replicas` ({max})"),
        ));
    }
    Ok(())
}

fn instances(min: i64, max: i64) -> Result<()> {
    for (field, value) in [("min_instances", min), ("max_instances", max)] {
        if !(0..=MAX_INSTANCES).contains(&value) {
            return Err(ServiceError::invalid(
                "nodepool.invalid_instances",
                field,
                format!("`{field}` must be between 0 and {MAX_INSTANCES}"),
            ));
        }
    }
    if min > max {
        return Err(ServiceError::invalid(
            "nodepool.min_above_max",
            "min_instances",
            format!("`min_instances` ({min}) must not exceed `max_instances` ({max})"),
        ));
    }
    Ok(())
}

fn instance_types(input: &[String]) -> Result<Vec<String>> {
    if input.is_empty() || input.len() > MAX_INSTANCE_TYPES {
        return Err(ServiceError::invalid(
            "nodepool.invalid_instance_types",
            "instance_types",
            format!("a nodepool has 1 to {MAX_INSTANCE_TYPES} instance types"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for raw in input {
        let value = label("instance_types", raw)?;
        if out.contains(&value) {
            return Err(ServiceError::invalid(
                "nodepool.invalid_instance_types",
                "instance_types",
                format!("instance type `{value}` is listed more than once"),
            ));
        }
        out.push(value);
    }
    Ok(out)
}

fn capacity_type(raw: &str) -> Result<CapacityType> {
    CapacityType::parse(raw).ok_or_else(|| {
        ServiceError::invalid(
            "field.invalid",
            "capacity_type",
            format!(
                "unknown capacity type `{}`; expected on_demand or spot",
                shown(raw)
            ),
        )
    })
}

/// A short machine-ish name (provider, region, type): 1–64 of letters, digits, `.`, `_`, `-`,
/// `/`, `:`.
fn label(field: &'static str, raw: &str) -> Result<String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':');
    if raw.is_empty() || raw.chars().count() > MAX_LABEL_CHARS || !raw.chars().all(ok_char) {
        return Err(ServiceError::invalid(
            "field.invalid",
            field,
            format!(
                "`{field}` must be 1 to {MAX_LABEL_CHARS} letters, digits, `.`, `_`, `-`, `/` or `:`"
            ),
        ));
    }
    Ok(raw.to_owned())
}

fn optional_visibility(raw: Option<&str>) -> Result<Visibility> {
    raw.map(parse_visibility)
        .transpose()
        .map(|v| v.unwrap_or(Visibility::Private))
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn org_resource(org: OrgKey) -> Resource {
    Resource::Account(Account::Org(org))
}

fn cluster_fields(c: &ClusterRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("description".into(), json!(c.description));
    m.insert("cloud_provider".into(), json!(c.cloud_provider));
    m.insert("region".into(), json!(c.region));
    m.insert("cluster_type".into(), json!(c.cluster_type));
    m.insert("visibility".into(), json!(c.visibility.as_str()));
    m
}

fn nodepool_fields(n: &NodepoolRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("instance_types".into(), json!(n.instance_types));
    m.insert("capacity_type".into(), json!(n.capacity_type.as_str()));
    m.insert("min_instances".into(), json!(n.min_instances));
    m.insert("max_instances".into(), json!(n.max_instances));
    m.insert("visibility".into(), json!(n.visibility.as_str()));
    m
}

fn deployment_fields(d: &DeploymentRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "model".into(),
        json!({"account": d.model.account_id, "app": d.model.app_id, "id": d.model.id}),
    );
    m.insert(
        "nodepools".into(),
        Value::Array(
            d.targets
                .iter()
                .map(|t| json!({"cluster": t.cluster_id, "nodepool": t.nodepool_id, "priority": t.priority}))
                .collect(),
        ),
    );
    m.insert("min_replicas".into(), json!(d.min_replicas));
    m.insert("max_replicas".into(), json!(d.max_replicas));
    m.insert("visibility".into(), json!(d.visibility.as_str()));
    m
}

/// The fields that differ, as two objects (before, after).
fn diff(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut was = Map::new();
    let mut now = Map::new();
    for (key, old) in before {
        let new = after.get(key).cloned().unwrap_or(Value::Null);
        if *old != new {
            was.insert(key.clone(), old.clone());
            now.insert(key.clone(), new);
        }
    }
    (was, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_and_replica_bounds() {
        assert!(instances(0, 0).is_ok());
        assert!(instances(0, MAX_INSTANCES).is_ok());
        assert!(instances(-1, 3).is_err());
        assert!(instances(0, MAX_INSTANCES + 1).is_err());
        assert!(matches!(
            instances(5, 4),
            Err(ServiceError::Invalid {
                code: "nodepool.min_above_max",
                ..
            })
        ));
        assert!(matches!(
            replicas(2, 1),
            Err(ServiceError::Invalid {
                code: "deployment.min_above_max",
                ..
            })
        ));
    }

    #[test]
    fn targets_are_checked_for_shape() {
        let target = |org: Option<&str>, priority| TargetInput {
            org: org.map(str::to_owned),
            cluster: "c1".into(),
            nodepool: "np".into(),
            priority,
        };
        assert!(targets("acme", &[target(None, 0)]).is_ok());
        assert!(targets("acme", &[target(Some("ACME"), 9)]).is_ok());
        assert!(matches!(
            targets("acme", &[target(None, 10)]),
            Err(ServiceError::Invalid {
                code: "deployment.invalid_priority",
                ..
            })
        ));
        assert!(matches!(
            targets("acme", &[target(Some("other"), 1)]),
            Err(ServiceError::Invalid {
                code: "deployment.nodepool_not_in_org",
                ..
            })
        ));
        assert!(matches!(
            targets("acme", &[target(None, 1), target(None, 2)]),
            Err(ServiceError::Invalid {
                code: "deployment.duplicate_nodepool",
                ..
            })
        ));
        assert!(targets("acme", &[]).is_err());
    }

    #[test]
    fn labels_and_instance_types() {
        assert!(label("region", "us-east-1").is_ok());
        assert!(label("region", "").is_err());
        assert!(label("region", "us east").is_err());
        assert!(instance_types(&["g5.xlarge".into()]).is_ok());
        assert!(instance_types(&[]).is_err());
        assert!(instance_types(&["".into()]).is_err());
        assert!(instance_types(&vec!["a".to_owned(); 1]).is_ok());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(instance_types(&many).is_err());
    }
}
