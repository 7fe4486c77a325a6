//! The audit log of an organization: verify its hash chain, query it page by page, export it,
//! and prune it (retention). Reading needs `audit.view` on the organization; the platform's
//! own chain (operator actions, and every account's authentication events) is the platform
//! operator's, with an unrestricted credential.
//!
//! Entries are written by the use cases themselves (in the transaction of their change); this
//! module only reads them, and prunes through one recorded write.

use portcullis_core::audit::Operation;
use portcullis_core::audit_chain::Verification;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{OrgKey, Permission, Timestamp};
use portcullis_store::{AuditEntry, AuditFilter, AuditOrder, ChainPruned};

use crate::members::page_size;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// Rows fetched per round trip by an export.
pub const EXPORT_BATCH: u32 = 500;

/// The query parameters, as the caller gave them (times already parsed by the adapter).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Account ids of acting users.
    pub users: Vec<String>,
    /// Operation codes (`101`) or names (`organization.member.change`).
    pub operations: Vec<String>,
    pub target: Option<String>,
    pub success: Option<bool>,
    pub source_ip: Option<String>,
    /// `newest` (default) or `oldest`.
    pub order: Option<String>,
}

/// An authorized, validated query: only this module can make one, so reading rows with it
/// needs no second permission check.
#[derive(Debug, Clone)]
pub struct AuditSelection {
    /// `None`: the platform chain.
    org: Option<OrgKey>,
    filter: AuditFilter,
    order: AuditOrder,
}

/// One page of entries and the cursor of the next.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The operation code and name of an entry (`None` name for a code this build does not know).
pub fn operation_name(code: i64) -> Option<&'static str> {
    Operation::from_code(code).map(Operation::name)
}

impl Portcullis {
    fn require_audit_view(&self, caller: &Caller, org: &str) -> Result<OrgKey> {
        let org = self.resolve_org(org)?;
        self.authorize(
            caller,
            Permission::AuditView,
            Resource::Account(Account::Org(org)),
            "organization",
        )?;
        Ok(org)
    }

    /// Refuses anyone but the platform operator acting with an unrestricted credential.
    fn require_platform_audit(&self, caller: &Caller) -> Result<()> {
        let operator = caller
            .user()
            .is_some_and(|u| self.with_index(|i| i.user(u).is_some_and(|e| e.operator)));
        if operator && caller.is_unrestricted() {
            Ok(())
        } else {
            Err(ServiceError::NotAllowed {
                code: "platform.operator_only",
                message: "only the platform operator can read the platform audit log".into(),
            })
        }
    }

    /// Verifies the hash chain of the platform's log (the operator).
    pub async fn verify_platform_audit_log(&self, caller: &Caller) -> Result<Verification> {
        self.require_platform_audit(caller)?;
        Ok(self.store().verify_audit_chain(None).await?)
    }

    /// Authorizes and validates a query of the platform's log (the operator).
    pub fn select_platform_audit_log(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<AuditSelection> {
        self.require_platform_audit(caller)?;
        selection(self, None, query)
    }

    /// Verifies the hash chain of an organization's log (`audit.view`).
    pub async fn verify_audit_log(&self, caller: &Caller, org: &str) -> Result<Verification> {
        let org = self.require_audit_view(caller, org)?;
        Ok(self.store().verify_audit_chain(Some(org)).await?)
    }

    /// Authorizes and validates a query of `org`'s log.
    pub fn select_audit_log(
        &self,
        caller: &Caller,
        org: &str,
        query: AuditQuery,
    ) -> Result<AuditSelection> {
        let org = self.require_audit_view(caller, org)?;
        selection(self, Some(org), query)
    }

    /// One page of a selection (`limit` 1–200, default 50), after `cursor`.
    pub async fn audit_log_page(
        &self,
        selection: &AuditSelection,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<AuditPage> {
        let limit = page_size(limit)?;
        let cursor = parse_cursor(cursor)?;
        let mut entries = self.audit_rows(selection, cursor, limit + 1).await?;
        let next_cursor = if entries.len() > limit as usize {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(AuditPage {
            entries,
            next_cursor,
        })
    }

    /// Up to `limit` rows of a selection after the row id `cursor` (exports read in batches).
    pub async fn audit_rows(
        &self,
        selection: &AuditSelection,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        Ok(self
            .store()
            .audit_page(
                selection.org,
                &selection.filter,
                selection.order,
                cursor,
                limit,
            )
            .await?)
    }

    /// Removes entries older than `before` from every chain, recording each pruning (run by the
    /// operator's CLI or a configured retention; not exposed to organization members).
    pub async fn prune_audit_log(
        &self,
        caller: &Caller,
        before: Timestamp,
    ) -> Result<Committed<Vec<ChainPruned>>> {
        self.commit(caller, async |w| Ok((w.prune_audit(before).await?, vec![])))
            .await
    }
}

/// Validates a query of the log of `org` (`None`: the platform's), already authorized.
fn selection(
    service: &Portcullis,
    org: Option<OrgKey>,
    query: AuditQuery,
) -> Result<AuditSelection> {
    let order = match query.order.as_deref() {
        None | Some("newest") => AuditOrder::NewestFirst,
        Some("oldest") => AuditOrder::OldestFirst,
        Some(other) => {
            return Err(ServiceError::invalid(
                "audit.invalid_order",
                "order",
                format!("`order` must be `newest` or `oldest`, not `{other}`"),
            ));
        }
    };
    let operations = query
        .operations
        .iter()
        .map(|raw| {
            raw.parse::<i64>()
                .ok()
                .and_then(Operation::from_code)
                .or_else(|| Operation::ALL.iter().copied().find(|o| o.name() == raw))
                .map(Operation::code)
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "audit.unknown_operation",
                        "operations",
                        format!("unknown operation `{raw}`"),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    // A user id that names nobody matches no entry (its entries may outlive it).
    let users = service.with_index(|index| {
        query
            .users
            .iter()
            .map(|u| index.user_by_id(u).map_or(-1, |k| i64::from(k.0)))
            .collect()
    });
    Ok(AuditSelection {
        org,
        filter: AuditFilter {
            from: query.from,
            to: query.to,
            users,
            operations,
            target: query.target.filter(|t| !t.is_empty()),
            success: query.success,
            source_ip: query.source_ip.filter(|ip| !ip.is_empty()),
        },
        order,
    })
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ServiceError::invalid(
                    "pagination.invalid_cursor",
                    "cursor",
                    "`cursor` is not a cursor this list returned",
                )
            })
        })
        .transpose()
}
