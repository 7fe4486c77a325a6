//! What the audit log records of a compute change. Each thing names itself (the entry's
//! targets) and lists its fields; creating or deleting a thing records every field, an edit
//! only the fields it changed, before and after, and an edit that changed nothing no entry.

use portcullis_core::audit::Operation;
use portcullis_store::{AuditRecord, ClusterRecord, DeploymentRecord, NodepoolRecord, Write};
use serde_json::{Map, Value, json};

use super::AuthorizedOrg;

/// A compute thing as the audit log records it.
pub(super) trait Audited {
    /// Which thing it is: the organization's id and the thing's ids.
    fn targets(&self, org_name: &str) -> Value;
    /// Its fields, by name.
    fn fields(&self) -> Map<String, Value>;
}

impl Audited for ClusterRecord {
    fn targets(&self, org_name: &str) -> Value {
        json!({"org": org_name, "cluster": self.id})
    }

    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("description".into(), json!(self.description));
        m.insert("cloud_provider".into(), json!(self.cloud_provider));
        m.insert("region".into(), json!(self.region));
        m.insert("cluster_type".into(), json!(self.cluster_type));
        m.insert("visibility".into(), json!(self.visibility.as_str()));
        m
    }
}

impl Audited for NodepoolRecord {
    fn targets(&self, org_name: &str) -> Value {
        json!({"org": org_name, "cluster": self.cluster_id, "nodepool": self.id})
    }

    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("instance_types".into(), json!(self.instance_types));
        m.insert("capacity_type".into(), json!(self.capacity_type.as_str()));
        m.insert("min_instances".into(), json!(self.min_instances));
        m.insert("max_instances".into(), json!(self.max_instances));
        m.insert("visibility".into(), json!(self.visibility.as_str()));
        m
    }
}

impl Audited for DeploymentRecord {
    fn targets(&self, org_name: &str) -> Value {
        json!({"org": org_name, "deployment": self.id})
    }

    fn fields(&self) -> Map<String, Value> {
        let model = &self.model;
        let mut m = Map::new();
        m.insert(
            "model".into(),
            json!({"account": model.account_id, "app": model.app_id, "id": model.id}),
        );
        m.insert(
            "nodepools".into(),
            Value::Array(
                self.targets
                    .iter()
                    .map(|t| json!({"cluster": t.cluster_id, "nodepool": t.nodepool_id, "priority": t.priority}))
                    .collect(),
            ),
        );
        m.insert("min_replicas".into(), json!(self.min_replicas));
        m.insert("max_replicas".into(), json!(self.max_replicas));
        m.insert("visibility".into(), json!(self.visibility.as_str()));
        m
    }
}

/// The entry of `operation` on `thing`, without details.
pub(super) fn entry(
    org: &AuthorizedOrg,
    operation: Operation,
    thing: &impl Audited,
) -> AuditRecord {
    AuditRecord::new(Some(org.key), operation, thing.targets(&org.name))
}

/// Audits a thing created or deleted whole, with every field.
pub(super) fn audit_whole(
    w: &mut Write,
    org: &AuthorizedOrg,
    operation: Operation,
    thing: &impl Audited,
) {
    w.audit(entry(org, operation, thing).with_details(Value::Object(thing.fields())));
}

/// Audits an edit the store has applied, given as the thing before and after it, with the
/// fields it changed; returns the thing as it is now.
pub(super) fn audit_edit<T: Audited>(
    w: &mut Write,
    org: &AuthorizedOrg,
    operation: Operation,
    (before, after): (T, T),
) -> T {
    let (was, now) = changed_fields(&before.fields(), &after.fields());
    if !was.is_empty() {
        w.audit(entry(org, operation, &after).with_details(json!({"before": was, "after": now})));
    }
    after
}

/// The fields that differ, as two objects (before, after).
fn changed_fields(
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
    fn only_changed_fields_are_listed() {
        let before = json!({"a": 1, "b": "x", "c": [1, 2]});
        let after = json!({"a": 1, "b": "y", "c": [2, 1]});
        let (was, now) = changed_fields(before.as_object().unwrap(), after.as_object().unwrap());
        assert_eq!(Value::Object(was), json!({"b": "x", "c": [1, 2]}));
        assert_eq!(Value::Object(now), json!({"b": "y", "c": [2, 1]}));
        let (was, now) = changed_fields(before.as_object().unwrap(), before.as_object().unwrap());
        assert!(was.is_empty() && now.is_empty());
    }
}
