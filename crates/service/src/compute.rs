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
//!
//! One module per thing (`clusters`, `nodepools`, `deployments`); who may read what lives in
//! `reading`, what the audit log records of a change in `audit_entries`. This module holds what
//! they share: the permission check of every change, and the input checks and refusals that
//! more than one of them makes.

mod audit_entries;
mod clusters;
mod deployments;
mod nodepools;
mod reading;

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{OrgKey, Permission, Visibility};

pub use clusters::{ClusterInput, ClusterPatch};
pub use deployments::{DeploymentInput, DeploymentPatch, ModelInput, TargetInput};
pub use nodepools::{NodepoolInput, NodepoolPatch};
pub use reading::{deployment_visibility, nodepool_visibility};

use crate::input::parse_visibility;
use crate::{Caller, Portcullis, Result, ServiceError};

pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Cloud provider, region, cluster type and instance type names.
pub const MAX_LABEL_CHARS: usize = 64;
pub const MAX_INSTANCE_TYPES: usize = 20;
pub const MAX_INSTANCES: i64 = 1000;
pub const MAX_REPLICAS: i64 = 1000;
pub const MAX_DEPLOYMENT_NODEPOOLS: usize = 20;
pub const MAX_PRIORITY: i64 = 9;

/// An organization in which the caller was allowed to make a compute change.
struct AuthorizedOrg {
    key: OrgKey,
    /// The organization's id, as audit entries and messages name it.
    name: String,
}

impl Portcullis {
    /// `org_id` resolved and `permission` checked there: every compute change is gated by one
    /// org-level permission (`compute.manage` for clusters and nodepools, `compute.deploy` for
    /// deployments), checked before its input; a refusal is audited as `operation`.
    async fn authorized_org(
        &self,
        caller: &Caller,
        org_id: &str,
        permission: Permission,
        operation: Operation,
    ) -> Result<AuthorizedOrg> {
        let key = self.resolve_org(org_id)?;
        self.authorize_mutation(
            operation,
            caller,
            permission,
            org_resource(key),
            "organization",
        )
        .await?;
        let name = self
            .with_index(|index| index.org(key).map(|o| o.id.to_string()))
            .unwrap_or_default();
        Ok(AuthorizedOrg { key, name })
    }
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

/// A new thing's visibility: `private` unless given.
fn optional_visibility(raw: Option<&str>) -> Result<Visibility> {
    changed_visibility(raw).map(|v| v.unwrap_or(Visibility::Private))
}

/// An edit's visibility, if it changes it.
fn changed_visibility(raw: Option<&str>) -> Result<Option<Visibility>> {
    raw.map(parse_visibility).transpose()
}

/// Checks a pair of counts (a nodepool's instances, a deployment's replicas): each from 0 to
/// `limit`, the minimum not above the maximum. `codes`: a count out of bounds, min above max.
fn count_range(
    [min_field, max_field]: [&'static str; 2],
    [min, max]: [i64; 2],
    limit: i64,
    [out_of_bounds, min_above_max]: [&'static str; 2],
) -> Result<()> {
    for (field, value) in [(min_field, min), (max_field, max)] {
        if !(0..=limit).contains(&value) {
            return Err(ServiceError::invalid(
                out_of_bounds,
                field,
                format!("`{field}` must be between 0 and {limit}"),
            ));
        }
    }
    if min > max {
        return Err(ServiceError::invalid(
            min_above_max,
            min_field,
            format!("`{min_field}` ({min}) must not exceed `{max_field}` ({max})"),
        ));
    }
    Ok(())
}

/// Refuses (`code`) a deletion while deployments use what it would delete; `used` says what
/// they use (``cluster `gpu` has nodepools used by``).
fn refuse_if_used(users: &[String], code: &'static str, used: String) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let users = users
        .iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ServiceError::state(
        code,
        format!(
            "{used} deployments {users}; delete those deployments or move them to other \
             nodepools first"
        ),
    ))
}

fn org_resource(org: OrgKey) -> Resource {
    Resource::Account(Account::Org(org))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_ranges_refuse_with_their_own_codes_fields_and_messages() {
        type Check = fn(i64, i64) -> Result<()>;
        let rules: [(Check, i64, &str, &str); 2] = [
            (nodepools::instances, MAX_INSTANCES, "nodepool", "instances"),
            (
                deployments::replicas,
                MAX_REPLICAS,
                "deployment",
                "replicas",
            ),
        ];
        for (check, limit, thing, counted) in rules {
            assert!(check(0, 0).is_ok() && check(0, limit).is_ok() && check(limit, limit).is_ok());
            let refusal = |min, max| match check(min, max) {
                Err(ServiceError::Invalid {
                    code,
                    field,
                    message,
                }) => (code.to_owned(), field.to_owned(), message),
                other => panic!("{counted} {min}..{max}: {other:?}"),
            };
            let (min_field, max_field) = (format!("min_{counted}"), format!("max_{counted}"));
            let out_of_bounds = format!("{thing}.invalid_{counted}");
            let bounds = |field: &str| format!("`{field}` must be between 0 and 1000");
            assert_eq!(
                refusal(-1, 3),
                (out_of_bounds.clone(), min_field.clone(), bounds(&min_field))
            );
            assert_eq!(
                refusal(0, limit + 1),
                (out_of_bounds, max_field.clone(), bounds(&max_field))
            );
            assert_eq!(
                refusal(5, 4),
                (
                    format!("{thing}.min_above_max"),
                    min_field.clone(),
                    format!("`{min_field}` (5) must not exceed `{max_field}` (4)")
                )
            );
        }
    }

    #[test]
    fn an_in_use_refusal_names_the_deployments() {
        assert!(refuse_if_used(&[], "cluster.in_use", "unused".into()).is_ok());
        let users = ["d1".to_owned(), "d2".to_owned()];
        let used = "cluster `gpu` has nodepools used by".to_owned();
        match refuse_if_used(&users, "cluster.in_use", used) {
            Err(ServiceError::State { code, message }) => {
                assert_eq!(code, "cluster.in_use");
                assert_eq!(
                    message,
                    "cluster `gpu` has nodepools used by deployments `d1`, `d2`; delete those \
                     deployments or move them to other nodepools first"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn labels() {
        assert!(label("region", "us-east-1").is_ok());
        assert!(label("region", "a.b_c-d/e:f").is_ok());
        assert!(label("region", "").is_err());
        assert!(label("region", "us east").is_err());
        assert!(label("region", &"x".repeat(MAX_LABEL_CHARS)).is_ok());
        assert!(label("region", &"x".repeat(MAX_LABEL_CHARS + 1)).is_err());
    }
}
