//! The nodepools of a cluster: created, edited and deleted under `compute.manage`, read by
//! whoever reads the cluster and the nodepool. A nodepool that a deployment uses cannot be
//! deleted (`nodepool.in_use`, checked in the write).

use portcullis_core::OrgKey;
use portcullis_core::Permission::ComputeManage;
use portcullis_core::audit::Operation;
use portcullis_store::{CapacityType, NewNodepool, NodepoolChanges, NodepoolRecord, Write};

use super::audit_entries::{audit_edit, audit_whole, entry};
use super::{
    MAX_INSTANCE_TYPES, MAX_INSTANCES, changed_visibility, count_range, label, optional_visibility,
    refuse_if_used,
};
use crate::authentication::parse_id;
use crate::input::shown;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

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

impl Portcullis {
    pub async fn create_nodepool(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        input: NodepoolInput,
    ) -> Result<Committed<NodepoolRecord>> {
        let org = self
            .authorized_org(caller, org_id, ComputeManage, Operation::NodepoolCreate)
            .await?;
        let id = parse_id("id", &input.id)?;
        let instance_types = instance_types(&input.instance_types)?;
        let capacity_type = capacity_type(&input.capacity_type)?;
        instances(input.min_instances, input.max_instances)?;
        let visibility = optional_visibility(input.visibility.as_deref())?;
        self.commit(caller, async |w| {
            let parent = w.cluster(org.key, cluster).await?;
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
            audit_whole(w, &org, Operation::NodepoolCreate, &nodepool);
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
        let reader = self.compute_reader(caller, org_id)?;
        let parent = self.readable_cluster(caller, reader, cluster).await?;
        let mut nodepools = self.store().nodepools(parent.row).await?;
        nodepools.retain(|n| reader.reads(n));
        Ok(nodepools)
    }

    pub async fn get_nodepool(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        nodepool: &str,
    ) -> Result<NodepoolRecord> {
        let reader = self.compute_reader(caller, org_id)?;
        let parent = self.readable_cluster(caller, reader, cluster).await?;
        let found = self.store().nodepool(parent.row, nodepool).await?;
        self.readable(caller, reader, found)
    }

    pub async fn update_nodepool(
        &self,
        caller: &Caller,
        org_id: &str,
        cluster: &str,
        nodepool: &str,
        patch: NodepoolPatch,
    ) -> Result<Committed<NodepoolRecord>> {
        let org = self
            .authorized_org(caller, org_id, ComputeManage, Operation::NodepoolUpdate)
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
            visibility: changed_visibility(patch.visibility.as_deref())?,
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
        self.commit(caller, async |w| {
            let current = nodepool_of_cluster(w, org.key, cluster, nodepool).await?;
            instances(
                changes.min_instances.unwrap_or(current.min_instances),
                changes.max_instances.unwrap_or(current.max_instances),
            )?;
            let edit = w.update_nodepool(current.row, &changes).await?;
            Ok((audit_edit(w, &org, Operation::NodepoolUpdate, edit), vec![]))
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
        let org = self
            .authorized_org(caller, org_id, ComputeManage, Operation::NodepoolDelete)
            .await?;
        self.commit(caller, async |w| {
            let record = nodepool_of_cluster(w, org.key, cluster, nodepool).await?;
            let users = w.deployments_on_nodepool(record.row).await?;
            let used = format!("nodepool `{}/{}` is used by", record.cluster_id, record.id);
            refuse_if_used(&users, "nodepool.in_use", used)?;
            w.delete_nodepool(record.row).await?;
            w.audit(entry(&org, Operation::NodepoolDelete, &record));
            Ok(((), vec![]))
        })
        .await
    }
}

/// The nodepool `nodepool` of the organization's cluster `cluster`, in the write (`not_found`
/// naming whichever is missing).
async fn nodepool_of_cluster(
    w: &mut Write,
    org: OrgKey,
    cluster: &str,
    nodepool: &str,
) -> Result<NodepoolRecord> {
    let parent = w.cluster(org, cluster).await?;
    Ok(w.nodepool(parent.row, nodepool).await?)
}

const INSTANCE_FIELDS: [&str; 2] = ["min_instances", "max_instances"];
const INSTANCE_CODES: [&str; 2] = ["nodepool.invalid_instances", "nodepool.min_above_max"];

pub(super) fn instances(min: i64, max: i64) -> Result<()> {
    count_range(INSTANCE_FIELDS, [min, max], MAX_INSTANCES, INSTANCE_CODES)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_are_one_to_twenty_distinct_labels() {
        assert!(instance_types(&["g5.xlarge".into()]).is_ok());
        assert!(instance_types(&[]).is_err());
        assert!(instance_types(&["".into()]).is_err());
        assert!(instance_types(&["a".into(), "a".into()]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(instance_types(&many).is_err());
        assert!(instance_types(&many[..20]).is_ok());
    }
}
