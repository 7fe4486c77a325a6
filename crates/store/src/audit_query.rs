//! Reading the audit log: chain verification, filtered pages for the query API and exports,
//! and retention (pruning a prefix of each chain while recording what was pruned).
//!
//! Everything here reads in bounded batches keyed by row id; nothing loads a whole chain.

use portcullis_core::audit::Operation;
use portcullis_core::audit_chain::{
    ChainVerifier, EntryFields, GENESIS_HASH, Verification, chain_name,
};
use portcullis_core::{OrgKey, Timestamp};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit::{Actor, AuditRecord};
use crate::{Result, Store, Write};

/// Rows read per round trip when walking a chain.
const VERIFY_BATCH: i64 = 5_000;

const ENTRY_COLUMNS: &str = "l.id, l.org_id, l.chain, l.seq, l.prev_hash, l.hash, l.at, l.revision, \
     l.operation, l.actor_user_id, a.handle, l.actor_credential_id, l.actor_credential_kind, \
     l.targets, l.details, l.success, l.request_id, l.source_ip, l.user_agent";

/// One stored entry with every column, and the actor's account id when it still exists.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub org: Option<i64>,
    pub chain: String,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub at: Timestamp,
    pub revision: i64,
    pub operation: i64,
    pub actor_user: Option<i64>,
    /// The actor's account id (`None` when there is no actor or it was deleted).
    pub actor_handle: Option<String>,
    pub actor_credential: Option<i64>,
    pub actor_credential_kind: Option<String>,
    pub targets: String,
    pub details: String,
    pub success: bool,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl AuditEntry {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            id: row.try_get(0)?,
            org: row.try_get(1)?,
            chain: row.try_get(2)?,
            seq: row.try_get(3)?,
            prev_hash: row.try_get(4)?,
            hash: row.try_get(5)?,
            at: row.try_get(6)?,
            revision: row.try_get(7)?,
            operation: row.try_get(8)?,
            actor_user: row.try_get(9)?,
            actor_handle: row.try_get(10)?,
            actor_credential: row.try_get(11)?,
            actor_credential_kind: row.try_get(12)?,
            targets: row.try_get(13)?,
            details: row.try_get(14)?,
            success: row.try_get::<i64, _>(15)? != 0,
            request_id: row.try_get(16)?,
            source_ip: row.try_get(17)?,
            user_agent: row.try_get(18)?,
        })
    }

    /// The hashed fields, as stored.
    pub fn fields(&self) -> EntryFields<'_> {
        EntryFields {
            chain: &self.chain,
            seq: self.seq,
            prev_hash: &self.prev_hash,
            at: self.at,
            revision: self.revision,
            operation: self.operation,
            actor_user: self.actor_user,
            actor_credential: self.actor_credential,
            actor_credential_kind: self.actor_credential_kind.as_deref(),
            targets: &self.targets,
            details: &self.details,
            success: self.success,
            request_id: self.request_id.as_deref(),
            source_ip: self.source_ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// Filters of the query API; every present filter must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Inclusive lower bound on the time.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on the time.
    pub to: Option<Timestamp>,
    /// Actor user row ids (any of them).
    pub users: Vec<i64>,
    /// Operation codes (any of them).
    pub operations: Vec<i64>,
    /// A substring of the targets JSON (case-insensitive).
    pub target: Option<String>,
    pub success: Option<bool>,
    pub source_ip: Option<String>,
}

/// Which way a page reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOrder {
    NewestFirst,
    OldestFirst,
}

/// What a pruning removed from one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPruned {
    pub chain: String,
    pub through_seq: i64,
    pub removed: u64,
}

enum Bind {
    Int(i64),
    Text(String),
}

impl Store {
    /// Verifies the chain of `org` (`None`: the platform chain) from its first kept entry to
    /// its head.
    pub async fn verify_audit_chain(&self, org: Option<OrgKey>) -> Result<Verification> {
        let chain = chain_name(org);
        let anchor: Option<(i64, String)> = sqlx::query_as(
            "SELECT through_seq, through_hash FROM audit_prunes WHERE chain = $1 \
             ORDER BY through_seq DESC LIMIT 1",
        )
        .bind(&chain)
        .fetch_optional(&self.pool)
        .await?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE chain = $1")
                .bind(&chain)
                .fetch_optional(&self.pool)
                .await?;
        let mut verifier = match &anchor {
            Some((seq, hash)) => ChainVerifier::new(seq + 1, hash, head),
            None => ChainVerifier::new(1, GENESIS_HASH, head),
        };
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log l LEFT JOIN accounts a ON a.id = -1 \
                 WHERE l.chain = $1 AND l.id > $2 ORDER BY l.id LIMIT $3"
            ))
            .bind(&chain)
            .bind(after)
            .bind(VERIFY_BATCH)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                let entry = AuditEntry::from_row(row)?;
                verifier.feed(entry.id, &entry.fields(), &entry.hash);
                after = entry.id;
            }
            if (rows.len() as i64) < VERIFY_BATCH {
                break;
            }
        }
        Ok(verifier.finish())
    }

    /// One page of the chain of `org` matching `filter`, after the entry `cursor` (a row id)
    /// in `order`. Row ids within a chain follow commit order, so paging never skips or
    /// repeats an entry while others are being appended.
    pub async fn audit_page(
        &self,
        org: Option<OrgKey>,
        filter: &AuditFilter,
        order: AuditOrder,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let mut binds = vec![Bind::Text(chain_name(org))];
        let mut sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log l LEFT JOIN accounts a ON a.id = l.actor_user_id \
             WHERE l.chain = $1"
        );
        let mut push = |sql: &mut String, clause: &str, value: Bind| {
            binds.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        if let Some(cursor) = cursor {
            let clause = match order {
                AuditOrder::NewestFirst => " AND l.id < ?",
                AuditOrder::OldestFirst => " AND l.id > ?",
            };
            push(&mut sql, clause, Bind::Int(cursor));
        }
        if let Some(from) = filter.from {
            push(&mut sql, " AND l.at >= ?", Bind::Int(from));
        }
        if let Some(to) = filter.to {
            push(&mut sql, " AND l.at < ?", Bind::Int(to));
        }
        for (column, values) in [
            ("l.actor_user_id", &filter.users),
            ("l.operation", &filter.operations),
        ] {
            if values.is_empty() {
                continue;
            }
            sql.push_str(&format!(" AND {column} IN ("));
            for (i, value) in values.iter().enumerate() {
                push(
                    &mut sql,
                    if i == 0 { "?" } else { ", ?" },
                    Bind::Int(*value),
                );
            }
            sql.push(')');
        }
        if let Some(target) = &filter.target {
            let pattern = format!("%{}%", escape_like(&target.to_lowercase()));
            push(
                &mut sql,
                " AND LOWER(l.targets) LIKE ? ESCAPE '\\'",
                Bind::Text(pattern),
            );
        }
        if let Some(success) = filter.success {
            push(
                &mut sql,
                " AND l.success = ?",
                Bind::Int(i64::from(success)),
            );
        }
        if let Some(ip) = &filter.source_ip {
            push(&mut sql, " AND l.source_ip = ?", Bind::Text(ip.clone()));
        }
        sql.push_str(match order {
            AuditOrder::NewestFirst => " ORDER BY l.id DESC",
            AuditOrder::OldestFirst => " ORDER BY l.id ASC",
        });
        binds.push(Bind::Int(i64::from(limit)));
        sql.push_str(&format!(" LIMIT ${}", binds.len()));
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = match bind {
                Bind::Int(v) => query.bind(v),
                Bind::Text(v) => query.bind(v),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(AuditEntry::from_row).collect()
    }

    /// Removes, from every chain, the entries older than `before`, and records each pruning
    /// (an `audit_prunes` row and an `audit.prune` entry in that chain) so the rest verifies.
    pub async fn prune_audit(
        &self,
        actor: &Actor,
        now: Timestamp,
        before: Timestamp,
    ) -> Result<(Vec<ChainPruned>, u64)> {
        let mut write = self.begin_write(actor, now).await?;
        let pruned = write.prune_audit(before).await?;
        let revision = write.commit().await?;
        Ok((pruned, revision))
    }
}

impl Write {
    /// The pruning inside a write (see [`Store::prune_audit`]).
    pub async fn prune_audit(&mut self, before: Timestamp) -> Result<Vec<ChainPruned>> {
        let now = self.now();
        let conn: &mut AnyConnection = self.conn();
        let cut: Vec<(String, i64)> = sqlx::query_as(
            "SELECT chain, MAX(seq) FROM audit_log WHERE at < $1 GROUP BY chain ORDER BY chain",
        )
        .bind(before)
        .fetch_all(&mut *conn)
        .await?;
        let mut pruned = Vec::with_capacity(cut.len());
        for (chain, through_seq) in cut {
            let (through_hash, org): (String, Option<i64>) =
                sqlx::query_as("SELECT hash, org_id FROM audit_log WHERE chain = $1 AND seq = $2")
                    .bind(&chain)
                    .bind(through_seq)
                    .fetch_one(&mut *conn)
                    .await?;
            let removed = sqlx::query("DELETE FROM audit_log WHERE chain = $1 AND seq <= $2")
                .bind(&chain)
                .bind(through_seq)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            sqlx::query(
                "INSERT INTO audit_prunes (chain, through_seq, through_hash, pruned_at, removed) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&chain)
            .bind(through_seq)
            .bind(&through_hash)
            .bind(now)
            .bind(i64::try_from(removed).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await?;
            let org = org.and_then(|o| u32::try_from(o).ok()).map(OrgKey);
            pruned.push((org, chain, through_seq, through_hash, removed));
        }
        let mut report = Vec::with_capacity(pruned.len());
        for (org, chain, through_seq, through_hash, removed) in pruned {
            self.audit(
                AuditRecord::new(org, Operation::AuditPrune, json!({"chain": chain})).with_details(
                    json!({
                        "before": before,
                        "through_seq": through_seq,
                        "through_hash": through_hash,
                        "removed": removed,
                    }),
                ),
            );
            report.push(ChainPruned {
                chain,
                through_seq,
                removed,
            });
        }
        Ok(report)
    }
}

fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The latest `limit` entries of `org`'s chain written with a credential of `kind`, failures
/// included, newest first.
pub(crate) async fn entries_by_credential_kind(
    pool: &sqlx::AnyPool,
    org: OrgKey,
    kind: &str,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_log l LEFT JOIN accounts a ON a.id = l.actor_user_id \
         WHERE l.chain = $1 AND l.actor_credential_kind = $2 ORDER BY l.id DESC LIMIT $3"
    ))
    .bind(chain_name(Some(org)))
    .bind(kind)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(AuditEntry::from_row).collect()
}
