//! Stored secrets and the key ring: what the store holds ([`SealedReport`], for the start-up
//! check and `portcullis doctor`), sealing the legacy plain values at start-up, and re-sealing
//! everything under the primary key (`portcullis secrets rotate`).
//!
//! Rows are read in pages and rewritten in one transaction per page, each value only if it is
//! still what was read (a concurrent enrolment wins), with one audit entry per page that
//! changed anything. Key material never appears in a report, an error or an audit entry; key
//! ids do.

use std::collections::BTreeSet;

use portcullis_core::UserKey;
use portcullis_core::audit::Operation;
use portcullis_store::AuditRecord;
use serde::Serialize;
use serde_json::json;

use crate::sealing::{OpenError, Place, StoredState};
use crate::{Caller, Portcullis, Result, ServiceError};

/// Rows read and rewritten per transaction.
const PAGE: i64 = 500;

/// The stored secrets by how they open with the configured key ring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SealedReport {
    /// The configured ring's key ids, primary first.
    pub key_ids: Vec<String>,
    /// Sealed under the primary key.
    pub current: u64,
    /// Sealed under another key of the ring (`secrets rotate` re-seals them).
    pub older_key: u64,
    /// Legacy plain values (sealed at the next start of `serve` or by `secrets rotate`).
    pub plain: u64,
    /// Sealed under keys the ring lacks: those key ids, and how many values.
    pub missing_key_ids: BTreeSet<String>,
    pub missing_key: u64,
    /// Sealed values that do not open (tampered, malformed or moved to another row).
    pub refused: u64,
}

impl SealedReport {
    /// Whether every stored secret opens with the ring.
    pub fn all_open(&self) -> bool {
        self.missing_key == 0 && self.refused == 0
    }

    fn count(&mut self, opened: &std::result::Result<StoredState, OpenError>) {
        match opened {
            Ok(StoredState::Current) => self.current += 1,
            Ok(StoredState::OlderKey) => self.older_key += 1,
            Ok(StoredState::Plain) => self.plain += 1,
            Err(OpenError::UnknownKey(id)) => {
                self.missing_key += 1;
                self.missing_key_ids.insert(id.clone());
            }
            Err(OpenError::Malformed | OpenError::Refused) => self.refused += 1,
        }
    }

    /// The operator's explanation of why the ring does not fit the store.
    pub fn unopenable_message(&self) -> String {
        let mut why = Vec::new();
        if self.missing_key > 0 {
            why.push(format!(
                "{} are sealed under key ids the key ring lacks ({})",
                self.missing_key,
                self.missing_key_ids
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.refused > 0 {
            why.push(format!(
                "{} do not open (tampered, malformed or moved to another row)",
                self.refused
            ));
        }
        format!(
            "stored secrets (TOTP seeds) do not open with the configured key ring (key ids: {}): \
             {}; configure the ring they were sealed with (`secret_keys_file` or \
             PORTCULLIS_SECRET_KEYS)",
            self.key_ids.join(", "),
            why.join("; ")
        )
    }
}

/// What a sealing pass changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResealReport {
    /// Legacy plain values now sealed.
    pub sealed_plain: u64,
    /// Values sealed under an older key now sealed under the primary.
    pub resealed: u64,
    /// Already sealed under the primary key.
    pub unchanged: u64,
    /// Changed by someone else between reading and rewriting (left as they were).
    pub skipped: u64,
}

/// Which values a pass rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Start-up: only the legacy plain values.
    SealPlain,
    /// `secrets rotate`: everything not sealed under the primary key.
    Rotate,
}

impl Portcullis {
    /// How every stored secret opens with the configured ring (read only).
    pub async fn sealed_secrets_report(&self) -> Result<SealedReport> {
        let keys = &self.config().secret_keys;
        let mut report = SealedReport {
            key_ids: keys.key_ids().into_iter().map(str::to_owned).collect(),
            ..SealedReport::default()
        };
        let mut after = UserKey(0);
        loop {
            let page = self.store().totp_secrets_after(after, PAGE).await?;
            for (user, stored) in &page {
                let opened = keys
                    .open(&Place::totp_secret(user.0), stored)
                    .map(|o| o.state);
                report.count(&opened);
            }
            match page.last() {
                Some((user, _)) if page.len() as i64 == PAGE => after = *user,
                _ => return Ok(report),
            }
        }
    }

    /// `serve`'s start-up step: refuses a key ring that cannot open every stored secret, then
    /// seals the legacy plain ones (written before sealing existed).
    pub async fn seal_stored_secrets(&self) -> Result<ResealReport> {
        self.require_all_open().await?;
        self.reseal(Pass::SealPlain).await
    }

    /// Re-seals every stored secret under the primary key (and seals legacy plain ones), after
    /// checking that every one opens; run it with the new key first and the old one still in
    /// the ring, then remove the old key. Idempotent.
    pub async fn rotate_secrets(&self) -> Result<ResealReport> {
        self.require_all_open().await?;
        self.reseal(Pass::Rotate).await
    }

    async fn require_all_open(&self) -> Result<()> {
        let report = self.sealed_secrets_report().await?;
        if report.all_open() {
            Ok(())
        } else {
            Err(ServiceError::state(
                "secrets.unopenable",
                report.unopenable_message(),
            ))
        }
    }

    async fn reseal(&self, pass: Pass) -> Result<ResealReport> {
        let keys = self.config().secret_keys.clone();
        let mut report = ResealReport::default();
        let mut after = UserKey(0);
        loop {
            let page = self.store().totp_secrets_after(after, PAGE).await?;
            let mut changes = Vec::new();
            for (user, stored) in &page {
                let place = Place::totp_secret(user.0);
                let opened = keys.open(&place, stored).map_err(|err| {
                    ServiceError::Internal(
                        format!("the TOTP secret of user row {}: {err}", user.0).into(),
                    )
                })?;
                let rewrite = match (opened.state, pass) {
                    (StoredState::Current, _) | (StoredState::OlderKey, Pass::SealPlain) => false,
                    (StoredState::Plain, _) | (StoredState::OlderKey, Pass::Rotate) => true,
                };
                if !rewrite {
                    report.unchanged += 1;
                    continue;
                }
                let sealed = keys
                    .seal(&place, &opened.secret)
                    .map_err(|err| ServiceError::Internal(err.to_string().into()))?;
                changes.push((*user, stored.clone(), sealed, opened.state));
            }
            if !changes.is_empty() {
                let operation = match pass {
                    Pass::SealPlain => Operation::SecretsSeal,
                    Pass::Rotate => Operation::SecretsRotate,
                };
                let primary = keys.primary_id().to_owned();
                let counted = self
                    .commit(&Caller::system(), async |w| {
                        let mut counted = ResealReport::default();
                        for (user, old, new, state) in &changes {
                            if !w.reseal_totp_secret(*user, old, new).await? {
                                counted.skipped += 1;
                            } else if *state == StoredState::Plain {
                                counted.sealed_plain += 1;
                            } else {
                                counted.resealed += 1;
                            }
                        }
                        w.audit(
                            AuditRecord::new(None, operation, json!({"key_id": primary}))
                                .with_details(json!({
                                    "sealed_plain": counted.sealed_plain,
                                    "resealed": counted.resealed,
                                })),
                        );
                        Ok((counted, vec![]))
                    })
                    .await?
                    .value;
                report.sealed_plain += counted.sealed_plain;
                report.resealed += counted.resealed;
                report.skipped += counted.skipped;
            }
            match page.last() {
                Some((user, _)) if page.len() as i64 == PAGE => after = *user,
                _ => return Ok(report),
            }
        }
    }
}
