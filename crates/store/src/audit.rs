//! Audit entries as the store writes them. The hash chain and the query API come later; the
//! entry already carries actor, operation, targets, details, success and request context.

use portcullis_core::audit::Operation;
use portcullis_core::{CredentialKind, OrgKey, Timestamp, UserKey};
use sqlx::AnyConnection;

use crate::{Result, Store};

/// Who did it, with which credential, from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user: Option<UserKey>,
    pub credential: Option<(i64, CredentialKind)>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// The system itself (start-up, CLI maintenance).
    pub fn system() -> Self {
        Self::default()
    }
}

/// What happened: never a secret, password, token or hash in `targets` or `details`.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// The organization whose log the entry belongs to (`None`: platform-level).
    pub org: Option<OrgKey>,
    pub operation: Operation,
    pub targets: serde_json::Value,
    pub details: serde_json::Value,
}

impl AuditRecord {
    pub fn new(org: Option<OrgKey>, operation: Operation, targets: serde_json::Value) -> Self {
        Self {
            org,
            operation,
            targets,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    actor: &Actor,
    now: Timestamp,
    revision: u64,
    record: &AuditRecord,
    success: bool,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (org_id, at, revision, operation, actor_user_id, actor_credential_id, \
         actor_credential_kind, targets, details, success, request_id, source_ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(record.org.map(|o| i64::from(o.0)))
    .bind(now)
    .bind(i64::try_from(revision).unwrap_or(i64::MAX))
    .bind(record.operation.code())
    .bind(actor.user.map(|u| i64::from(u.0)))
    .bind(actor.credential.map(|(id, _)| id))
    .bind(actor.credential.map(|(_, kind)| kind.as_str()))
    .bind(record.targets.to_string())
    .bind(record.details.to_string())
    .bind(i64::from(success))
    .bind(actor.request_id.as_deref())
    .bind(actor.source_ip.as_deref())
    .bind(actor.user_agent.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// One stored audit entry, as tests and (later) the audit API read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub org: Option<i64>,
    pub at: Timestamp,
    pub revision: i64,
    pub operation: i64,
    pub actor_user: Option<i64>,
    pub targets: String,
    pub details: String,
    pub success: bool,
}

impl Store {
    /// The audit entries of an organization (`None`: platform-level), oldest first.
    pub async fn audit_entries(&self, org: Option<OrgKey>) -> Result<Vec<AuditRow>> {
        type Row = (
            i64,
            Option<i64>,
            i64,
            i64,
            i64,
            Option<i64>,
            String,
            String,
            i64,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, org_id, at, revision, operation, actor_user_id, targets, details, success \
             FROM audit_log WHERE ($1 IS NULL AND org_id IS NULL) OR org_id = $1 ORDER BY id",
        )
        .bind(org.map(|o| i64::from(o.0)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, org, at, revision, operation, actor_user, targets, details, success)| {
                    AuditRow {
                        id,
                        org,
                        at,
                        revision,
                        operation,
                        actor_user,
                        targets,
                        details,
                        success: success != 0,
                    }
                },
            )
            .collect())
    }
}
