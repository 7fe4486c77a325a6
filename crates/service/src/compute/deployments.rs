//! Deployments of an organization's models onto its nodepools: created, edited and deleted
//! under `compute.deploy` (and `app.view` on the model's app), read by whoever reads the
//! deployment, which is never more visible than its model, the model's app and its nodepools.

use portcullis_core::Permission::{self, ComputeDeploy};
use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::{AccountId, OrgKey};
use portcullis_store::{DeploymentChanges, DeploymentRecord, NewDeployment, Write};

use super::audit_entries::{audit_edit, audit_whole};
use super::{
    MAX_DEPLOYMENT_NODEPOOLS, MAX_PRIORITY, MAX_REPLICAS, changed_visibility, count_range,
    optional_visibility,
};
use crate::authentication::parse_id;
use crate::input::shown;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

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

impl Portcullis {
    /// Deploys a model of one of the organization's apps onto nodepools of the organization
    /// (`compute.deploy`, and `app.view` on the model, without which the model is `not_found`).
    pub async fn create_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        input: DeploymentInput,
    ) -> Result<Committed<DeploymentRecord>> {
        let org = self
            .authorized_org(caller, org_id, ComputeDeploy, Operation::DeploymentCreate)
            .await?;
        let id = parse_id("id", &input.id)?;
        replicas(input.min_replicas, input.max_replicas)?;
        let visibility = optional_visibility(input.visibility.as_deref())?;
        let targets = targets(&org.name, &input.nodepools)?;
        // The model: decided from the request alone first, so another organization's private
        // apps are never looked up on this caller's behalf.
        if !input.model.account.eq_ignore_ascii_case(&org.name) {
            return Err(ServiceError::invalid(
                "deployment.model_not_in_org",
                "model",
                format!(
                    "the model must belong to an app of organization `{}`, not of `{}`",
                    org.name,
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
            let rows = resolve_targets(w, org.key, &org.name, &targets).await?;
            let new = NewDeployment {
                org: org.key,
                id,
                model: model.row,
                targets: rows,
                min_replicas: input.min_replicas,
                max_replicas: input.max_replicas,
                visibility,
                created_by: caller.user(),
            };
            let deployment = w.create_deployment(&new).await?;
            audit_whole(w, &org, Operation::DeploymentCreate, &deployment);
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
        let reader = self.compute_reader(caller, org_id)?;
        let deployments = self.store().deployments(reader.org).await?;
        self.readable_in_org(caller, reader, deployments)
    }

    pub async fn get_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        deployment: &str,
    ) -> Result<DeploymentRecord> {
        let reader = self.compute_reader(caller, org_id)?;
        let found = self.store().deployment(reader.org, deployment).await?;
        self.readable(caller, reader, found)
    }

    pub async fn update_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        deployment: &str,
        patch: DeploymentPatch,
    ) -> Result<Committed<DeploymentRecord>> {
        let org = self
            .authorized_org(caller, org_id, ComputeDeploy, Operation::DeploymentUpdate)
            .await?;
        let new_targets = patch
            .nodepools
            .as_deref()
            .map(|t| targets(&org.name, t))
            .transpose()?;
        let new_visibility = changed_visibility(patch.visibility.as_deref())?;
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
            let current = w.deployment(org.key, deployment).await?;
            replicas(
                patch.min_replicas.unwrap_or(current.min_replicas),
                patch.max_replicas.unwrap_or(current.max_replicas),
            )?;
            let rows = match &new_targets {
                Some(t) => Some(resolve_targets(w, org.key, &org.name, t).await?),
                None => None,
            };
            let changes = DeploymentChanges {
                min_replicas: patch.min_replicas,
                max_replicas: patch.max_replicas,
                targets: rows,
                visibility: new_visibility,
            };
            let edit = w.update_deployment(current.row, &changes).await?;
            Ok((
                audit_edit(w, &org, Operation::DeploymentUpdate, edit),
                vec![],
            ))
        })
        .await
    }

    pub async fn delete_deployment(
        &self,
        caller: &Caller,
        org_id: &str,
        deployment: &str,
    ) -> Result<Committed<()>> {
        let org = self
            .authorized_org(caller, org_id, ComputeDeploy, Operation::DeploymentDelete)
            .await?;
        self.commit(caller, async |w| {
            let record = w.deployment(org.key, deployment).await?;
            w.delete_deployment(record.row).await?;
            audit_whole(w, &org, Operation::DeploymentDelete, &record);
            Ok(((), vec![]))
        })
        .await
    }
}

/// A validated deployment target, not yet resolved: (cluster, nodepool, priority).
type Target = (String, String, i64);

async fn resolve_targets(
    w: &mut Write,
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

const REPLICA_FIELDS: [&str; 2] = ["min_replicas", "max_replicas"];
const REPLICA_CODES: [&str; 2] = ["deployment.invalid_replicas", "deployment.min_above_max"];

pub(super) fn replicas(min: i64, max: i64) -> Result<()> {
    count_range(REPLICA_FIELDS, [min, max], MAX_REPLICAS, REPLICA_CODES)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
