//! Start-up upkeep of the canonical email keys: keys stored by an older version (lower-cased
//! only) are recomputed in the canonical form, except where two stored addresses would then
//! share one key. Those collisions (e.g. an account registered with a KELVIN SIGN beside the
//! real `kate@`) are reported for the operator and never merged or re-keyed automatically: the
//! accounts keep their old keys until a person decides.

use std::collections::BTreeMap;

use portcullis_core::audit::Operation;
use portcullis_core::email::canonical_key;
use portcullis_store::{AuditRecord, EmailOwner, StoredEmail};
use serde::Serialize;
use serde_json::json;

use crate::{Caller, Portcullis, Result};

/// What the canonical form finds among the stored addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EmailKeyReport {
    /// Stored keys that differ from the canonical one and can be upgraded safely.
    pub upgradable: usize,
    /// Groups of accounts (user ids, or `invitation:<id>`) whose addresses share one canonical
    /// key: left as they are.
    pub collisions: Vec<Collision>,
    /// Stored addresses that are no valid address at all (kept, never matched by a new key).
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collision {
    pub canonical: String,
    pub accounts: Vec<String>,
}

fn label(stored: &StoredEmail) -> String {
    match stored.owner {
        EmailOwner::User(_) => stored.id.clone(),
        EmailOwner::Invitation => format!("invitation:{}", stored.id),
    }
}

/// The report, and the stored addresses whose keys can be upgraded with their new keys.
fn plan(stored: Vec<StoredEmail>) -> (EmailKeyReport, Vec<(StoredEmail, String)>) {
    let mut report = EmailKeyReport::default();
    let mut by_key: BTreeMap<String, Vec<StoredEmail>> = BTreeMap::new();
    for entry in stored {
        match canonical_key(&entry.email) {
            Some(key) => by_key.entry(key).or_default().push(entry),
            None => report.invalid.push(label(&entry)),
        }
    }
    let mut upgrades = Vec::new();
    for (key, entries) in by_key {
        let users = entries
            .iter()
            .filter(|e| matches!(e.owner, EmailOwner::User(_)))
            .count();
        // Two accounts under one key collide; invitations may share a key with each other
        // (several orgs invite one person) and with the account they are meant for.
        if users > 1 {
            report.collisions.push(Collision {
                canonical: key,
                accounts: entries.iter().map(label).collect(),
            });
            continue;
        }
        for entry in entries {
            if entry.email_key != key {
                upgrades.push((entry, key.clone()));
            }
        }
    }
    report.upgradable = upgrades.len();
    (report, upgrades)
}

impl Portcullis {
    /// What upgrading the stored keys would do, without changing anything (`portcullis doctor`).
    pub async fn email_key_report(&self) -> Result<EmailKeyReport> {
        Ok(plan(self.store().stored_emails().await?).0)
    }

    /// Upgrades every stored key that can be upgraded safely (one write, audited on the
    /// platform chain) and reports the rest.
    pub async fn upgrade_email_keys(&self) -> Result<EmailKeyReport> {
        let (report, upgrades) = plan(self.store().stored_emails().await?);
        if upgrades.is_empty() {
            return Ok(report);
        }
        let upgraded = upgrades.len();
        self.commit(&Caller::system(), async |w| {
            for (stored, key) in &upgrades {
                w.set_email_key(stored, key).await?;
            }
            w.audit(AuditRecord::new(
                None,
                Operation::EmailKeysUpgrade,
                json!({"upgraded": upgraded}),
            ));
            Ok(((), vec![]))
        })
        .await?;
        Ok(report)
    }
}
