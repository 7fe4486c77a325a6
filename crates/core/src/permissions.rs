//! The permission catalogue and the role matrix of docs/contract.md §2, as one versioned table.
//!
//! [`CATALOGUE`] is the single source: the engine, `GET /v1/roles`, the console's role summary
//! and the tests all read it. Role rows are compiled once into bitmasks ([`PermissionSet`]) so a
//! decision is a few AND operations, never a table walk.

use crate::roles::OrgRole;

/// Bumped whenever a cell of the matrix or the catalogue changes meaning.
pub const MATRIX_VERSION: u32 = 1;

/// Whether a permission is about an organization (the account) or about one app in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Org,
    App,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Org => "org",
            Level::App => "app",
        }
    }
}

macro_rules! permissions {
    ($( $variant:ident = $id:literal, $level:ident, $label:literal, [$($role:ident),*]; )*) => {
        /// A permission id (docs/contract.md §2). The discriminant is its bit in a [`PermissionSet`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission { $($variant),* }

        /// One row of the matrix: the permission, its level, the seed's wording and the roles
        /// that hold it.
        #[derive(Debug, Clone, Copy)]
        pub struct CatalogueRow {
            pub permission: Permission,
            pub level: Level,
            pub label: &'static str,
            pub roles: &'static [OrgRole],
        }

        /// Every permission in display order (the seed's order, then the supporting ones).
        pub const CATALOGUE: &[CatalogueRow] = &[
            $(CatalogueRow {
                permission: Permission::$variant,
                level: Level::$level,
                label: $label,
                roles: &[$(OrgRole::$role),*],
            }),*
        ];

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $id),* }
            }

            pub fn parse(raw: &str) -> Option<Permission> {
                match raw { $($id => Some(Permission::$variant),)* _ => None }
            }
        }
    };
}

permissions! {
    SidebarView = "sidebar.view", Org, "View Sidebar Items", [Admin, OrgContributor, TeamContributor, OrgUser];
    ModelsCreate = "models.create", App, "Create Models", [Admin, OrgContributor, TeamContributor];
    WorkflowsCreate = "workflows.create", App, "Create Workflows", [Admin, OrgContributor, TeamContributor];
    AppEditId = "app.edit_id", App, "Edit App ID", [Admin, OrgContributor];
    AppEditDescription = "app.edit_description", App, "Edit App Description", [Admin, OrgContributor, TeamContributor];
    AppEditNotes = "app.edit_notes", App, "Edit App Notes", [Admin, OrgContributor, TeamContributor];
    CollaboratorsView = "collaborators.view", App, "View Collaborators", [Admin, OrgContributor, TeamContributor, OrgUser];
    CollaboratorsEdit = "collaborators.edit", App, "Edit Collaborators", [Admin, OrgContributor];
    BaseWorkflowView = "base_workflow.view", App, "Base Workflow View", [Admin, OrgContributor, TeamContributor, OrgUser];
    BaseWorkflowEdit = "base_workflow.edit", App, "Base Workflow Edit", [Admin, OrgContributor];
    ModelsDeleteAll = "models.delete_all", App, "Delete All Models", [Admin, OrgContributor, TeamContributor];
    AppDelete = "app.delete", App, "Delete App", [Admin, OrgContributor];
    MembersManage = "members.manage", Org, "Invite / Modify / Delete Members", [Admin];
    TeamsManage = "teams.manage", Org, "Create / Edit / Delete Teams", [Admin, OrgContributor];
    TeamsAddMembers = "teams.add_members", Org, "Add Members to Teams", [Admin, OrgContributor];
    TeamsAddApps = "teams.add_apps", Org, "Add Apps to Teams", [Admin, OrgContributor];
    AppsCreate = "apps.create", Org, "Create Apps", [Admin, OrgContributor];
    AppChangeVisibility = "app.change_visibility", App, "Change Visibility of Apps", [Admin, OrgContributor];
    ResourcesChangeVisibility = "resources.change_visibility", App, "Change Visibility of Apps Resources", [Admin, OrgContributor, TeamContributor];
    ModulesUse = "modules.use", App, "Use Modules", [Admin, OrgContributor, TeamContributor, OrgUser];
    ModulesManage = "modules.manage", App, "Create / Delete Modules", [Admin, OrgContributor, TeamContributor];
    ModulesInstall = "modules.install", App, "Install / Uninstall Modules", [Admin, OrgContributor, TeamContributor];
    ComputeManage = "compute.manage", Org, "Create / Edit / Delete Clusters and Nodepools", [Admin, InfrastructureManager];
    ComputeDeploy = "compute.deploy", Org, "Deploy and View Models in Clusters", [Admin, OrgContributor, InfrastructureManager];
    ComputeView = "compute.view", Org, "View Clusters and Nodepools", [Admin, OrgContributor, OrgUser, InfrastructureManager];
    BillingView = "billing.view", Org, "View Financial Data", [Admin, FinancialManager];
    AppView = "app.view", App, "(implied) View an app and its resources", [Admin, OrgContributor, TeamContributor, OrgUser];
    OrgManage = "org.manage", Org, "Manage the organization (rename, billing email, delete)", [Admin];
    SecurityManage = "security.manage", Org, "Manage security settings (password policy, identity providers)", [Admin];
    AuditView = "audit.view", Org, "View the audit log and access review", [Admin];
    SecurityView = "security.view", Org, "View the Security page", [Admin];
    BillingManage = "billing.manage", Org, "Manage budget settings", [Admin];
    AuthzCheck = "authz.check", Org, "Ask `check` about other principals", [Admin];
    UsageWrite = "usage.write", Org, "Ingest usage records", [Admin];
}

impl Permission {
    pub fn row(self) -> &'static CatalogueRow {
        // CATALOGUE is declared in discriminant order by the macro.
        &CATALOGUE[self as usize]
    }

    pub fn level(self) -> Level {
        self.row().level
    }

    pub fn label(self) -> &'static str {
        self.row().label
    }

    pub fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions as a bitmask; the unit of every grant and every credential scope.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub fn all() -> Self {
        Self::from_iter(Permission::ALL.iter().copied())
    }

    pub fn all_at(level: Level) -> Self {
        Self::from_iter(
            Permission::ALL
                .iter()
                .copied()
                .filter(|p| p.level() == level),
        )
    }

    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    #[inline]
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn with(self, permission: Permission) -> Self {
        Self(self.0 | permission.bit())
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// Parses a scope list: permission ids, or the single word `all`.
    pub fn parse_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = Self::EMPTY;
        for scope in scopes {
            if scope == "all" {
                set = set.union(Self::all());
            } else {
                let permission = Permission::parse(scope).ok_or_else(|| scope.to_owned())?;
                set = set.with(permission);
            }
        }
        Ok(set)
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

impl std::fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

/// The matrix compiled to one mask per role (indexed by `OrgRole as usize`).
static ROLE_MASKS: std::sync::LazyLock<[PermissionSet; OrgRole::ALL.len()]> =
    std::sync::LazyLock::new(|| {
        let mut masks = [PermissionSet::EMPTY; OrgRole::ALL.len()];
        for row in CATALOGUE {
            for role in row.roles {
                masks[*role as usize] = masks[*role as usize].with(row.permission);
            }
        }
        masks
    });

/// The permissions an organization role holds (its column of the matrix).
#[inline]
pub fn role_permissions(role: OrgRole) -> PermissionSet {
    ROLE_MASKS[role as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_in_discriminant_order_and_fits_a_mask() {
        assert!(Permission::ALL.len() <= 64);
        for (i, row) in CATALOGUE.iter().enumerate() {
            assert_eq!(row.permission as usize, i);
            assert_eq!(
                Permission::parse(row.permission.as_str()),
                Some(row.permission)
            );
        }
    }

    #[test]
    fn admin_holds_everything_and_financial_manager_only_billing_view() {
        assert_eq!(role_permissions(OrgRole::Admin), PermissionSet::all());
        assert_eq!(
            role_permissions(OrgRole::FinancialManager),
            PermissionSet::EMPTY.with(Permission::BillingView)
        );
    }

    #[test]
    fn scopes_parse() {
        assert_eq!(
            PermissionSet::parse_scopes(["all"]),
            Ok(PermissionSet::all())
        );
        assert_eq!(
            PermissionSet::parse_scopes(["app.view", "models.create"]),
            Ok(PermissionSet::EMPTY
                .with(Permission::AppView)
                .with(Permission::ModelsCreate))
        );
        assert_eq!(
            PermissionSet::parse_scopes(["nope"]),
            Err("nope".to_owned())
        );
    }
}
