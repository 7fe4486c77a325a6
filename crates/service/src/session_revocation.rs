//! A user's own login sessions (list, revoke one) and the operator's suspension of a user,
//! which ends every session and token at once.

use portcullis_core::audit::Operation;
use portcullis_core::{Change, CredentialKind};
use portcullis_store::{AuditRecord, CredentialRecord};
use serde_json::json;

use crate::credential_use::{CredentialUse, require_credential_for};
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// One live session of the caller.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub record: CredentialRecord,
    /// The session making this request.
    pub current: bool,
}

impl Portcullis {
    /// The caller's live sessions, newest first.
    pub async fn my_sessions(&self, caller: &Caller) -> Result<Vec<SessionInfo>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        let now = self.now();
        let sessions = self
            .store()
            .credentials_of_user(user, &[CredentialKind::Session])
            .await?;
        Ok(sessions
            .into_iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|record| SessionInfo {
                current: caller.token_hash == Some(record.token_hash),
                record,
            })
            .collect())
    }

    /// Ends one of the caller's sessions by its id.
    pub async fn revoke_my_session(&self, caller: &Caller, id: &str) -> Result<Committed<()>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        let owned = self
            .store()
            .credentials_of_user(user, &[CredentialKind::Session])
            .await?
            .into_iter()
            .any(|c| c.public_id == id);
        if !owned {
            return Err(ServiceError::NotFound("session"));
        }
        self.commit(caller, async |w| {
            let revoked = w.revoke_credential(user, id).await?;
            w.audit(AuditRecord::new(
                None,
                Operation::SessionRevoke,
                json!({"credential": revoked.public_id}),
            ));
            Ok((
                (),
                vec![Change::CredentialRevoked {
                    hash: revoked.token_hash,
                }],
            ))
        })
        .await
    }

    fn require_operator(&self, caller: &Caller, what: &str) -> Result<()> {
        let operator = caller
            .user()
            .is_some_and(|u| self.with_index(|i| i.user(u).is_some_and(|e| e.operator)));
        if operator && caller.is_unrestricted() {
            return Ok(());
        }
        Err(ServiceError::NotAllowed {
            code: "platform.operator_only",
            message: format!("only the platform operator can {what}"),
        })
    }

    /// Suspends a user (the platform operator): every session and token ends at once. The
    /// only active administrator of an organization cannot be suspended.
    pub async fn suspend_user(&self, caller: &Caller, user: &str) -> Result<Committed<usize>> {
        self.set_suspended(caller, user, true).await
    }

    pub async fn unsuspend_user(&self, caller: &Caller, user: &str) -> Result<Committed<usize>> {
        self.set_suspended(caller, user, false).await
    }

    async fn set_suspended(
        &self,
        caller: &Caller,
        user: &str,
        suspend: bool,
    ) -> Result<Committed<usize>> {
        self.require_operator(caller, "suspend users")?;
        let key = self.resolve_user(user)?;
        if suspend && caller.user() == Some(key) {
            return Err(ServiceError::state(
                "user.suspend_self",
                "the operator cannot suspend itself",
            ));
        }
        let (id, operator) = self
            .with_index(|i| i.user(key).map(|u| (u.id.to_string(), u.operator)))
            .ok_or(ServiceError::NotFound("user"))?;
        self.commit(caller, async |w| {
            if suspend && w.orgs_where_last_active_admin(key).await? > 0 {
                return Err(ServiceError::LastAdmin);
            }
            w.set_user_active(key, !suspend).await?;
            let revoked = if suspend {
                w.revoke_user_credentials(key, false, None).await?
            } else {
                Vec::new()
            };
            let operation = if suspend {
                Operation::UserSuspend
            } else {
                Operation::UserUnsuspend
            };
            w.audit(
                AuditRecord::new(None, operation, json!({"user": id}))
                    .with_details(json!({"credentials_revoked": revoked.len()})),
            );
            let mut changes = vec![Change::UserUpserted {
                key,
                id: id.clone(),
                active: !suspend,
                operator,
            }];
            changes.extend(
                revoked
                    .iter()
                    .map(|c| Change::CredentialRevoked { hash: c.token_hash }),
            );
            Ok((revoked.len(), changes))
        })
        .await
    }
}

const IDLE_SETTING: &str = "session_idle_minutes";
pub const MAX_IDLE_MINUTES: u32 = 525_600;

/// Session idle tracking: the last time each session was used on this server, and the idle
/// limit (0: off). Kept in memory so authentication stays a lock-and-lookup; a session first
/// seen after a restart counts as active from then.
#[derive(Debug, Default)]
pub struct SessionActivity {
    idle_ms: std::sync::atomic::AtomicI64,
    last_seen: parking_lot::Mutex<std::collections::HashMap<[u8; 32], portcullis_core::Timestamp>>,
}

impl SessionActivity {
    pub async fn load(store: &portcullis_store::Store) -> Result<Self> {
        let minutes: u32 = match store.security_setting(IDLE_SETTING).await? {
            Some(raw) => raw.parse().unwrap_or(0),
            None => 0,
        };
        let activity = Self::default();
        activity.set_idle_minutes(minutes);
        Ok(activity)
    }

    fn set_idle_minutes(&self, minutes: u32) {
        self.idle_ms.store(
            i64::from(minutes) * 60_000,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn idle_minutes(&self) -> u32 {
        u32::try_from(self.idle_ms.load(std::sync::atomic::Ordering::Relaxed) / 60_000).unwrap_or(0)
    }

    /// Records a use of session `hash` at `now`; `false` when it had been idle too long
    /// (it is then forgotten, and the caller refuses it).
    pub fn touch(&self, hash: [u8; 32], now: portcullis_core::Timestamp) -> bool {
        let idle = self.idle_ms.load(std::sync::atomic::Ordering::Relaxed);
        let mut seen = self.last_seen.lock();
        if idle > 0
            && let Some(last) = seen.get(&hash)
            && now - *last >= idle
        {
            seen.remove(&hash);
            return false;
        }
        if seen.len() > 1_000_000 {
            // Bound the memory: forget sessions idle past the limit (or the oldest half).
            let horizon = if idle > 0 {
                now - idle
            } else {
                now - 86_400_000
            };
            seen.retain(|_, last| *last > horizon);
        }
        seen.insert(hash, now);
        true
    }
}

impl Portcullis {
    pub fn session_idle_minutes(&self) -> u32 {
        self.activity.idle_minutes()
    }

    /// Sets the session idle timeout in minutes, 0 = off (the platform operator).
    pub async fn set_session_idle_minutes(
        &self,
        caller: &Caller,
        minutes: u32,
    ) -> Result<Committed<u32>> {
        self.require_operator(caller, "change session settings")?;
        if minutes > MAX_IDLE_MINUTES {
            return Err(ServiceError::invalid(
                "session_settings.invalid",
                "idle_minutes",
                format!("`idle_minutes` must be at most {MAX_IDLE_MINUTES}"),
            ));
        }
        let before = self.activity.idle_minutes();
        let committed = self
            .commit(caller, async |w| {
                w.put_security_setting(IDLE_SETTING, &minutes.to_string())
                    .await?;
                w.audit(
                    AuditRecord::new(None, Operation::SessionSettingsUpdate, json!({}))
                        .with_details(json!({"before": {"idle_minutes": before},
                                             "after": {"idle_minutes": minutes}})),
                );
                Ok((minutes, vec![]))
            })
            .await?;
        self.activity.set_idle_minutes(minutes);
        Ok(committed)
    }
}
