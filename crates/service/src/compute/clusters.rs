//! An organization's clusters: created, edited and deleted under `compute.manage`, read under
//! `compute.view` or their visibility. Deleting a cluster deletes its nodepools, unless a
//! deployment uses one of them (`cluster.in_use`, checked in the write).

use portcullis_core::Permission::ComputeManage;
use portcullis_core::audit::Operation;
use portcullis_store::{ClusterRecord, NewCluster};
use serde_json::json;

use super::audit_entries::{audit_edit, audit_whole, entry};
use super::reading::Reader;
use super::{
    MAX_DESCRIPTION_CHARS, changed_visibility, label, optional_visibility, refuse_if_used,
};
use crate::authentication::parse_id;
use crate::input::description;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

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

impl Portcullis {
    pub async fn create_cluster(
        &self,
        caller: &Caller,
        org_id: &str,
        input: ClusterInput,
    ) -> Result<Committed<ClusterRecord>> {
        let org = self
            .authorized_org(caller, org_id, ComputeManage, Operation::ClusterCreate)
            .await?;
        let new = NewCluster {
            org: org.key,
            id: parse_id("id", &input.id)?,
            description: cluster_description(input.description.as_deref())?.unwrap_or_default(),
            cloud_provider: label("cloud_provider", &input.cloud_provider)?,
            region: label("region", &input.region)?,
            cluster_type: label("cluster_type", &input.cluster_type)?,
            visibility: optional_visibility(input.visibility.as_deref())?,
            created_by: caller.user(),
        };
        self.commit(caller, async |w| {
            let cluster = w.create_cluster(&new).await?;
            audit_whole(w, &org, Operation::ClusterCreate, &cluster);
            Ok((cluster, vec![]))
        })
        .await
    }

    /// The clusters of `org` that the caller may read, in id order.
    pub async fn list_clusters(&self, caller: &Caller, org_id: &str) -> Result<Vec<ClusterRecord>> {
        let reader = self.compute_reader(caller, org_id)?;
        let clusters = self.store().clusters(reader.org).await?;
        self.readable_in_org(caller, reader, clusters)
    }

    pub async fn get_cluster(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
    ) -> Result<ClusterRecord> {
        let reader = self.compute_reader(caller, org_id)?;
        self.readable_cluster(caller, reader, cluster).await
    }

    /// A cluster the caller may read, or the refusal.
    pub(super) async fn readable_cluster(
        &self,
        caller: &Caller,
        reader: Reader,
        cluster: &str,
    ) -> Result<ClusterRecord> {
        let found = self.store().cluster(reader.org, cluster).await?;
        self.readable(caller, reader, found)
    }

    pub async fn update_cluster(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        patch: ClusterPatch,
    ) -> Result<Committed<ClusterRecord>> {
        let org = self
            .authorized_org(caller, org_id, ComputeManage, Operation::ClusterUpdate)
            .await?;
        if patch.description.is_none() && patch.visibility.is_none() {
            return Err(ServiceError::invalid(
                "field.required",
                "description",
                "give at least one of `description`, `visibility`",
            ));
        }
        let new_description = cluster_description(patch.description.as_deref())?;
        let new_visibility = changed_visibility(patch.visibility.as_deref())?;
        self.commit(caller, async |w| {
            let current = w.cluster(org.key, cluster).await?;
            let edit = w
                .update_cluster(current.row, new_description.as_deref(), new_visibility)
                .await?;
            Ok((audit_edit(w, &org, Operation::ClusterUpdate, edit), vec![]))
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
        let org = self
            .authorized_org(caller, org_id, ComputeManage, Operation::ClusterDelete)
            .await?;
        self.commit(caller, async |w| {
            let record = w.cluster(org.key, cluster).await?;
            let users = w.deployments_on_cluster(record.row).await?;
            let used = format!("cluster `{}` has nodepools used by", record.id);
            refuse_if_used(&users, "cluster.in_use", used)?;
            let nodepools = w.delete_cluster(record.row).await?;
            w.audit(
                entry(&org, Operation::ClusterDelete, &record)
                    .with_details(json!({"nodepools_deleted": nodepools})),
            );
            Ok(((), vec![]))
        })
        .await
    }
}

fn cluster_description(raw: Option<&str>) -> Result<Option<String>> {
    raw.map(|raw| description(raw, MAX_DESCRIPTION_CHARS))
        .transpose()
}
