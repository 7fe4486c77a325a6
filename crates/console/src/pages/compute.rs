//! Compute (clusters, nodepools, deployments: list, create, edit, delete with a confirmation
//! that names the thing).
//!
//! Controls the caller may not use are disabled with the permission they need; every change
//! goes through the service, which checks `compute.manage` and `compute.deploy` itself.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::Visibility;
use portcullis_service::ServiceError;
use portcullis_service::compute::{
    ClusterInput, ClusterPatch, DeploymentInput, DeploymentPatch, ModelInput, NodepoolInput,
    NodepoolPatch, TargetInput,
};
use portcullis_service::store::{ClusterRecord, DeploymentRecord, NodepoolRecord};
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn, redirect_with};
use crate::view::{Nav, after_post, page_error, render};

#[derive(Template)]
#[template(path = "compute.html")]
struct ComputePage {
    nav: Nav,
    clusters: Vec<(ClusterRecord, Vec<NodepoolRecord>)>,
    deployments: Vec<DeploymentRecord>,
    visibilities: Vec<&'static str>,
}

impl ComputePage {
    /// One `cluster/nodepool:priority` line per target, as the deployment form takes them.
    fn target_lines(&self, d: &DeploymentRecord) -> String {
        d.targets
            .iter()
            .map(|t| format!("{}/{}:{}", t.cluster_id, t.nodepool_id, t.priority))
            .collect::<Vec<_>>()
            .join("\n")
    }
    fn targets(&self, d: &DeploymentRecord) -> String {
        d.targets
            .iter()
            .map(|t| {
                format!(
                    "{}/{} (priority {})",
                    t.cluster_id, t.nodepool_id, t.priority
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn instances(&self, n: &NodepoolRecord) -> String {
        n.instance_types.join(", ")
    }
}

pub async fn compute(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "compute", "Compute").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let caller = &viewer.caller;
    let loaded = async {
        let mut clusters = Vec::new();
        for cluster in service.list_clusters(caller, &account).await? {
            let pools = service
                .list_nodepools(caller, &account, &cluster.id)
                .await?;
            clusters.push((cluster, pools));
        }
        let deployments = service.list_deployments(caller, &account).await?;
        Ok::<_, ServiceError>((clusters, deployments))
    };
    let (clusters, deployments) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return page_error(err),
    };
    let page = ComputePage {
        nav,
        clusters,
        deployments,
        visibilities: Visibility::ALL.iter().map(|v| v.as_str()).collect(),
    };
    render(&page, viewer.flash.is_some())
}

fn given(raw: String) -> Option<String> {
    Some(raw.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A number field: a whole number, or the raw text as a string the service refuses by name.
fn number(raw: &str, field: &'static str) -> Result<i64, ServiceError> {
    raw.trim().parse().map_err(|_| {
        ServiceError::invalid(
            "field.invalid",
            field,
            format!(
                "`{field}` must be a whole number, not `{}`",
                raw.chars().take(20).collect::<String>()
            ),
        )
    })
}

fn optional_number(raw: &str, field: &'static str) -> Result<Option<i64>, ServiceError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        number(raw, field).map(Some)
    }
}

/// `cluster/nodepool[:priority]`, one per line.
fn targets(raw: &str) -> Result<Vec<TargetInput>, ServiceError> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (path, priority) = match line.rsplit_once(':') {
                Some((path, p)) => (path, number(p, "priority")?),
                None => (line, 0),
            };
            let (cluster, nodepool) = path.split_once('/').ok_or_else(|| {
                ServiceError::invalid(
                    "field.invalid",
                    "nodepools",
                    format!(
                        "write each nodepool as `cluster/nodepool`, not `{}`",
                        line.chars().take(60).collect::<String>()
                    ),
                )
            })?;
            Ok(TargetInput {
                org: None,
                cluster: cluster.trim().to_owned(),
                nodepool: nodepool.trim().to_owned(),
                priority,
            })
        })
        .collect()
}

fn instance_types(raw: &str) -> Vec<String> {
    raw.split([',', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn compute_back(account: &str) -> String {
    format!("/a/{account}/compute")
}

/// A delete needs the thing's id typed again.
fn confirmed(confirm: &str, id: &str, what: &str, back: &str) -> Option<Response> {
    (confirm.trim() != id).then(|| {
        redirect_with(
            back,
            true,
            &format!("to delete the {what}, type its id `{id}` in the confirmation field"),
        )
    })
}

#[derive(Deserialize)]
pub struct ClusterForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    cloud_provider: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    cluster_type: String,
    #[serde(default)]
    visibility: String,
}

pub async fn create_cluster(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<ClusterForm>,
) -> Response {
    let f = posted.form;
    let id = f.id.trim().to_owned();
    let input = ClusterInput {
        id: id.clone(),
        description: given(f.description),
        cloud_provider: f.cloud_provider.trim().to_owned(),
        region: f.region.trim().to_owned(),
        cluster_type: f.cluster_type.trim().to_owned(),
        visibility: given(f.visibility),
    };
    let result = service
        .create_cluster(&posted.viewer.caller, &account, input)
        .await;
    after_post(
        result,
        &compute_back(&account),
        &format!("cluster {id} created"),
    )
}

pub async fn update_cluster(
    State(service): State<ConsoleState>,
    Path((account, cluster)): Path<(String, String)>,
    posted: Posted<ClusterForm>,
) -> Response {
    let f = posted.form;
    let patch = ClusterPatch {
        description: Some(f.description.trim().to_owned()),
        visibility: given(f.visibility),
    };
    let result = service
        .update_cluster(&posted.viewer.caller, &account, &cluster, patch)
        .await;
    after_post(
        result,
        &compute_back(&account),
        &format!("cluster {cluster} saved"),
    )
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete_cluster(
    State(service): State<ConsoleState>,
    Path((account, cluster)): Path<(String, String)>,
    posted: Posted<DeleteForm>,
) -> Response {
    let back = compute_back(&account);
    if let Some(refusal) = confirmed(&posted.form.confirm, &cluster, "cluster", &back) {
        return refusal;
    }
    let result = service
        .delete_cluster(&posted.viewer.caller, &account, &cluster)
        .await;
    after_post(result, &back, &format!("cluster {cluster} deleted"))
}

#[derive(Deserialize)]
pub struct NodepoolForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    instance_types: String,
    #[serde(default)]
    capacity_type: String,
    #[serde(default)]
    min_instances: String,
    #[serde(default)]
    max_instances: String,
    #[serde(default)]
    visibility: String,
}

pub async fn create_nodepool(
    State(service): State<ConsoleState>,
    Path((account, cluster)): Path<(String, String)>,
    posted: Posted<NodepoolForm>,
) -> Response {
    let back = compute_back(&account);
    let f = posted.form;
    let id = f.id.trim().to_owned();
    let input = (|| {
        Ok::<_, ServiceError>(NodepoolInput {
            id: id.clone(),
            instance_types: instance_types(&f.instance_types),
            capacity_type: f.capacity_type.trim().to_owned(),
            min_instances: number(&f.min_instances, "min_instances")?,
            max_instances: number(&f.max_instances, "max_instances")?,
            visibility: given(f.visibility.clone()),
        })
    })();
    let result = match input {
        Ok(input) => {
            service
                .create_nodepool(&posted.viewer.caller, &account, &cluster, input)
                .await
        }
        Err(err) => Err(err),
    };
    after_post(result, &back, &format!("nodepool {cluster}/{id} created"))
}

pub async fn update_nodepool(
    State(service): State<ConsoleState>,
    Path((account, cluster, nodepool)): Path<(String, String, String)>,
    posted: Posted<NodepoolForm>,
) -> Response {
    let back = compute_back(&account);
    let f = posted.form;
    let patch = (|| {
        Ok::<_, ServiceError>(NodepoolPatch {
            instance_types: Some(instance_types(&f.instance_types)),
            capacity_type: given(f.capacity_type.clone()),
            min_instances: optional_number(&f.min_instances, "min_instances")?,
            max_instances: optional_number(&f.max_instances, "max_instances")?,
            visibility: given(f.visibility.clone()),
        })
    })();
    let result = match patch {
        Ok(patch) => {
            service
                .update_nodepool(&posted.viewer.caller, &account, &cluster, &nodepool, patch)
                .await
        }
        Err(err) => Err(err),
    };
    after_post(
        result,
        &back,
        &format!("nodepool {cluster}/{nodepool} saved"),
    )
}

pub async fn delete_nodepool(
    State(service): State<ConsoleState>,
    Path((account, cluster, nodepool)): Path<(String, String, String)>,
    posted: Posted<DeleteForm>,
) -> Response {
    let back = compute_back(&account);
    if let Some(refusal) = confirmed(&posted.form.confirm, &nodepool, "nodepool", &back) {
        return refusal;
    }
    let result = service
        .delete_nodepool(&posted.viewer.caller, &account, &cluster, &nodepool)
        .await;
    after_post(
        result,
        &back,
        &format!("nodepool {cluster}/{nodepool} deleted"),
    )
}

#[derive(Deserialize)]
pub struct DeploymentForm {
    #[serde(default)]
    id: String,
    /// `app/model` of an app of this organization.
    #[serde(default)]
    model: String,
    #[serde(default)]
    nodepools: String,
    #[serde(default)]
    min_replicas: String,
    #[serde(default)]
    max_replicas: String,
    #[serde(default)]
    visibility: String,
}

pub async fn create_deployment(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<DeploymentForm>,
) -> Response {
    let f = posted.form;
    let id = f.id.trim().to_owned();
    let input = (|| {
        let (app, model) = f.model.trim().split_once('/').ok_or_else(|| {
            ServiceError::invalid("field.invalid", "model", "write the model as `app/model`")
        })?;
        Ok::<_, ServiceError>(DeploymentInput {
            id: id.clone(),
            model: ModelInput {
                account: account.clone(),
                app: app.trim().to_owned(),
                id: model.trim().to_owned(),
            },
            nodepools: targets(&f.nodepools)?,
            min_replicas: number(&f.min_replicas, "min_replicas")?,
            max_replicas: number(&f.max_replicas, "max_replicas")?,
            visibility: given(f.visibility.clone()),
        })
    })();
    let result = match input {
        Ok(input) => {
            service
                .create_deployment(&posted.viewer.caller, &account, input)
                .await
        }
        Err(err) => Err(err),
    };
    after_post(
        result,
        &compute_back(&account),
        &format!("deployment {id} created"),
    )
}

pub async fn update_deployment(
    State(service): State<ConsoleState>,
    Path((account, deployment)): Path<(String, String)>,
    posted: Posted<DeploymentForm>,
) -> Response {
    let f = posted.form;
    let patch = (|| {
        Ok::<_, ServiceError>(DeploymentPatch {
            min_replicas: optional_number(&f.min_replicas, "min_replicas")?,
            max_replicas: optional_number(&f.max_replicas, "max_replicas")?,
            nodepools: Some(targets(&f.nodepools)?),
            visibility: given(f.visibility.clone()),
        })
    })();
    let result = match patch {
        Ok(patch) => {
            service
                .update_deployment(&posted.viewer.caller, &account, &deployment, patch)
                .await
        }
        Err(err) => Err(err),
    };
    after_post(
        result,
        &compute_back(&account),
        &format!("deployment {deployment} saved"),
    )
}

pub async fn delete_deployment(
    State(service): State<ConsoleState>,
    Path((account, deployment)): Path<(String, String)>,
    posted: Posted<DeleteForm>,
) -> Response {
    let back = compute_back(&account);
    if let Some(refusal) = confirmed(&posted.form.confirm, &deployment, "deployment", &back) {
        return refusal;
    }
    let result = service
        .delete_deployment(&posted.viewer.caller, &account, &deployment)
        .await;
    after_post(result, &back, &format!("deployment {deployment} deleted"))
}

#[cfg(test)]
mod tests {
    use super::targets;

    #[test]
    fn deployment_targets_are_one_cluster_nodepool_per_line() {
        let parsed = targets("gpu/a100:2\n\n cpu / small \n").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            (
                parsed[0].cluster.as_str(),
                parsed[0].nodepool.as_str(),
                parsed[0].priority
            ),
            ("gpu", "a100", 2)
        );
        assert_eq!(
            (
                parsed[1].cluster.as_str(),
                parsed[1].nodepool.as_str(),
                parsed[1].priority
            ),
            ("cpu", "small", 0)
        );
        assert!(targets("no-slash").is_err());
        assert!(targets("a/b:x").is_err());
    }
}
