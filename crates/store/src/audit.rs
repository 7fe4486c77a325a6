//! Audit entries as the store writes them: actor, operation, targets, details, success and
//! request context, appended to the hash chain of their organization (or the platform's).
//! Verification, queries and retention are in `audit_query`.

use portcullis_core::audit::Operation;
use portcullis_core::audit_chain::{EntryFields, GENESIS_HASH, chain_name, entry_hash};
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
    /// Other organizations whose logs get the same entry: an event about a member's own
    /// account (a failed login, a lockout, a password or second-factor change) concerns every
    /// organization it belongs to, whose administrators watch for attacks on their members.
    pub copies_to: Vec<OrgKey>,
}

impl AuditRecord {
    pub fn new(org: Option<OrgKey>, operation: Operation, targets: serde_json::Value) -> Self {
        Self {
            org,
            operation,
            targets,
            details: serde_json::Value::Object(Default::default()),
            copies_to: Vec::new(),
        }
    }

    /// Records the entry in each of `orgs`' logs too (other than its own chain's).
    pub fn with_copies_to(mut self, orgs: impl IntoIterator<Item = OrgKey>) -> Self {
        let mut orgs: Vec<OrgKey> = orgs.into_iter().filter(|o| Some(*o) != self.org).collect();
        // One lock order for chain heads across transactions.
        orgs.sort_unstable();
        orgs.dedup();
        self.copies_to = orgs;
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends one entry to its chain. The head row is bumped first (`UPDATE ... RETURNING`), so
/// its row lock serialises appends per chain on both backends until the transaction ends, and
/// row ids within a chain follow commit order (what makes cursor pagination exact).
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    actor: &Actor,
    now: Timestamp,
    revision: u64,
    record: &AuditRecord,
    success: bool,
) -> Result<()> {
    insert_in_chain(conn, actor, now, revision, record, record.org, success).await?;
    for org in &record.copies_to {
        insert_in_chain(conn, actor, now, revision, record, Some(*org), success).await?;
    }
    Ok(())
}

async fn insert_in_chain(
    conn: &mut AnyConnection,
    actor: &Actor,
    now: Timestamp,
    revision: u64,
    record: &AuditRecord,
    org: Option<OrgKey>,
    success: bool,
) -> Result<()> {
    let chain = chain_name(org);
    // One statement creates the head on a chain's first entry or bumps it (taking its row
    // lock); either way it returns the new sequence number and the predecessor's hash.
    let (seq, prev_hash): (i64, String) = sqlx::query_as(
        "INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, 1, $2) \
         ON CONFLICT (chain) DO UPDATE SET seq = audit_heads.seq + 1 RETURNING seq, hash",
    )
    .bind(&chain)
    .bind(GENESIS_HASH)
    .fetch_one(&mut *conn)
    .await?;
    let targets = record.targets.to_string();
    let details = record.details.to_string();
    let fields = EntryFields {
        chain: &chain,
        seq,
        prev_hash: &prev_hash,
        at: now,
        revision: i64::try_from(revision).unwrap_or(i64::MAX),
        operation: record.operation.code(),
        actor_user: actor.user.map(|u| i64::from(u.0)),
        actor_credential: actor.credential.map(|(id, _)| id),
        actor_credential_kind: actor.credential.map(|(_, kind)| kind.as_str()),
        targets: &targets,
        details: &details,
        success,
        request_id: actor.request_id.as_deref(),
        source_ip: actor.source_ip.as_deref(),
        user_agent: actor.user_agent.as_deref(),
    };
    let hash = entry_hash(&fields);
    sqlx::query("UPDATE audit_heads SET hash = $2 WHERE chain = $1")
        .bind(&chain)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO audit_log (org_id, at, revision, operation, actor_user_id, actor_credential_id, \
         actor_credential_kind, targets, details, success, request_id, source_ip, user_agent, \
         chain, seq, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(org.map(|o| i64::from(o.0)))
    .bind(fields.at)
    .bind(fields.revision)
    .bind(fields.operation)
    .bind(fields.actor_user)
    .bind(fields.actor_credential)
    .bind(fields.actor_credential_kind)
    .bind(fields.targets)
    .bind(fields.details)
    .bind(i64::from(success))
    .bind(fields.request_id)
    .bind(fields.source_ip)
    .bind(fields.user_agent)
    .bind(&chain)
    .bind(seq)
    .bind(&prev_hash)
    .bind(&hash)
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
