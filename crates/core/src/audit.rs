//! Audit operation codes. Clarifai's numbering is kept where it exists (100–113 organization
//! members, invitations and teams; 600s apps; 700s collaborators; 800 user); Portcullis adds
//! the 1200s for organizations, the 2000s for authentication and credential events and the
//! 2500s (to 2539) for SCIM provisioning.

macro_rules! operations {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        /// What an audit entry records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation { $($variant),* }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),*];

            pub fn code(self) -> i64 {
                match self { $(Operation::$variant => $code),* }
            }

            pub fn name(self) -> &'static str {
                match self { $(Operation::$variant => $name),* }
            }

            pub fn from_code(code: i64) -> Option<Self> {
                match code { $($code => Some(Operation::$variant),)* _ => None }
            }
        }
    };
}

operations! {
    MemberAdd = 100, "organization.member.add";
    MemberChange = 101, "organization.member.change";
    MemberRemove = 102, "organization.member.remove";
    InvitationCreate = 103, "organization.invitation.create";
    InvitationCancel = 104, "organization.invitation.cancel";
    InvitationAccept = 105, "organization.invitation.accept";
    InvitationDecline = 106, "organization.invitation.decline";
    TeamCreate = 107, "organization.team.create";
    TeamUpdate = 108, "organization.team.update";
    TeamDelete = 109, "organization.team.delete";
    TeamMemberAdd = 110, "organization.team.member.add";
    TeamMemberRemove = 111, "organization.team.member.remove";
    TeamAppAdd = 112, "organization.team.app.add";
    TeamAppRemove = 113, "organization.team.app.remove";
    ModelCreate = 300, "model.create";
    ModelUpdate = 301, "model.update";
    ModelDelete = 302, "model.delete";
    ModelDeleteAll = 303, "model.delete_all";
    WorkflowCreate = 400, "workflow.create";
    WorkflowUpdate = 401, "workflow.update";
    WorkflowDelete = 402, "workflow.delete";
    ModuleCreate = 500, "module.create";
    ModuleUpdate = 501, "module.update";
    ModuleDelete = 502, "module.delete";
    ModuleInstall = 503, "module.install";
    ModuleUninstall = 504, "module.uninstall";
    AppCreate = 600, "app.create";
    AppUpdate = 601, "app.update";
    AppDelete = 602, "app.delete";
    AppTransfer = 603, "app.transfer";
    CollaboratorAdd = 700, "collaborator.add";
    CollaboratorUpdate = 701, "collaborator.update";
    CollaboratorRemove = 702, "collaborator.remove";
    UserUpdate = 800, "user.update";
    ClusterCreate = 900, "compute.cluster.create";
    ClusterUpdate = 901, "compute.cluster.update";
    ClusterDelete = 902, "compute.cluster.delete";
    NodepoolCreate = 1000, "compute.nodepool.create";
    NodepoolUpdate = 1001, "compute.nodepool.update";
    NodepoolDelete = 1002, "compute.nodepool.delete";
    DeploymentCreate = 1100, "compute.deployment.create";
    DeploymentUpdate = 1101, "compute.deployment.update";
    DeploymentDelete = 1102, "compute.deployment.delete";
    UsageIngest = 1300, "billing.usage.ingest";
    BudgetUpdate = 1301, "billing.budget.update";
    OrgCreate = 1200, "organization.create";
    OrgUpdate = 1201, "organization.update";
    OrgDelete = 1202, "organization.delete";
    MemberLeave = 1203, "organization.member.leave";
    UserSignup = 2000, "user.signup";
    LoginSuccess = 2001, "auth.login.success";
    LoginFailure = 2002, "auth.login.failure";
    Logout = 2003, "auth.logout";
    KeyCreate = 2010, "credential.create";
    KeyRevoke = 2011, "credential.revoke";
    AppKeyCreate = 2012, "app_key.create";
    AppKeyRevoke = 2013, "app_key.revoke";
    OperatorInit = 2020, "platform.init";
    PasswordPolicyUpdate = 2100, "security.password_policy.update";
    GlobalPasswordPolicyUpdate = 2101, "platform.password_policy.update";
    AccountLockout = 2102, "auth.lockout";
    AccountUnlock = 2103, "auth.unlock";
    LoginThrottled = 2104, "auth.login.throttled";
    PasswordChange = 2105, "user.password.change";
    PasswordResetRequest = 2106, "user.password.reset_request";
    PasswordResetConfirm = 2107, "user.password.reset";
    SessionRevoke = 2108, "auth.session.revoke";
    UserSuspend = 2109, "user.suspend";
    UserUnsuspend = 2110, "user.unsuspend";
    TotpEnrol = 2111, "auth.totp.enrol";
    TotpEnable = 2112, "auth.totp.enable";
    TotpDisable = 2113, "auth.totp.disable";
    RecoveryCodeUse = 2114, "auth.totp.recovery_code";
    SecondFactorFailure = 2115, "auth.second_factor.failure";
    OrgSecurityUpdate = 2116, "security.settings.update";
    LoginThrottleUpdate = 2117, "platform.login_throttle.update";
    SessionSettingsUpdate = 2118, "platform.session_settings.update";
    AuditPrune = 2200, "audit.prune";
    IdpCreate = 2300, "security.idp.create";
    IdpUpdate = 2301, "security.idp.update";
    IdpDelete = 2302, "security.idp.delete";
    IdpMetadataRefresh = 2303, "security.idp.metadata_refresh";
    SsoLoginSuccess = 2310, "auth.sso.success";
    SsoLoginFailure = 2311, "auth.sso.failure";
    SsoJitMember = 2312, "auth.sso.jit_member";
    SsoTeamSync = 2313, "auth.sso.team_sync";
    SsoPatAuthorize = 2314, "auth.sso.pat_authorize";
    SsoLinkRequest = 2315, "auth.sso.link_request";
    SsoLinkConfirm = 2316, "auth.sso.link_confirm";
    SsoUnlink = 2317, "auth.sso.unlink";
    SsoEnforcementUpdate = 2320, "security.sso_enforcement.update";
    DomainAdd = 2330, "security.domain.add";
    DomainVerify = 2331, "security.domain.verify";
    DomainSuspend = 2332, "security.domain.suspend";
    DomainDelete = 2333, "security.domain.delete";
    EmailVerify = 2400, "user.email.verify";
    EmailVerificationSend = 2401, "user.email.verification_sent";
    EmailChangeRequest = 2402, "user.email.change_request";
    EmailChange = 2403, "user.email.change";
    SignupExistingEmail = 2404, "user.signup.existing_email";
    MailFailed = 2405, "platform.mail.failed";
    SecretsSeal = 2406, "platform.secrets.seal";
    SecretsRotate = 2407, "platform.secrets.rotate";
    EmailKeysUpgrade = 2490, "platform.email_keys.upgrade";
    ScimTokenCreate = 2500, "scim.token.create";
    ScimTokenRotate = 2501, "scim.token.rotate";
    ScimTokenRevoke = 2502, "scim.token.revoke";
    ScimSettingsUpdate = 2503, "scim.settings.update";
    ScimUserCreate = 2510, "scim.user.create";
    ScimUserUpdate = 2511, "scim.user.update";
    ScimUserSuspend = 2512, "scim.user.suspend";
    ScimUserRestore = 2513, "scim.user.restore";
    ScimUserDelete = 2514, "scim.user.delete";
    ScimGroupCreate = 2520, "scim.group.create";
    ScimGroupUpdate = 2521, "scim.group.update";
    ScimGroupDelete = 2522, "scim.group.delete";
    ScimGroupMembers = 2523, "scim.group.members";
    ScimRequestRefused = 2530, "scim.request.refused";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique() {
        let mut codes: Vec<i64> = Operation::ALL.iter().map(|o| o.code()).collect();
        let mut names: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
        codes.sort_unstable();
        codes.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!(codes.len(), Operation::ALL.len());
        assert_eq!(names.len(), Operation::ALL.len());
        for op in Operation::ALL {
            assert_eq!(Operation::from_code(op.code()), Some(*op));
        }
    }
}
