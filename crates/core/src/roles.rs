//! Organization roles, team roles and visibility levels (docs/contract.md §2 and §4).

use crate::permissions::{Permission, PermissionSet};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $id:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: [$name; [$($id),*].len()] = [$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $id),* }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($id => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// The one role each member holds in an organization.
    OrgRole {
        Admin = "admin",
        FinancialManager = "financial_manager",
        OrgContributor = "org_contributor",
        TeamContributor = "team_contributor",
        OrgUser = "org_user",
        InfrastructureManager = "infrastructure_manager",
    }
}

impl OrgRole {
    /// The seed's name for the role.
    pub fn label(self) -> &'static str {
        match self {
            OrgRole::Admin => "Administrator",
            OrgRole::FinancialManager => "Financial Manager",
            OrgRole::OrgContributor => "Organization Contributor (all apps)",
            OrgRole::TeamContributor => "Team Contributor (select apps)",
            OrgRole::OrgUser => "Organization User (all apps)",
            OrgRole::InfrastructureManager => "Infrastructure Manager",
        }
    }

    /// "(all apps)" roles hold their app-level cells on every app of the org; a team
    /// contributor only on its teams' apps (docs/contract.md §2).
    pub fn covers_all_apps(self) -> bool {
        matches!(
            self,
            OrgRole::Admin | OrgRole::OrgContributor | OrgRole::OrgUser
        )
    }
}

string_enum! {
    /// The role a team holds on one of its apps; the member's org role stays the ceiling.
    TeamRole {
        FullAccess = "full_access",
        ModelTrainer = "model_trainer",
        LabelerLead = "labeler_lead",
        LabelerWorker = "labeler_worker",
    }
}

impl TeamRole {
    pub fn permissions(self) -> PermissionSet {
        use Permission::*;
        match self {
            TeamRole::FullAccess => PermissionSet::all_at(crate::Level::App),
            TeamRole::ModelTrainer => PermissionSet::from_iter([
                AppView,
                ModelsCreate,
                ModelsDeleteAll,
                BaseWorkflowView,
                ModulesUse,
            ]),
            TeamRole::LabelerLead => {
                PermissionSet::from_iter([AppView, BaseWorkflowView, CollaboratorsView, ModulesUse])
            }
            TeamRole::LabelerWorker => PermissionSet::from_iter([AppView, BaseWorkflowView]),
        }
    }
}

string_enum! {
    /// Who may read an app or a resource without any other grant.
    Visibility {
        Private = "private",
        Org = "org",
        Public = "public",
    }
}

/// Permissions a collaborator may never be given (docs/contract.md §4).
pub fn collaborator_forbidden() -> PermissionSet {
    PermissionSet::from_iter([
        Permission::AppDelete,
        Permission::AppEditId,
        Permission::AppChangeVisibility,
    ])
}
