//! Compute: an organization's clusters, their nodepools, and deployments of the org's models
//! onto those nodepools. None of this provisions anything; these are the records that
//! permissions are decided about.
//!
//! Clusters and nodepools are addressed by (org, id) and (cluster, id), case-insensitively, like
//! apps. Deleting a cluster deletes its nodepools; a nodepool that a deployment uses cannot be
//! deleted (the store refuses at the foreign key, the service explains it first). A deployment
//! goes with its model (and so with the model's app).

use std::collections::HashMap;

use portcullis_core::{AccountId, AppKey, OrgKey, Timestamp, UserKey, Visibility};
use sqlx::{Any, AnyConnection, Executor};

use crate::error::conflict_as;
use crate::rows::{app_key, id_of, org_key, visibility};
use crate::{Result, Store, StoreError, Write};

/// On-demand or spot capacity for a nodepool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityType {
    OnDemand,
    Spot,
}

impl CapacityType {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "on_demand",
            CapacityType::Spot => "spot",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "on_demand" => Some(CapacityType::OnDemand),
            "spot" => Some(CapacityType::Spot),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewCluster {
    pub org: OrgKey,
    pub id: AccountId,
    pub description: String,
    pub cloud_provider: String,
    pub region: String,
    pub cluster_type: String,
    pub visibility: Visibility,
    pub created_by: Option<UserKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRecord {
    /// Store row id.
    pub row: i64,
    pub org: OrgKey,
    pub id: String,
    pub description: String,
    pub cloud_provider: String,
    pub region: String,
    pub cluster_type: String,
    pub visibility: Visibility,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewNodepool {
    pub cluster: i64,
    pub id: AccountId,
    pub instance_types: Vec<String>,
    pub capacity_type: CapacityType,
    pub min_instances: i64,
    pub max_instances: i64,
    pub visibility: Visibility,
    pub created_by: Option<UserKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodepoolRecord {
    pub row: i64,
    pub cluster_row: i64,
    pub cluster_id: String,
    pub cluster_visibility: Visibility,
    pub id: String,
    pub instance_types: Vec<String>,
    pub capacity_type: CapacityType,
    pub min_instances: i64,
    pub max_instances: i64,
    pub visibility: Visibility,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// What a nodepool update changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct NodepoolChanges {
    pub instance_types: Option<Vec<String>>,
    pub capacity_type: Option<CapacityType>,
    pub min_instances: Option<i64>,
    pub max_instances: Option<i64>,
    pub visibility: Option<Visibility>,
}

/// A model that can be deployed: its row and where it lives.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRef {
    pub row: i64,
    pub app: AppKey,
    pub account_id: String,
    pub app_id: String,
    pub id: String,
    pub visibility: Visibility,
    pub app_visibility: Visibility,
}

/// One nodepool a deployment runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentTarget {
    pub nodepool_row: i64,
    pub cluster_id: String,
    pub nodepool_id: String,
    pub priority: i64,
    /// The nodepool's visibility capped by its cluster's.
    pub visibility: Visibility,
}

#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub org: OrgKey,
    pub id: AccountId,
    pub model: i64,
    /// (nodepool row, priority).
    pub targets: Vec<(i64, i64)>,
    pub min_replicas: i64,
    pub max_replicas: i64,
    pub visibility: Visibility,
    pub created_by: Option<UserKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    pub row: i64,
    pub org: OrgKey,
    pub id: String,
    pub model: ModelRef,
    pub targets: Vec<DeploymentTarget>,
    pub min_replicas: i64,
    pub max_replicas: i64,
    pub visibility: Visibility,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// What a deployment update changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct DeploymentChanges {
    pub min_replicas: Option<i64>,
    pub max_replicas: Option<i64>,
    /// Replaces every target: (nodepool row, priority).
    pub targets: Option<Vec<(i64, i64)>>,
    pub visibility: Option<Visibility>,
}

/// A cluster as stored.
#[derive(sqlx::FromRow)]
struct ClusterRow {
    id: i64,
    org_id: i64,
    handle: String,
    description: String,
    cloud_provider: String,
    region: String,
    cluster_type: String,
    visibility: String,
    created_at: i64,
    modified_at: i64,
}

const CLUSTER_COLUMNS: &str = "c.id, c.org_id, c.handle, c.description, c.cloud_provider, c.region, \
                               c.cluster_type, c.visibility, c.created_at, c.modified_at";

impl ClusterRow {
    fn into_record(self) -> Result<ClusterRecord> {
        Ok(ClusterRecord {
            row: self.id,
            org: org_key(self.org_id)?,
            id: self.handle,
            description: self.description,
            cloud_provider: self.cloud_provider,
            region: self.region,
            cluster_type: self.cluster_type,
            visibility: visibility(&self.visibility)?,
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

/// A nodepool as stored, with its cluster's id and visibility.
#[derive(sqlx::FromRow)]
struct NodepoolRow {
    id: i64,
    cluster_id: i64,
    cluster_handle: String,
    cluster_visibility: String,
    handle: String,
    instance_types: String,
    capacity_type: String,
    min_instances: i64,
    max_instances: i64,
    visibility: String,
    created_at: i64,
    modified_at: i64,
}

const NODEPOOL_COLUMNS: &str = "n.id, n.cluster_id, c.handle AS cluster_handle, \
                                c.visibility AS cluster_visibility, n.handle, n.instance_types, \
                                n.capacity_type, n.min_instances, n.max_instances, n.visibility, \
                                n.created_at, n.modified_at";
const NODEPOOL_FROM: &str = "nodepools n JOIN compute_clusters c ON c.id = n.cluster_id";

impl NodepoolRow {
    fn into_record(self) -> Result<NodepoolRecord> {
        let instance_types: Vec<String> = serde_json::from_str(&self.instance_types)
            .map_err(|e| StoreError::Corrupt(format!("nodepool instance types: {e}")))?;
        let capacity = self.capacity_type;
        let capacity_type = CapacityType::parse(&capacity)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown capacity type `{capacity}`")))?;
        Ok(NodepoolRecord {
            row: self.id,
            cluster_row: self.cluster_id,
            cluster_id: self.cluster_handle,
            cluster_visibility: visibility(&self.cluster_visibility)?,
            id: self.handle,
            instance_types,
            capacity_type,
            min_instances: self.min_instances,
            max_instances: self.max_instances,
            visibility: visibility(&self.visibility)?,
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

/// A deployment as stored, with its model and the model's app and account (targets apart).
#[derive(sqlx::FromRow)]
struct DeploymentRow {
    id: i64,
    org_id: i64,
    handle: String,
    min_replicas: i64,
    max_replicas: i64,
    visibility: String,
    created_at: i64,
    modified_at: i64,
    #[sqlx(flatten)]
    model: ModelRow,
}

const DEPLOYMENT_COLUMNS: &str = "d.id, d.org_id, d.handle, d.min_replicas, d.max_replicas, d.visibility, \
     d.created_at, d.modified_at, m.id AS model_row, m.handle AS model_handle, \
     m.visibility AS model_visibility, a.id AS app_row, a.handle AS app_handle, \
     a.visibility AS app_visibility, acc.handle AS account_handle";
const DEPLOYMENT_FROM: &str = "deployments d JOIN models m ON m.id = d.model_id \
     JOIN apps a ON a.id = m.app_id JOIN accounts acc ON acc.id = a.owner_id";

impl DeploymentRow {
    fn into_record(self) -> Result<DeploymentRecord> {
        Ok(DeploymentRecord {
            row: self.id,
            org: org_key(self.org_id)?,
            id: self.handle,
            model: self.model.into_record()?,
            targets: Vec::new(),
            min_replicas: self.min_replicas,
            max_replicas: self.max_replicas,
            visibility: visibility(&self.visibility)?,
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

/// One nodepool of a deployment, with the ids and visibilities of the nodepool and cluster.
#[derive(sqlx::FromRow)]
struct TargetRow {
    deployment_id: i64,
    nodepool_row: i64,
    cluster_handle: String,
    nodepool_handle: String,
    cluster_visibility: String,
    nodepool_visibility: String,
    priority: i64,
}

const TARGET_SELECT: &str = "SELECT dn.deployment_id, n.id AS nodepool_row, c.handle AS cluster_handle, \
     n.handle AS nodepool_handle, c.visibility AS cluster_visibility, \
     n.visibility AS nodepool_visibility, dn.priority \
     FROM deployment_nodepools dn JOIN nodepools n ON n.id = dn.nodepool_id \
     JOIN compute_clusters c ON c.id = n.cluster_id";

fn attach_targets(deployments: &mut [DeploymentRecord], rows: Vec<TargetRow>) -> Result<()> {
    let mut by_row: HashMap<i64, Vec<DeploymentTarget>> = HashMap::new();
    for row in rows {
        by_row
            .entry(row.deployment_id)
            .or_default()
            .push(DeploymentTarget {
                nodepool_row: row.nodepool_row,
                cluster_id: row.cluster_handle,
                nodepool_id: row.nodepool_handle,
                priority: row.priority,
                visibility: visibility(&row.cluster_visibility)?
                    .min(visibility(&row.nodepool_visibility)?),
            });
    }
    for deployment in deployments {
        let mut targets = by_row.remove(&deployment.row).unwrap_or_default();
        targets.sort_by(|a, b| {
            (a.priority, &a.cluster_id, &a.nodepool_id).cmp(&(
                b.priority,
                &b.cluster_id,
                &b.nodepool_id,
            ))
        });
        deployment.targets = targets;
    }
    Ok(())
}

/// A model with its app and the app's account.
#[derive(sqlx::FromRow)]
struct ModelRow {
    model_row: i64,
    model_handle: String,
    model_visibility: String,
    app_row: i64,
    app_handle: String,
    app_visibility: String,
    account_handle: String,
}

impl ModelRow {
    fn into_record(self) -> Result<ModelRef> {
        Ok(ModelRef {
            row: self.model_row,
            app: app_key(self.app_row)?,
            account_id: self.account_handle,
            app_id: self.app_handle,
            id: self.model_handle,
            visibility: visibility(&self.model_visibility)?,
            app_visibility: visibility(&self.app_visibility)?,
        })
    }
}

const MODEL_SELECT: &str = "SELECT m.id AS model_row, m.handle AS model_handle, \
     m.visibility AS model_visibility, a.id AS app_row, a.handle AS app_handle, \
     a.visibility AS app_visibility, acc.handle AS account_handle \
     FROM models m JOIN apps a ON a.id = m.app_id JOIN accounts acc ON acc.id = a.owner_id \
     WHERE m.app_id = $1 AND m.handle_key = $2";

// The reads both a `Store` (its pool) and a `Write` (its transaction) make, written once.

/// The cluster `id` (any case) of `org`.
async fn find_cluster<'c>(
    db: impl Executor<'c, Database = Any>,
    org: OrgKey,
    id: &str,
) -> Result<Option<ClusterRecord>> {
    let row: Option<ClusterRow> = sqlx::query_as(&format!(
        "SELECT {CLUSTER_COLUMNS} FROM compute_clusters c WHERE c.org_id = $1 AND c.handle_key = $2"
    ))
    .bind(id_of(org.0))
    .bind(id.to_ascii_lowercase())
    .fetch_optional(db)
    .await?;
    row.map(ClusterRow::into_record).transpose()
}

/// The nodepool `id` (any case) of a cluster.
async fn find_nodepool<'c>(
    db: impl Executor<'c, Database = Any>,
    cluster: i64,
    id: &str,
) -> Result<Option<NodepoolRecord>> {
    let row: Option<NodepoolRow> = sqlx::query_as(&format!(
        "SELECT {NODEPOOL_COLUMNS} FROM {NODEPOOL_FROM} WHERE n.cluster_id = $1 AND n.handle_key = $2"
    ))
    .bind(cluster)
    .bind(id.to_ascii_lowercase())
    .fetch_optional(db)
    .await?;
    row.map(NodepoolRow::into_record).transpose()
}

/// A model of `app` by id (any case).
async fn find_model<'c>(
    db: impl Executor<'c, Database = Any>,
    app: AppKey,
    id: &str,
) -> Result<Option<ModelRef>> {
    let row: Option<ModelRow> = sqlx::query_as(MODEL_SELECT)
        .bind(id_of(app.0))
        .bind(id.to_ascii_lowercase())
        .fetch_optional(db)
        .await?;
    row.map(ModelRow::into_record).transpose()
}

/// The deployment `id` (any case) of `org`, with its targets.
async fn find_deployment(
    conn: &mut AnyConnection,
    org: OrgKey,
    id: &str,
) -> Result<Option<DeploymentRecord>> {
    let row: Option<DeploymentRow> = sqlx::query_as(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM {DEPLOYMENT_FROM} WHERE d.org_id = $1 AND d.handle_key = $2"
    ))
    .bind(id_of(org.0))
    .bind(id.to_ascii_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => with_targets(conn, row).await.map(Some),
        None => Ok(None),
    }
}

/// One deployment with its targets.
async fn with_targets(conn: &mut AnyConnection, row: DeploymentRow) -> Result<DeploymentRecord> {
    let mut deployment = [row.into_record()?];
    let targets: Vec<TargetRow> =
        sqlx::query_as(&format!("{TARGET_SELECT} WHERE dn.deployment_id = $1"))
            .bind(deployment[0].row)
            .fetch_all(conn)
            .await?;
    attach_targets(&mut deployment, targets)?;
    let [deployment] = deployment;
    Ok(deployment)
}

fn instance_types_json(types: &[String]) -> String {
    serde_json::Value::from(types.to_vec()).to_string()
}

impl Store {
    /// Every cluster of `org`, in id order.
    pub async fn clusters(&self, org: OrgKey) -> Result<Vec<ClusterRecord>> {
        let rows: Vec<ClusterRow> = sqlx::query_as(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM compute_clusters c WHERE c.org_id = $1 ORDER BY c.handle_key"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ClusterRow::into_record).collect()
    }

    /// The cluster `id` (any case) of `org`.
    pub async fn cluster(&self, org: OrgKey, id: &str) -> Result<Option<ClusterRecord>> {
        find_cluster(&self.pool, org, id).await
    }

    /// Every nodepool of a cluster, in id order.
    pub async fn nodepools(&self, cluster: i64) -> Result<Vec<NodepoolRecord>> {
        let rows: Vec<NodepoolRow> = sqlx::query_as(&format!(
            "SELECT {NODEPOOL_COLUMNS} FROM {NODEPOOL_FROM} WHERE n.cluster_id = $1 ORDER BY n.handle_key"
        ))
        .bind(cluster)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(NodepoolRow::into_record).collect()
    }

    pub async fn nodepool(&self, cluster: i64, id: &str) -> Result<Option<NodepoolRecord>> {
        find_nodepool(&self.pool, cluster, id).await
    }

    /// A model of `app` by id (any case).
    pub async fn deployable_model(&self, app: AppKey, id: &str) -> Result<Option<ModelRef>> {
        find_model(&self.pool, app, id).await
    }

    /// Every deployment of `org`, in id order, with its targets.
    pub async fn deployments(&self, org: OrgKey) -> Result<Vec<DeploymentRecord>> {
        let rows: Vec<DeploymentRow> = sqlx::query_as(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM {DEPLOYMENT_FROM} WHERE d.org_id = $1 ORDER BY d.handle_key"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        let mut deployments = rows
            .into_iter()
            .map(DeploymentRow::into_record)
            .collect::<Result<Vec<_>>>()?;
        let targets: Vec<TargetRow> = sqlx::query_as(&format!(
            "{TARGET_SELECT} JOIN deployments d ON d.id = dn.deployment_id WHERE d.org_id = $1"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        attach_targets(&mut deployments, targets)?;
        Ok(deployments)
    }

    pub async fn deployment(&self, org: OrgKey, id: &str) -> Result<Option<DeploymentRecord>> {
        find_deployment(&mut *self.pool.acquire().await?, org, id).await
    }
}

impl Write {
    pub async fn create_cluster(&mut self, new: &NewCluster) -> Result<ClusterRecord> {
        let now = self.now();
        let row: i64 = sqlx::query_scalar(
            "INSERT INTO compute_clusters (org_id, handle, handle_key, description, cloud_provider, region, \
             cluster_type, visibility, created_by, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(id_of(new.org.0))
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(&new.description)
        .bind(&new.cloud_provider)
        .bind(&new.region)
        .bind(&new.cluster_type)
        .bind(new.visibility.as_str())
        .bind(new.created_by.map(|u| id_of(u.0)))
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("cluster"))?;
        self.cluster_by_row(row).await
    }

    async fn cluster_by_row(&mut self, row: i64) -> Result<ClusterRecord> {
        let found: Option<ClusterRow> = sqlx::query_as(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM compute_clusters c WHERE c.id = $1"
        ))
        .bind(row)
        .fetch_optional(self.conn())
        .await?;
        found
            .map(ClusterRow::into_record)
            .transpose()?
            .ok_or(StoreError::NotFound("cluster"))
    }

    /// The cluster `id` of `org` as this transaction sees it.
    pub async fn cluster(&mut self, org: OrgKey, id: &str) -> Result<ClusterRecord> {
        find_cluster(self.conn(), org, id)
            .await?
            .ok_or(StoreError::NotFound("cluster"))
    }

    /// Changes the description and/or visibility; returns the cluster before and after.
    pub async fn update_cluster(
        &mut self,
        row: i64,
        description: Option<&str>,
        visibility: Option<Visibility>,
    ) -> Result<(ClusterRecord, ClusterRecord)> {
        let before = self.cluster_by_row(row).await?;
        let now = self.now();
        sqlx::query(
            "UPDATE compute_clusters SET description = COALESCE($1, description), \
             visibility = COALESCE($2, visibility), modified_at = $3 WHERE id = $4",
        )
        .bind(description)
        .bind(visibility.map(Visibility::as_str))
        .bind(now)
        .bind(row)
        .execute(self.conn())
        .await?;
        let after = self.cluster_by_row(row).await?;
        Ok((before, after))
    }

    /// The ids of the deployments that use any nodepool of the cluster.
    pub async fn deployments_on_cluster(&mut self, cluster: i64) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT d.handle FROM deployments d \
             JOIN deployment_nodepools dn ON dn.deployment_id = d.id \
             JOIN nodepools n ON n.id = dn.nodepool_id WHERE n.cluster_id = $1 ORDER BY d.handle",
        )
        .bind(cluster)
        .fetch_all(self.conn())
        .await?;
        Ok(ids)
    }

    /// The ids of the deployments that use the nodepool.
    pub async fn deployments_on_nodepool(&mut self, nodepool: i64) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT d.handle FROM deployments d JOIN deployment_nodepools dn ON dn.deployment_id = d.id \
             WHERE dn.nodepool_id = $1 ORDER BY d.handle",
        )
        .bind(nodepool)
        .fetch_all(self.conn())
        .await?;
        Ok(ids)
    }

    /// Deletes the cluster and its nodepools; returns the ids of the nodepools deleted with it.
    pub async fn delete_cluster(&mut self, row: i64) -> Result<Vec<String>> {
        let nodepools: Vec<String> = sqlx::query_scalar(
            "SELECT handle FROM nodepools WHERE cluster_id = $1 ORDER BY handle_key",
        )
        .bind(row)
        .fetch_all(self.conn())
        .await?;
        let deleted = sqlx::query("DELETE FROM compute_clusters WHERE id = $1")
            .bind(row)
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("cluster"));
        }
        Ok(nodepools)
    }

    pub async fn create_nodepool(&mut self, new: &NewNodepool) -> Result<NodepoolRecord> {
        let now = self.now();
        let row: i64 = sqlx::query_scalar(
            "INSERT INTO nodepools (cluster_id, handle, handle_key, instance_types, capacity_type, \
             min_instances, max_instances, visibility, created_by, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(new.cluster)
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(instance_types_json(&new.instance_types))
        .bind(new.capacity_type.as_str())
        .bind(new.min_instances)
        .bind(new.max_instances)
        .bind(new.visibility.as_str())
        .bind(new.created_by.map(|u| id_of(u.0)))
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("nodepool"))?;
        self.nodepool_by_row(row).await
    }

    async fn nodepool_by_row(&mut self, row: i64) -> Result<NodepoolRecord> {
        let found: Option<NodepoolRow> = sqlx::query_as(&format!(
            "SELECT {NODEPOOL_COLUMNS} FROM {NODEPOOL_FROM} WHERE n.id = $1"
        ))
        .bind(row)
        .fetch_optional(self.conn())
        .await?;
        found
            .map(NodepoolRow::into_record)
            .transpose()?
            .ok_or(StoreError::NotFound("nodepool"))
    }

    /// The nodepool `id` of a cluster as this transaction sees it.
    pub async fn nodepool(&mut self, cluster: i64, id: &str) -> Result<NodepoolRecord> {
        find_nodepool(self.conn(), cluster, id)
            .await?
            .ok_or(StoreError::NotFound("nodepool"))
    }

    /// The nodepool `cluster/nodepool` of `org`, if there is one.
    pub async fn org_nodepool(
        &mut self,
        org: OrgKey,
        cluster: &str,
        nodepool: &str,
    ) -> Result<Option<NodepoolRecord>> {
        let found: Option<NodepoolRow> = sqlx::query_as(&format!(
            "SELECT {NODEPOOL_COLUMNS} FROM {NODEPOOL_FROM} \
             WHERE c.org_id = $1 AND c.handle_key = $2 AND n.handle_key = $3"
        ))
        .bind(id_of(org.0))
        .bind(cluster.to_ascii_lowercase())
        .bind(nodepool.to_ascii_lowercase())
        .fetch_optional(self.conn())
        .await?;
        found.map(NodepoolRow::into_record).transpose()
    }

    /// Applies `changes` (the caller checked the merged min/max); returns before and after.
    pub async fn update_nodepool(
        &mut self,
        row: i64,
        changes: &NodepoolChanges,
    ) -> Result<(NodepoolRecord, NodepoolRecord)> {
        let before = self.nodepool_by_row(row).await?;
        let now = self.now();
        sqlx::query(
            "UPDATE nodepools SET instance_types = COALESCE($1, instance_types), \
             capacity_type = COALESCE($2, capacity_type), min_instances = COALESCE($3, min_instances), \
             max_instances = COALESCE($4, max_instances), visibility = COALESCE($5, visibility), \
             modified_at = $6 WHERE id = $7",
        )
        .bind(changes.instance_types.as_deref().map(instance_types_json))
        .bind(changes.capacity_type.map(CapacityType::as_str))
        .bind(changes.min_instances)
        .bind(changes.max_instances)
        .bind(changes.visibility.map(Visibility::as_str))
        .bind(now)
        .bind(row)
        .execute(self.conn())
        .await?;
        let after = self.nodepool_by_row(row).await?;
        Ok((before, after))
    }

    pub async fn delete_nodepool(&mut self, row: i64) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM nodepools WHERE id = $1")
            .bind(row)
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("nodepool"));
        }
        Ok(())
    }

    /// A model of `app` by id, as this transaction sees it.
    pub async fn deployable_model(&mut self, app: AppKey, id: &str) -> Result<Option<ModelRef>> {
        find_model(self.conn(), app, id).await
    }

    pub async fn create_deployment(&mut self, new: &NewDeployment) -> Result<DeploymentRecord> {
        let now = self.now();
        let row: i64 = sqlx::query_scalar(
            "INSERT INTO deployments (org_id, handle, handle_key, model_id, min_replicas, max_replicas, \
             visibility, created_by, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(id_of(new.org.0))
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(new.model)
        .bind(new.min_replicas)
        .bind(new.max_replicas)
        .bind(new.visibility.as_str())
        .bind(new.created_by.map(|u| id_of(u.0)))
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("deployment"))?;
        self.set_targets(row, &new.targets).await?;
        self.deployment_by_row(row).await
    }

    async fn set_targets(&mut self, deployment: i64, targets: &[(i64, i64)]) -> Result<()> {
        sqlx::query("DELETE FROM deployment_nodepools WHERE deployment_id = $1")
            .bind(deployment)
            .execute(self.conn())
            .await?;
        for (nodepool, priority) in targets {
            sqlx::query(
                "INSERT INTO deployment_nodepools (deployment_id, nodepool_id, priority) VALUES ($1, $2, $3)",
            )
            .bind(deployment)
            .bind(*nodepool)
            .bind(*priority)
            .execute(self.conn())
            .await
            .map_err(conflict_as("deployment nodepool"))?;
        }
        Ok(())
    }

    async fn deployment_by_row(&mut self, row: i64) -> Result<DeploymentRecord> {
        let found: Option<DeploymentRow> = sqlx::query_as(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM {DEPLOYMENT_FROM} WHERE d.id = $1"
        ))
        .bind(row)
        .fetch_optional(self.conn())
        .await?;
        match found {
            Some(found) => with_targets(self.conn(), found).await,
            None => Err(StoreError::NotFound("deployment")),
        }
    }

    /// The deployment `id` of `org` as this transaction sees it.
    pub async fn deployment(&mut self, org: OrgKey, id: &str) -> Result<DeploymentRecord> {
        find_deployment(self.conn(), org, id)
            .await?
            .ok_or(StoreError::NotFound("deployment"))
    }

    /// Applies `changes` (the caller checked the merged min/max); returns before and after.
    pub async fn update_deployment(
        &mut self,
        row: i64,
        changes: &DeploymentChanges,
    ) -> Result<(DeploymentRecord, DeploymentRecord)> {
        let before = self.deployment_by_row(row).await?;
        let now = self.now();
        sqlx::query(
            "UPDATE deployments SET min_replicas = COALESCE($1, min_replicas), \
             max_replicas = COALESCE($2, max_replicas), visibility = COALESCE($3, visibility), \
             modified_at = $4 WHERE id = $5",
        )
        .bind(changes.min_replicas)
        .bind(changes.max_replicas)
        .bind(changes.visibility.map(Visibility::as_str))
        .bind(now)
        .bind(row)
        .execute(self.conn())
        .await?;
        if let Some(targets) = &changes.targets {
            self.set_targets(row, targets).await?;
        }
        let after = self.deployment_by_row(row).await?;
        Ok((before, after))
    }

    pub async fn delete_deployment(&mut self, row: i64) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM deployments WHERE id = $1")
            .bind(row)
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("deployment"));
        }
        Ok(())
    }
}
