//! Who may read an organization's compute: `compute.view` reads everything; a thing's
//! visibility, capped by what it depends on, opens it to the organization's members or to
//! everyone. A refusal tells members that they lack `compute.view` and everyone else only that
//! there is nothing here. Changes are checked elsewhere (`compute.manage`, `compute.deploy`).

use portcullis_core::decision::binding_reaches;
use portcullis_core::index::Account;
use portcullis_core::{OrgKey, Permission, Visibility};
use portcullis_store::{ClusterRecord, DeploymentRecord, NodepoolRecord};

use super::org_resource;
use crate::{Caller, Portcullis, Result, ServiceError};

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

/// A compute thing as readers see it.
pub(super) trait Readable {
    /// What a refusal names (`not_found` of a cluster, ...).
    const KIND: &'static str;
    /// The visibility it actually has.
    fn visibility(&self) -> Visibility;
}

impl Readable for ClusterRecord {
    const KIND: &'static str = "cluster";
    fn visibility(&self) -> Visibility {
        self.visibility
    }
}

impl Readable for NodepoolRecord {
    const KIND: &'static str = "nodepool";
    fn visibility(&self) -> Visibility {
        nodepool_visibility(self)
    }
}

impl Readable for DeploymentRecord {
    const KIND: &'static str = "deployment";
    fn visibility(&self) -> Visibility {
        deployment_visibility(self)
    }
}

/// How a caller may read one organization's compute.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reader {
    pub(super) org: OrgKey,
    /// Holds `compute.view`: reads everything.
    full: bool,
    /// A member reaching the organization with `compute.view` in scope: reads `org` things.
    member: bool,
}

impl Reader {
    pub(super) fn reads(self, thing: &impl Readable) -> bool {
        let visibility = thing.visibility();
        self.full
            || visibility == Visibility::Public
            || (visibility == Visibility::Org && self.member)
    }
}

impl Portcullis {
    /// The organization `org_id` and how the caller may read its compute.
    pub(super) fn compute_reader(&self, caller: &Caller, org_id: &str) -> Result<Reader> {
        let org = self.resolve_org(org_id)?;
        let full = self
            .decide(caller, Permission::ComputeView, org_resource(org))
            .allowed;
        let member = caller
            .user()
            .is_some_and(|user| self.with_index(|index| index.membership(user, org).is_some()))
            && binding_reaches(&caller.subject.binding, Account::Org(org), None)
            && caller.subject.scopes.contains(Permission::ComputeView);
        Ok(Reader { org, full, member })
    }

    /// The thing looked up, if the reader reads it; otherwise the refusal.
    pub(super) fn readable<T: Readable>(
        &self,
        caller: &Caller,
        reader: Reader,
        found: Option<T>,
    ) -> Result<T> {
        match found {
            Some(thing) if reader.reads(&thing) => Ok(thing),
            _ => Err(self.unreadable(caller, reader, T::KIND)),
        }
    }

    /// The things of an organization-wide list that the reader reads.
    pub(super) fn readable_in_org<T: Readable>(
        &self,
        caller: &Caller,
        reader: Reader,
        mut things: Vec<T>,
    ) -> Result<Vec<T>> {
        things.retain(|thing| reader.reads(thing));
        let org = org_resource(reader.org);
        if things.is_empty() && !reader.full && !self.can_see(caller, org) {
            // Outsiders learn nothing about an organization without public compute.
            return Err(self.invisible(caller, org, "organization"));
        }
        Ok(things)
    }

    /// The refusal for a reader that may not read `what`: members learn that they lack
    /// `compute.view`, everyone else only that there is nothing here.
    fn unreadable(&self, caller: &Caller, reader: Reader, what: &'static str) -> ServiceError {
        let org = org_resource(reader.org);
        if reader.full {
            ServiceError::NotFound(what)
        } else if self.can_see(caller, org) {
            ServiceError::Forbidden(Permission::ComputeView)
        } else {
            self.invisible(caller, org, what)
        }
    }
}
