//! Password policies: per organization and instance-wide, the effective (strictest) policy of
//! a user, and password validation against it for signup, change, reset and
//! `validate-password`.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::password_policy::{PasswordContext, PasswordPolicy, Violation};
use portcullis_core::{OrgKey, Permission, UserKey};
use portcullis_store::AuditRecord;
use serde_json::json;

use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// A policy as the API shows it.
#[derive(Debug, Clone)]
pub struct PolicyView {
    /// The policy set at this scope (for an organization without its own: the global one).
    pub policy: PasswordPolicy,
    /// Whether the organization has no policy of its own and follows the global one.
    pub inherited: bool,
    /// What applies to the organization's members: its policy combined with the global one.
    pub effective: PasswordPolicy,
    /// Knobs that contradict NIST SP 800-63B (accepted nevertheless).
    pub warnings: Vec<Violation>,
}

/// Who a password is for, so names, e-mail and old passwords can be checked.
#[derive(Debug, Clone, Default)]
pub struct PasswordOwner {
    pub user: Option<UserKey>,
    pub id: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

fn parse_policy(raw: &str) -> Result<PasswordPolicy> {
    serde_json::from_str(raw).map_err(|e| ServiceError::Internal(Box::new(e)))
}

fn to_json(policy: &PasswordPolicy) -> Result<String> {
    serde_json::to_string(policy).map_err(|e| ServiceError::Internal(Box::new(e)))
}

/// The starting point of a `PUT`: a named preset, or the built-in default.
pub fn base_policy(preset: Option<&str>) -> Result<PasswordPolicy> {
    match preset {
        None => Ok(PasswordPolicy::default()),
        Some(name) => PasswordPolicy::preset(name).ok_or_else(|| {
            ServiceError::invalid(
                "policy.unknown_preset",
                "preset",
                format!(
                    "unknown preset `{}`; known: {}",
                    name.chars().take(40).collect::<String>(),
                    portcullis_core::password_policy::PRESETS.join(", ")
                ),
            )
        }),
    }
}

fn check_values(policy: &PasswordPolicy) -> Result<()> {
    match policy.problems().into_iter().next() {
        None => Ok(()),
        Some(problem) => Err(ServiceError::invalid(
            "policy.invalid",
            problem.field,
            format!("`{}` {}", problem.field, problem.message),
        )),
    }
}

impl Portcullis {
    /// The instance-wide policy (the built-in default until the operator sets one).
    pub async fn global_policy(&self) -> Result<PasswordPolicy> {
        match self.store().password_policy(None).await? {
            Some(raw) => parse_policy(&raw),
            None => Ok(PasswordPolicy::default()),
        }
    }

    async fn own_org_policy(&self, org: OrgKey) -> Result<Option<PasswordPolicy>> {
        self.store()
            .password_policy(Some(org))
            .await?
            .map(|raw| parse_policy(&raw))
            .transpose()
    }

    /// The strictest combination of the global policy and every policy of `user`'s orgs.
    pub async fn effective_policy(&self, user: UserKey) -> Result<PasswordPolicy> {
        let mut policy = self.global_policy().await?;
        for (_, raw) in self.store().member_org_policies(user).await? {
            policy = policy.strictest(parse_policy(&raw)?);
        }
        Ok(policy)
    }

    fn is_operator(&self, caller: &Caller) -> bool {
        caller
            .user()
            .is_some_and(|u| self.with_index(|i| i.user(u).is_some_and(|e| e.operator)))
    }

    /// An organization's policy: any member may read what applies to it.
    pub async fn org_password_policy(&self, caller: &Caller, org: &str) -> Result<PolicyView> {
        let org = self.resolve_org(org)?;
        self.require_visible(caller, Resource::Account(Account::Org(org)), "organization")?;
        let global = self.global_policy().await?;
        let own = self.own_org_policy(org).await?;
        let policy = own.unwrap_or(global);
        Ok(PolicyView {
            policy,
            inherited: own.is_none(),
            effective: global.strictest(policy),
            warnings: policy.nist_warnings(),
        })
    }

    /// Replaces an organization's policy (`security.manage`). `build` turns the base (preset
    /// or default) into the requested policy.
    pub async fn set_org_password_policy(
        &self,
        caller: &Caller,
        org: &str,
        preset: Option<&str>,
        build: impl FnOnce(PasswordPolicy) -> PasswordPolicy,
    ) -> Result<Committed<PolicyView>> {
        let org_key = self.resolve_org(org)?;
        self.authorize_mutation(
            Operation::PasswordPolicyUpdate,
            caller,
            Permission::SecurityManage,
            Resource::Account(Account::Org(org_key)),
            "organization",
        )
        .await?;
        let policy = build(base_policy(preset)?);
        check_values(&policy)?;
        let global = self.global_policy().await?;
        let raw = to_json(&policy)?;
        let org_id = self.member_org_handle(org_key);
        self.commit(caller, async |w| {
            let before = w_policy_before(w, Some(org_key)).await?;
            w.put_password_policy(Some(org_key), &raw).await?;
            w.audit(
                AuditRecord::new(
                    Some(org_key),
                    Operation::PasswordPolicyUpdate,
                    json!({"org": org_id}),
                )
                .with_details(json!({"before": before, "after": policy, "preset": preset})),
            );
            Ok((
                PolicyView {
                    policy,
                    inherited: false,
                    effective: global.strictest(policy),
                    warnings: policy.nist_warnings(),
                },
                vec![],
            ))
        })
        .await
    }

    /// The global policy; anyone may read it (signup is held to it).
    pub async fn global_password_policy(&self) -> Result<PolicyView> {
        let policy = self.global_policy().await?;
        Ok(PolicyView {
            policy,
            inherited: false,
            effective: policy,
            warnings: policy.nist_warnings(),
        })
    }

    /// Replaces the global policy (the platform operator only).
    pub async fn set_global_password_policy(
        &self,
        caller: &Caller,
        preset: Option<&str>,
        build: impl FnOnce(PasswordPolicy) -> PasswordPolicy,
    ) -> Result<Committed<PolicyView>> {
        self.require_user(caller)?;
        if !self.is_operator(caller) || !caller.is_unrestricted() {
            return Err(ServiceError::NotAllowed {
                code: "platform.operator_only",
                message: "only the platform operator can change the global password policy".into(),
            });
        }
        let policy = build(base_policy(preset)?);
        check_values(&policy)?;
        let raw = to_json(&policy)?;
        self.commit(caller, async |w| {
            let before = w_policy_before(w, None).await?;
            w.put_password_policy(None, &raw).await?;
            w.audit(
                AuditRecord::new(None, Operation::GlobalPasswordPolicyUpdate, json!({}))
                    .with_details(json!({"before": before, "after": policy, "preset": preset})),
            );
            Ok((
                PolicyView {
                    policy,
                    inherited: false,
                    effective: policy,
                    warnings: policy.nist_warnings(),
                },
                vec![],
            ))
        })
        .await
    }

    /// `POST /v1/validate-password`: every violation of the policy that would apply. With
    /// `org`, that org's policy combined with the global one (the caller must be able to see
    /// the org); otherwise the caller's effective policy, or the global one when anonymous.
    pub async fn validate_password(
        &self,
        caller: &Caller,
        password: &str,
        org: Option<&str>,
    ) -> Result<Vec<Violation>> {
        let policy = match org {
            Some(org) => {
                let org = self.resolve_org(org)?;
                self.require_visible(caller, Resource::Account(Account::Org(org)), "organization")?;
                let global = self.global_policy().await?;
                match self.own_org_policy(org).await? {
                    Some(own) => global.strictest(own),
                    None => global,
                }
            }
            None => match caller.user() {
                Some(user) => self.effective_policy(user).await?,
                None => self.global_policy().await?,
            },
        };
        let owner = match caller.user() {
            Some(user) => self.owner_of(user).await?,
            None => PasswordOwner::default(),
        };
        self.password_violations(&policy, password, &owner, None)
            .await
    }

    pub(crate) async fn owner_of(&self, user: UserKey) -> Result<PasswordOwner> {
        let record = self
            .store()
            .user(user)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        Ok(PasswordOwner {
            user: Some(user),
            id: Some(record.id),
            email: Some(record.email),
            first_name: Some(record.first_name),
            last_name: Some(record.last_name),
        })
    }

    /// Evaluates `password` under `policy` for `owner`, including the history check (which
    /// verifies against the remembered hashes, off the async threads).
    pub(crate) async fn password_violations(
        &self,
        policy: &PasswordPolicy,
        password: &str,
        owner: &PasswordOwner,
        old_password: Option<&str>,
    ) -> Result<Vec<Violation>> {
        let history_reused = match (owner.user, policy.password_reuse_epoch) {
            (Some(user), epoch) if epoch > 0 => {
                let hashes = self.store().password_history(user, epoch).await?;
                self.passwords.matches_any(password, hashes).await?
            }
            _ => false,
        };
        let names: Vec<&str> = [&owner.id, &owner.first_name, &owner.last_name]
            .into_iter()
            .filter_map(|n| n.as_deref())
            .collect();
        let context = PasswordContext {
            names,
            email: owner.email.as_deref(),
            old_password,
            history_reused,
        };
        Ok(policy.evaluate(password, &context))
    }

    /// Refuses a new password that breaks `policy`, naming every violated field.
    pub(crate) async fn enforce_policy(
        &self,
        policy: &PasswordPolicy,
        password: &str,
        owner: &PasswordOwner,
        old_password: Option<&str>,
    ) -> Result<()> {
        let violations = self
            .password_violations(policy, password, owner, old_password)
            .await?;
        if violations.is_empty() {
            return Ok(());
        }
        let fields: Vec<&str> = violations.iter().map(|v| v.field).collect();
        Err(ServiceError::invalid(
            "password.policy_violation",
            "password",
            format!(
                "the password breaks the password policy: {}",
                fields.join(", ")
            ),
        ))
    }
}

async fn w_policy_before(
    w: &mut portcullis_store::Write,
    org: Option<OrgKey>,
) -> Result<serde_json::Value> {
    // Read inside the transaction so the audit's `before` is exactly what was replaced.
    let raw = w.password_policy_in_tx(org).await?;
    Ok(raw
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or(serde_json::Value::Null))
}
