//! Guessing defences: per-account failure counting and lockout (from the effective password
//! policy), per-source-IP throttling (an instance setting), and the administrator's unlock.

use crate::mail::Mail;
use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{OrgKey, Permission, Timestamp, UserKey};
use portcullis_store::NewMessage;
use portcullis_store::{AuditRecord, FailureCount, LOCKED_UNTIL_UNLOCKED};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Caller, Committed, Portcullis, Result, ServiceError};

const THROTTLE_SETTING: &str = "login_throttle";
pub const MAX_THROTTLE_FAILURES: u32 = 1_000_000;
pub const MAX_THROTTLE_WINDOW_SECONDS: u32 = 86_400;

/// Failed logins allowed from one source IP per window; `max_failures` 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    pub max_failures: u32,
    pub window_seconds: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures: 100,
            window_seconds: 300,
        }
    }
}

impl ThrottleSettings {
    fn window_ms(self) -> i64 {
        i64::from(self.window_seconds) * 1000
    }
}

impl Portcullis {
    pub async fn throttle_settings(&self) -> Result<ThrottleSettings> {
        match self.store().security_setting(THROTTLE_SETTING).await? {
            Some(raw) => {
                serde_json::from_str(&raw).map_err(|e| ServiceError::Internal(Box::new(e)))
            }
            None => Ok(ThrottleSettings::default()),
        }
    }

    /// Changes the per-IP throttle (the platform operator only).
    pub async fn set_throttle_settings(
        &self,
        caller: &Caller,
        settings: ThrottleSettings,
    ) -> Result<Committed<ThrottleSettings>> {
        self.require_user(caller)?;
        let operator = caller
            .user()
            .is_some_and(|u| self.with_index(|i| i.user(u).is_some_and(|e| e.operator)));
        if !operator || !caller.is_unrestricted() {
            return Err(ServiceError::NotAllowed {
                code: "platform.operator_only",
                message: "only the platform operator can change the login throttle".into(),
            });
        }
        if settings.max_failures > MAX_THROTTLE_FAILURES {
            return Err(ServiceError::invalid(
                "throttle.invalid",
                "max_failures",
                format!("`max_failures` must be at most {MAX_THROTTLE_FAILURES}"),
            ));
        }
        if settings.window_seconds == 0 || settings.window_seconds > MAX_THROTTLE_WINDOW_SECONDS {
            return Err(ServiceError::invalid(
                "throttle.invalid",
                "window_seconds",
                format!("`window_seconds` must be between 1 and {MAX_THROTTLE_WINDOW_SECONDS}"),
            ));
        }
        let raw =
            serde_json::to_string(&settings).map_err(|e| ServiceError::Internal(Box::new(e)))?;
        let before = self.throttle_settings().await?;
        self.commit(caller, async |w| {
            w.put_security_setting(THROTTLE_SETTING, &raw).await?;
            w.audit(
                AuditRecord::new(None, Operation::LoginThrottleUpdate, json!({}))
                    .with_details(json!({"before": before, "after": settings})),
            );
            Ok((settings, vec![]))
        })
        .await
    }

    /// Refuses a login attempt from a source that has failed too often in this window.
    pub(crate) async fn check_throttle(&self, caller: &Caller) -> Result<()> {
        let Some(ip) = caller.meta.source_ip.as_deref() else {
            return Ok(());
        };
        let settings = self.throttle_settings().await?;
        if settings.max_failures == 0 {
            return Ok(());
        }
        let now = self.now();
        let Some((failures, window_end)) = self
            .store()
            .ip_failures(ip, now, settings.window_ms())
            .await?
        else {
            return Ok(());
        };
        if failures < i64::from(settings.max_failures) {
            return Ok(());
        }
        let retry_after_secs = u64::try_from((window_end - now + 999) / 1000)
            .unwrap_or(1)
            .max(1);
        self.store()
            .record_failure(
                &caller.actor(),
                now,
                AuditRecord::new(None, Operation::LoginThrottled, json!({"source_ip": ip}))
                    .with_details(json!({"retry_after_seconds": retry_after_secs})),
            )
            .await?;
        Err(ServiceError::Throttled { retry_after_secs })
    }

    pub(crate) async fn count_ip_failure(&self, caller: &Caller) -> Result<()> {
        let Some(ip) = caller.meta.source_ip.as_deref() else {
            return Ok(());
        };
        let settings = self.throttle_settings().await?;
        if settings.max_failures == 0 {
            return Ok(());
        }
        self.store()
            .count_ip_failure(ip, self.now(), settings.window_ms())
            .await?;
        Ok(())
    }

    /// The organizations `user` belongs to: events about its own account (failed logins,
    /// lockouts, password and second-factor changes) are recorded in each of their logs too.
    pub(crate) fn member_orgs(&self, user: UserKey) -> Vec<OrgKey> {
        self.with_index(|index| {
            index
                .user(user)
                .map(|u| u.memberships.iter().map(|m| m.org).collect())
                .unwrap_or_default()
        })
    }

    /// Counts a failed password for a known account, locking it when the effective policy's
    /// limit is reached; the failure (and lockout) are audited with the count.
    pub(crate) async fn count_account_failure(
        &self,
        caller: &Caller,
        user: UserKey,
        user_id: &str,
        failure: AuditRecord,
    ) -> Result<FailureCount> {
        let policy = self.effective_policy(user).await?;
        let now = self.now();
        let lock_until = if policy.lockout_minutes == 0 {
            LOCKED_UNTIL_UNLOCKED
        } else {
            now + i64::from(policy.lockout_minutes) * 60_000
        };
        let orgs = self.member_orgs(user);
        let failure = failure.with_copies_to(orgs.iter().copied());
        let lockout = AuditRecord::new(None, Operation::AccountLockout, json!({"user": user_id}))
            .with_copies_to(orgs)
            .with_details(json!({
                "max_failed_attempts": policy.max_failed_attempts,
                "lockout_minutes": policy.lockout_minutes,
                "permanent": policy.lockout_minutes == 0,
            }));
        let notice = match self.store().user(user).await? {
            Some(record) => {
                let until = if policy.lockout_minutes == 0 {
                    "until an administrator unlocks it".to_owned()
                } else {
                    format!("for {} minutes", policy.lockout_minutes)
                };
                let mail = Mail::new(&record.email, "Your Portcullis account is locked", user_id)
                    .say(format!(
                        "After {} failed sign-in attempts your account `{user_id}` is locked {until}.",
                        policy.max_failed_attempts
                    ))
                    .say("If these attempts were not yours, someone may be guessing your password: \
                          choose a new one once you can sign in again.");
                let (body, html_body) = mail.render()?;
                Some(NewMessage {
                    recipient: record.email,
                    subject: mail.subject,
                    body,
                    html_body: Some(html_body),
                })
            }
            None => None,
        };
        Ok(self
            .store()
            .count_login_failure(
                user,
                now,
                policy.max_failed_attempts,
                lock_until,
                &caller.actor(),
                &failure,
                &lockout,
                notice.as_ref(),
            )
            .await?)
    }

    /// The members of an organization locked out now, by account id, with when each lockout
    /// ends (`None`: when an administrator unlocks it). Those who may unlock (`members.manage`)
    /// may see it.
    pub async fn locked_members(
        &self,
        caller: &Caller,
        org: &str,
    ) -> Result<Vec<(String, Option<Timestamp>)>> {
        let org_key = self.resolve_org(org)?;
        self.authorize(
            caller,
            Permission::MembersManage,
            Resource::Account(Account::Org(org_key)),
            "organization",
        )?;
        let locked = self.store().locked_members(org_key, self.now()).await?;
        Ok(self.with_index(|index| {
            locked
                .into_iter()
                .filter_map(|(user, until)| {
                    let id = index.user(user)?.id.to_string();
                    Some((id, (until != LOCKED_UNTIL_UNLOCKED).then_some(until)))
                })
                .collect()
        }))
    }

    /// Lifts a member's lockout (`members.manage` in an organization it belongs to).
    pub async fn unlock_member(
        &self,
        caller: &Caller,
        org: &str,
        user: &str,
    ) -> Result<Committed<bool>> {
        let org_key = self.resolve_org(org)?;
        self.authorize_mutation(
            Operation::AccountUnlock,
            caller,
            Permission::MembersManage,
            Resource::Account(Account::Org(org_key)),
            "organization",
        )
        .await?;
        let user_key = self
            .with_index(|index| {
                let u = index.user_by_id(user)?;
                index.membership(u, org_key).map(|_| u)
            })
            .ok_or(ServiceError::NotFound("member"))?;
        let org_id = self.member_org_handle(org_key);
        let user_id = self
            .with_index(|i| i.user(user_key).map(|u| u.id.to_string()))
            .unwrap_or_default();
        self.commit(caller, async |w| {
            let was_locked = w.unlock_user(user_key).await?;
            w.audit(
                AuditRecord::new(
                    Some(org_key),
                    Operation::AccountUnlock,
                    json!({"org": org_id, "user": user_id}),
                )
                .with_details(json!({"was_locked": was_locked})),
            );
            Ok((was_locked, vec![]))
        })
        .await
    }
}
