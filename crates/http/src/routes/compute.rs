//! Compute of an organization: clusters, their nodepools, and deployments of the organization's
//! models onto them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::compute::{
    ClusterInput, ClusterPatch, DeploymentInput, DeploymentPatch, ModelInput, NodepoolInput,
    NodepoolPatch, TargetInput, deployment_visibility, nodepool_visibility,
};
use portcullis_service::store::{ClusterRecord, DeploymentRecord, NodepoolRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_cluster, list_clusters))
        .routes(routes!(get_cluster, update_cluster, delete_cluster))
        .routes(routes!(create_nodepool, list_nodepools))
        .routes(routes!(get_nodepool, update_nodepool, delete_nodepool))
        .routes(routes!(create_deployment, list_deployments))
        .routes(routes!(
            get_deployment,
            update_deployment,
            delete_deployment
        ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterDto {
    pub id: String,
    pub description: String,
    pub cloud_provider: String,
    pub region: String,
    pub cluster_type: String,
    /// `private`, `org` or `public`.
    pub visibility: String,
    pub created_at: String,
    pub modified_at: String,
}

impl From<ClusterRecord> for ClusterDto {
    fn from(c: ClusterRecord) -> Self {
        Self {
            id: c.id,
            description: c.description,
            cloud_provider: c.cloud_provider,
            region: c.region,
            cluster_type: c.cluster_type,
            visibility: c.visibility.as_str().to_owned(),
            created_at: rfc3339(c.created_at),
            modified_at: rfc3339(c.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterList {
    pub clusters: Vec<ClusterDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodepoolDto {
    pub id: String,
    pub cluster: String,
    pub instance_types: Vec<String>,
    /// `on_demand` or `spot`.
    pub capacity_type: String,
    pub min_instances: i64,
    pub max_instances: i64,
    /// As set; the nodepool is never more visible than its cluster (`effective_visibility`).
    pub visibility: String,
    pub effective_visibility: String,
    pub created_at: String,
    pub modified_at: String,
}

impl From<NodepoolRecord> for NodepoolDto {
    fn from(n: NodepoolRecord) -> Self {
        Self {
            effective_visibility: nodepool_visibility(&n).as_str().to_owned(),
            id: n.id,
            cluster: n.cluster_id,
            instance_types: n.instance_types,
            capacity_type: n.capacity_type.as_str().to_owned(),
            min_instances: n.min_instances,
            max_instances: n.max_instances,
            visibility: n.visibility.as_str().to_owned(),
            created_at: rfc3339(n.created_at),
            modified_at: rfc3339(n.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodepoolList {
    pub nodepools: Vec<NodepoolDto>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRefDto {
    /// The organization that owns the model's app.
    pub account: String,
    pub app: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentTargetDto {
    pub cluster: String,
    pub nodepool: String,
    /// 0 (first choice) to 9.
    pub priority: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentDto {
    pub id: String,
    pub model: ModelRefDto,
    pub nodepools: Vec<DeploymentTargetDto>,
    pub min_replicas: i64,
    pub max_replicas: i64,
    /// As set; capped by the model, its app and the nodepools (`effective_visibility`).
    pub visibility: String,
    pub effective_visibility: String,
    pub created_at: String,
    pub modified_at: String,
}

impl From<DeploymentRecord> for DeploymentDto {
    fn from(d: DeploymentRecord) -> Self {
        Self {
            effective_visibility: deployment_visibility(&d).as_str().to_owned(),
            id: d.id,
            model: ModelRefDto {
                account: d.model.account_id,
                app: d.model.app_id,
                id: d.model.id,
            },
            nodepools: d
                .targets
                .into_iter()
                .map(|t| DeploymentTargetDto {
                    cluster: t.cluster_id,
                    nodepool: t.nodepool_id,
                    priority: t.priority,
                })
                .collect(),
            min_replicas: d.min_replicas,
            max_replicas: d.max_replicas,
            visibility: d.visibility.as_str().to_owned(),
            created_at: rfc3339(d.created_at),
            modified_at: rfc3339(d.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<DeploymentDto>,
}

/// A missing required field decodes as empty and is refused by the service after the
/// permission check (permission first: a caller without `compute.manage` learns nothing about
/// the body it would need).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClusterRequest {
    #[serde(default)]
    #[schema(required = true)]
    pub id: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// e.g. `aws`; 1–64 of letters, digits, `.`, `_`, `-`, `/`, `:`.
    #[serde(default)]
    #[schema(required = true)]
    pub cloud_provider: String,
    #[serde(default)]
    #[schema(required = true)]
    pub region: String,
    #[serde(default)]
    #[schema(required = true)]
    pub cluster_type: String,
    /// `private` (default), `org` or `public`.
    pub visibility: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClusterRequest {
    pub description: Option<String>,
    pub visibility: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNodepoolRequest {
    pub id: String,
    /// 1–20 instance type names.
    pub instance_types: Vec<String>,
    /// `on_demand` or `spot`.
    pub capacity_type: String,
    /// 0 ≤ min ≤ max ≤ 1000.
    pub min_instances: i64,
    pub max_instances: i64,
    pub visibility: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNodepoolRequest {
    pub instance_types: Option<Vec<String>>,
    pub capacity_type: Option<String>,
    pub min_instances: Option<i64>,
    pub max_instances: Option<i64>,
    pub visibility: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    /// Optional; when given it must be the deployment's organization.
    pub org: Option<String>,
    pub cluster: String,
    pub nodepool: String,
    /// 0 (first choice) to 9.
    pub priority: i64,
}

impl From<TargetRequest> for TargetInput {
    fn from(t: TargetRequest) -> Self {
        Self {
            org: t.org,
            cluster: t.cluster,
            nodepool: t.nodepool,
            priority: t.priority,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeploymentRequest {
    pub id: String,
    /// A model of an app of this organization; the caller needs `app.view` on it.
    pub model: ModelRefDto,
    /// 1–20 nodepools of this organization.
    pub nodepools: Vec<TargetRequest>,
    /// 0 ≤ min ≤ max ≤ 1000.
    pub min_replicas: i64,
    pub max_replicas: i64,
    pub visibility: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeploymentRequest {
    pub min_replicas: Option<i64>,
    pub max_replicas: Option<i64>,
    /// Replaces the whole list.
    pub nodepools: Option<Vec<TargetRequest>>,
    pub visibility: Option<String>,
}

/// Creates a cluster (`compute.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/compute-clusters", tag = "compute", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = CreateClusterRequest, responses(
    (status = 201, body = ClusterDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_cluster(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<CreateClusterRequest>,
) -> Result<(StatusCode, Json<ClusterDto>), ApiError> {
    let input = ClusterInput {
        id: body.id,
        description: body.description,
        cloud_provider: body.cloud_provider,
        region: body.region,
        cluster_type: body.cluster_type,
        visibility: body.visibility,
    };
    let cluster = service.create_cluster(&caller, &org, input).await?;
    Ok((StatusCode::CREATED, Json(cluster.value.into())))
}

/// The clusters the caller may read: all with `compute.view`, else those whose visibility
/// allows (`org`: members, `public`: anyone).
#[utoipa::path(get, path = "/v1/orgs/{org}/compute-clusters", tag = "compute", security((), ("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = ClusterList), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn list_clusters(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(org): Path<String>,
) -> Result<Json<ClusterList>, ApiError> {
    let clusters = service.list_clusters(&caller, &org).await?;
    Ok(Json(ClusterList {
        clusters: clusters.into_iter().map(ClusterDto::from).collect(),
    }))
}

/// A cluster (`compute.view`, or its visibility).
#[utoipa::path(get, path = "/v1/orgs/{org}/compute-clusters/{cluster}", tag = "compute", security((), ("bearer" = [])),
    params(("org" = String, Path), ("cluster" = String, Path)), responses(
    (status = 200, body = ClusterDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn get_cluster(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((org, cluster)): Path<(String, String)>,
) -> Result<Json<ClusterDto>, ApiError> {
    Ok(Json(
        service.get_cluster(&caller, &org, &cluster).await?.into(),
    ))
}

/// Changes a cluster's description and/or visibility (`compute.manage`).
#[utoipa::path(patch, path = "/v1/orgs/{org}/compute-clusters/{cluster}", tag = "compute", security(("bearer" = [])),
    params(("org" = String, Path), ("cluster" = String, Path)), request_body = UpdateClusterRequest, responses(
    (status = 200, body = ClusterDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn update_cluster(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, cluster)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateClusterRequest>,
) -> Result<Json<ClusterDto>, ApiError> {
    let patch = ClusterPatch {
        description: body.description,
        visibility: body.visibility,
    };
    let cluster = service
        .update_cluster(&caller, &org, &cluster, patch)
        .await?;
    Ok(Json(cluster.value.into()))
}

/// Deletes a cluster with its nodepools (`compute.manage`); refused with 409
/// `cluster.in_use` while a deployment uses one of its nodepools.
#[utoipa::path(delete, path = "/v1/orgs/{org}/compute-clusters/{cluster}", tag = "compute", security(("bearer" = [])),
    params(("org" = String, Path), ("cluster" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
async fn delete_cluster(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, cluster)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.delete_cluster(&caller, &org, &cluster).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a nodepool in a cluster (`compute.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/compute-clusters/{cluster}/nodepools", tag = "compute", security(("bearer" = [])),
    params(("org" = String, Path), ("cluster" = String, Path)), request_body = CreateNodepoolRequest, responses(
    (status = 201, body = NodepoolDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_nodepool(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, cluster)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateNodepoolRequest>,
) -> Result<(StatusCode, Json<NodepoolDto>), ApiError> {
    let input = NodepoolInput {
        id: body.id,
        instance_types: body.instance_types,
        capacity_type: body.capacity_type,
        min_instances: body.min_instances,
        max_instances: body.max_instances,
        visibility: body.visibility,
    };
    let nodepool = service
        .create_nodepool(&caller, &org, &cluster, input)
        .await?;
    Ok((StatusCode::CREATED, Json(nodepool.value.into())))
}

/// The nodepools of a cluster that the caller may read.
#[utoipa::path(get, path = "/v1/orgs/{org}/compute-clusters/{cluster}/nodepools", tag = "compute", security((), ("bearer" = [])),
    params(("org" = String, Path), ("cluster" = String, Path)), responses(
    (status = 200, body = NodepoolList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn list_nodepools(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((org, cluster)): Path<(String, String)>,
) -> Result<Json<NodepoolList>, ApiError> {
    let nodepools = service.list_nodepools(&caller, &org, &cluster).await?;
    Ok(Json(NodepoolList {
        nodepools: nodepools.into_iter().map(NodepoolDto::from).collect(),
    }))
}

/// A nodepool (`compute.view`, or its visibility capped by its cluster's).
#[utoipa::path(get, path = "/v1/orgs/{org}/compute-clusters/{cluster}/nodepools/{nodepool}", tag = "compute",
    security((), ("bearer" = [])), params(("org" = String, Path), ("cluster" = String, Path), ("nodepool" = String, Path)), responses(
    (status = 200, body = NodepoolDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn get_nodepool(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((org, cluster, nodepool)): Path<(String, String, String)>,
) -> Result<Json<NodepoolDto>, ApiError> {
    Ok(Json(
        service
            .get_nodepool(&caller, &org, &cluster, &nodepool)
            .await?
            .into(),
    ))
}

/// Changes a nodepool (`compute.manage`); min and max are checked after merging.
#[utoipa::path(patch, path = "/v1/orgs/{org}/compute-clusters/{cluster}/nodepools/{nodepool}", tag = "compute",
    security(("bearer" = [])), params(("org" = String, Path), ("cluster" = String, Path), ("nodepool" = String, Path)),
    request_body = UpdateNodepoolRequest, responses(
    (status = 200, body = NodepoolDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn update_nodepool(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, cluster, nodepool)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<UpdateNodepoolRequest>,
) -> Result<Json<NodepoolDto>, ApiError> {
    let patch = NodepoolPatch {
        instance_types: body.instance_types,
        capacity_type: body.capacity_type,
        min_instances: body.min_instances,
        max_instances: body.max_instances,
        visibility: body.visibility,
    };
    let nodepool = service
        .update_nodepool(&caller, &org, &cluster, &nodepool, patch)
        .await?;
    Ok(Json(nodepool.value.into()))
}

/// Deletes a nodepool (`compute.manage`); refused with 409 `nodepool.in_use` while a
/// deployment uses it.
#[utoipa::path(delete, path = "/v1/orgs/{org}/compute-clusters/{cluster}/nodepools/{nodepool}", tag = "compute",
    security(("bearer" = [])), params(("org" = String, Path), ("cluster" = String, Path), ("nodepool" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
async fn delete_nodepool(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, cluster, nodepool)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_nodepool(&caller, &org, &cluster, &nodepool)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deploys a model of one of the organization's apps onto its nodepools (`compute.deploy`,
/// plus `app.view` on the model's app).
#[utoipa::path(post, path = "/v1/orgs/{org}/deployments", tag = "compute", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = CreateDeploymentRequest, responses(
    (status = 201, body = DeploymentDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_deployment(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<CreateDeploymentRequest>,
) -> Result<(StatusCode, Json<DeploymentDto>), ApiError> {
    let input = DeploymentInput {
        id: body.id,
        model: ModelInput {
            account: body.model.account,
            app: body.model.app,
            id: body.model.id,
        },
        nodepools: body.nodepools.into_iter().map(TargetInput::from).collect(),
        min_replicas: body.min_replicas,
        max_replicas: body.max_replicas,
        visibility: body.visibility,
    };
    let deployment = service.create_deployment(&caller, &org, input).await?;
    Ok((StatusCode::CREATED, Json(deployment.value.into())))
}

/// The deployments the caller may read (`compute.view`, or their effective visibility).
#[utoipa::path(get, path = "/v1/orgs/{org}/deployments", tag = "compute", security((), ("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = DeploymentList), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn list_deployments(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(org): Path<String>,
) -> Result<Json<DeploymentList>, ApiError> {
    let deployments = service.list_deployments(&caller, &org).await?;
    Ok(Json(DeploymentList {
        deployments: deployments.into_iter().map(DeploymentDto::from).collect(),
    }))
}

/// A deployment (`compute.view`, or its effective visibility).
#[utoipa::path(get, path = "/v1/orgs/{org}/deployments/{deployment}", tag = "compute", security((), ("bearer" = [])),
    params(("org" = String, Path), ("deployment" = String, Path)), responses(
    (status = 200, body = DeploymentDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn get_deployment(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((org, deployment)): Path<(String, String)>,
) -> Result<Json<DeploymentDto>, ApiError> {
    Ok(Json(
        service
            .get_deployment(&caller, &org, &deployment)
            .await?
            .into(),
    ))
}

/// Changes replicas, nodepools and/or visibility of a deployment (`compute.deploy`).
#[utoipa::path(patch, path = "/v1/orgs/{org}/deployments/{deployment}", tag = "compute", security(("bearer" = [])),
    params(("org" = String, Path), ("deployment" = String, Path)), request_body = UpdateDeploymentRequest, responses(
    (status = 200, body = DeploymentDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn update_deployment(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, deployment)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateDeploymentRequest>,
) -> Result<Json<DeploymentDto>, ApiError> {
    let patch = DeploymentPatch {
        min_replicas: body.min_replicas,
        max_replicas: body.max_replicas,
        nodepools: body
            .nodepools
            .map(|t| t.into_iter().map(TargetInput::from).collect()),
        visibility: body.visibility,
    };
    let deployment = service
        .update_deployment(&caller, &org, &deployment, patch)
        .await?;
    Ok(Json(deployment.value.into()))
}

/// Deletes a deployment (`compute.deploy`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/deployments/{deployment}", tag = "compute", security(("bearer" = [])),
    params(("org" = String, Path), ("deployment" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_deployment(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, deployment)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_deployment(&caller, &org, &deployment)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
