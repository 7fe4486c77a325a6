//! The change feed: every committed write leaves one `changes` row, at its revision, holding the
//! index [`Change`]s it made (possibly none). Rows are written in the write's own transaction and
//! writers are serialised by the revision bump, so the rows are contiguous and committed in
//! revision order: a server that applies them in order keeps its index a prefix of the global
//! history. Old rows are pruned; a server that fell behind the oldest row reloads the index.
//!
//! The encoding is a JSON array of objects tagged by `t`, with store ids for keys and the
//! stable text forms of roles, visibilities and scopes (the same as the tables use), so the
//! payload never depends on in-memory representations.

use portcullis_core::index::{Account, CredentialEntry, ItemKind};
use portcullis_core::{Change, CredentialKind, Timestamp};
use serde_json::{Map, Value, json};
use sqlx::AnyConnection;

use crate::connect::Backend;
use crate::rows::{
    app_key, id_of, org_key, org_role, scopes_from_text, scopes_to_text, team_key, team_role,
    user_key, visibility,
};
use crate::{Result, Store, StoreError};

/// The PostgreSQL notification channel a write signals on commit.
pub const CHANGES_CHANNEL: &str = "portcullis_changes";

/// One committed revision and the index changes it made.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub revision: u64,
    pub changes: Vec<Change>,
}

/// What [`Store::changes_after`] found.
#[derive(Debug, Clone)]
pub enum ChangeFeed {
    /// The rows after the asked revision, in order, contiguous (possibly none).
    Rows(Vec<ChangeRow>),
    /// The next revision is no longer (or not yet ever was) in the feed: reload the index.
    Pruned,
}

impl Store {
    /// The committed changes with revision in `(after, up_to]` (`up_to` `None`: all committed),
    /// at most `limit` rows, in order. Reports [`ChangeFeed::Pruned`] when a revision in that
    /// range is missing from the feed (pruned, or written before the feed existed).
    pub async fn changes_after(
        &self,
        after: u64,
        up_to: Option<u64>,
        limit: u32,
    ) -> Result<ChangeFeed> {
        // The committed revision first: every row up to it is visible to the next query.
        let current = self.revision().await?;
        let last = up_to
            .map_or(current, |r| r.min(current))
            .min(after.saturating_add(u64::from(limit)));
        if last <= after {
            return Ok(ChangeFeed::Rows(Vec::new()));
        }
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT revision, payload FROM changes WHERE revision > $1 AND revision <= $2 \
             ORDER BY revision",
        )
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::try_from(last).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut expected = after + 1;
        for (revision, payload) in rows {
            if u64::try_from(revision).ok() != Some(expected) {
                return Ok(ChangeFeed::Pruned);
            }
            out.push(ChangeRow {
                revision: expected,
                changes: decode_changes(&payload)?,
            });
            expected += 1;
        }
        if expected != last + 1 {
            return Ok(ChangeFeed::Pruned);
        }
        Ok(ChangeFeed::Rows(out))
    }

    /// Deletes feed rows written before `before`, always keeping the newest `keep` rows.
    /// Returns how many rows went.
    pub async fn prune_changes(&self, before: Timestamp, keep: u64) -> Result<u64> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let result = sqlx::query(
            "DELETE FROM changes WHERE at < $1 \
             AND revision <= (SELECT COALESCE(MAX(revision), 0) FROM changes) - $2",
        )
        .bind(before)
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// The URL of a PostgreSQL store (for a dedicated `LISTEN` connection).
    pub fn listen_url(&self) -> Option<String> {
        (self.backend() == Backend::Postgres)
            .then(|| self.pool.connect_options().database_url.to_string())
    }
}

/// Inserts the feed row of `revision` (inside the write's transaction) and, on PostgreSQL,
/// queues the notification that is delivered when the transaction commits.
pub(crate) async fn insert_changes(
    conn: &mut AnyConnection,
    backend: Backend,
    revision: u64,
    now: Timestamp,
    changes: &[Change],
) -> Result<()> {
    sqlx::query("INSERT INTO changes (revision, payload, at) VALUES ($1, $2, $3)")
        .bind(i64::try_from(revision).unwrap_or(i64::MAX))
        .bind(encode_changes(changes))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if backend == Backend::Postgres {
        sqlx::query(&format!("NOTIFY {CHANGES_CHANNEL}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(raw: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if raw.len() != 64 || !raw.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(raw.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn account_json(account: Account) -> Value {
    match account {
        Account::User(u) => json!({"user": id_of(u.0)}),
        Account::Org(o) => json!({"org": id_of(o.0)}),
    }
}

/// Encodes a write's changes as the feed's JSON text.
pub fn encode_changes(changes: &[Change]) -> String {
    Value::Array(changes.iter().map(encode_one).collect()).to_string()
}

fn encode_one(change: &Change) -> Value {
    match change {
        Change::UserUpserted {
            key,
            id,
            active,
            operator,
        } => {
            json!({"t": "user", "key": id_of(key.0), "id": id, "active": active, "operator": operator})
        }
        Change::OrgCreated { key, id } => json!({"t": "org", "key": id_of(key.0), "id": id}),
        Change::OrgDeleted { key } => json!({"t": "org_deleted", "key": id_of(key.0)}),
        Change::OrgSsoEnforced { key, enforced } => {
            json!({"t": "org_sso", "key": id_of(key.0), "enforced": enforced})
        }
        Change::OrgTwoFactorRequired { key, required } => {
            json!({"t": "org_two_factor", "key": id_of(key.0), "required": required})
        }
        Change::UserTwoFactor { key, enabled } => {
            json!({"t": "user_two_factor", "key": id_of(key.0), "enabled": enabled})
        }
        Change::MemberSet { org, user, role } => json!({
            "t": "member", "org": id_of(org.0), "user": id_of(user.0), "role": role.as_str()
        }),
        Change::MemberRemoved { org, user } => {
            json!({"t": "member_removed", "org": id_of(org.0), "user": id_of(user.0)})
        }
        Change::TeamCreated {
            key,
            org,
            id,
            default_role,
        } => json!({
            "t": "team", "key": id_of(key.0), "org": id_of(org.0), "id": id,
            "default_role": default_role.as_str()
        }),
        Change::TeamUpdated {
            key,
            id,
            default_role,
        } => json!({
            "t": "team_updated", "key": id_of(key.0), "id": id,
            "default_role": default_role.as_str()
        }),
        Change::TeamDeleted { key } => json!({"t": "team_deleted", "key": id_of(key.0)}),
        Change::TeamMemberAdded { team, user } => {
            json!({"t": "team_member", "team": id_of(team.0), "user": id_of(user.0)})
        }
        Change::TeamMemberRemoved { team, user } => {
            json!({"t": "team_member_removed", "team": id_of(team.0), "user": id_of(user.0)})
        }
        Change::TeamAppSet { team, app, role } => json!({
            "t": "team_app", "team": id_of(team.0), "app": id_of(app.0), "role": role.as_str()
        }),
        Change::TeamAppRemoved { team, app } => {
            json!({"t": "team_app_removed", "team": id_of(team.0), "app": id_of(app.0)})
        }
        Change::AppUpserted {
            key,
            owner,
            id,
            visibility,
        } => json!({
            "t": "app", "key": id_of(key.0), "owner": account_json(*owner), "id": id,
            "visibility": visibility.as_str()
        }),
        Change::AppDeleted { key } => json!({"t": "app_deleted", "key": id_of(key.0)}),
        Change::CollaboratorSet {
            app,
            user,
            permissions,
        } => json!({
            "t": "collaborator", "app": id_of(app.0), "user": id_of(user.0),
            "permissions": scopes_to_text(*permissions)
        }),
        Change::CollaboratorRemoved { app, user } => {
            json!({"t": "collaborator_removed", "app": id_of(app.0), "user": id_of(user.0)})
        }
        Change::ItemUpserted {
            app,
            kind,
            id,
            visibility,
        } => json!({
            "t": "item", "app": id_of(app.0), "kind": kind.as_str(), "id": id,
            "visibility": visibility.as_str()
        }),
        Change::ItemDeleted { app, kind, id } => {
            json!({"t": "item_deleted", "app": id_of(app.0), "kind": kind.as_str(), "id": id})
        }
        Change::CredentialAdded { hash, entry } => json!({
            "t": "credential",
            "hash": hex(hash),
            "id": entry.id,
            "user": id_of(entry.user.0),
            "kind": entry.kind.as_str(),
            "scopes": scopes_to_text(entry.scopes),
            "org": entry.org.map(|o| id_of(o.0)),
            "app": entry.app.map(|a| id_of(a.0)),
            "expires_at": entry.expires_at,
        }),
        Change::CredentialRevoked { hash } => {
            json!({"t": "credential_revoked", "hash": hex(hash)})
        }
        Change::CredentialSsoAuthorized { credential, org } => {
            json!({"t": "credential_sso", "credential": credential, "org": id_of(org.0)})
        }
        Change::OrgSsoBreakGlass { key, users } => json!({
            "t": "org_sso_break_glass", "key": id_of(key.0),
            "users": users.iter().map(|u| id_of(u.0)).collect::<Vec<_>>()
        }),
    }
}

/// Decodes the feed's JSON text back into changes. Unknown tags are corruption: a server must
/// never skip a change it does not understand (it would silently diverge).
pub fn decode_changes(payload: &str) -> Result<Vec<Change>> {
    let value: Value = serde_json::from_str(payload)
        .map_err(|err| StoreError::Corrupt(format!("change feed payload: {err}")))?;
    let Value::Array(items) = value else {
        return Err(StoreError::Corrupt(
            "change feed payload is not a list".into(),
        ));
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(map) => decode_one(map),
            _ => Err(StoreError::Corrupt(
                "change feed entry is not an object".into(),
            )),
        })
        .collect()
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("change feed entry: bad or missing `{what}`"))
}

fn int(map: &Map<String, Value>, field: &str) -> Result<i64> {
    map.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| corrupt(field))
}

fn opt_int(map: &Map<String, Value>, field: &str) -> Result<Option<i64>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| corrupt(field)),
    }
}

fn text<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    map.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| corrupt(field))
}

fn boolean(map: &Map<String, Value>, field: &str) -> Result<bool> {
    map.get(field)
        .and_then(Value::as_bool)
        .ok_or_else(|| corrupt(field))
}

fn item_kind(map: &Map<String, Value>) -> Result<ItemKind> {
    ItemKind::parse(text(map, "kind")?).ok_or_else(|| corrupt("kind"))
}

fn hash(map: &Map<String, Value>) -> Result<[u8; 32]> {
    unhex(text(map, "hash")?).ok_or_else(|| corrupt("hash"))
}

fn decode_one(map: &Map<String, Value>) -> Result<Change> {
    let change = match text(map, "t")? {
        "user" => Change::UserUpserted {
            key: user_key(int(map, "key")?)?,
            id: text(map, "id")?.to_owned(),
            active: boolean(map, "active")?,
            operator: boolean(map, "operator")?,
        },
        "org" => Change::OrgCreated {
            key: org_key(int(map, "key")?)?,
            id: text(map, "id")?.to_owned(),
        },
        "org_deleted" => Change::OrgDeleted {
            key: org_key(int(map, "key")?)?,
        },
        "org_sso" => Change::OrgSsoEnforced {
            key: org_key(int(map, "key")?)?,
            enforced: boolean(map, "enforced")?,
        },
        "org_two_factor" => Change::OrgTwoFactorRequired {
            key: org_key(int(map, "key")?)?,
            required: boolean(map, "required")?,
        },
        "user_two_factor" => Change::UserTwoFactor {
            key: user_key(int(map, "key")?)?,
            enabled: boolean(map, "enabled")?,
        },
        "member" => Change::MemberSet {
            org: org_key(int(map, "org")?)?,
            user: user_key(int(map, "user")?)?,
            role: org_role(text(map, "role")?)?,
        },
        "member_removed" => Change::MemberRemoved {
            org: org_key(int(map, "org")?)?,
            user: user_key(int(map, "user")?)?,
        },
        "team" => Change::TeamCreated {
            key: team_key(int(map, "key")?)?,
            org: org_key(int(map, "org")?)?,
            id: text(map, "id")?.to_owned(),
            default_role: team_role(text(map, "default_role")?)?,
        },
        "team_updated" => Change::TeamUpdated {
            key: team_key(int(map, "key")?)?,
            id: text(map, "id")?.to_owned(),
            default_role: team_role(text(map, "default_role")?)?,
        },
        "team_deleted" => Change::TeamDeleted {
            key: team_key(int(map, "key")?)?,
        },
        "team_member" => Change::TeamMemberAdded {
            team: team_key(int(map, "team")?)?,
            user: user_key(int(map, "user")?)?,
        },
        "team_member_removed" => Change::TeamMemberRemoved {
            team: team_key(int(map, "team")?)?,
            user: user_key(int(map, "user")?)?,
        },
        "team_app" => Change::TeamAppSet {
            team: team_key(int(map, "team")?)?,
            app: app_key(int(map, "app")?)?,
            role: team_role(text(map, "role")?)?,
        },
        "team_app_removed" => Change::TeamAppRemoved {
            team: team_key(int(map, "team")?)?,
            app: app_key(int(map, "app")?)?,
        },
        "app" => {
            let owner = match map.get("owner") {
                Some(Value::Object(owner)) => match (owner.get("user"), owner.get("org")) {
                    (Some(u), None) => {
                        Account::User(user_key(u.as_i64().ok_or_else(|| corrupt("owner"))?)?)
                    }
                    (None, Some(o)) => {
                        Account::Org(org_key(o.as_i64().ok_or_else(|| corrupt("owner"))?)?)
                    }
                    _ => return Err(corrupt("owner")),
                },
                _ => return Err(corrupt("owner")),
            };
            Change::AppUpserted {
                key: app_key(int(map, "key")?)?,
                owner,
                id: text(map, "id")?.to_owned(),
                visibility: visibility(text(map, "visibility")?)?,
            }
        }
        "app_deleted" => Change::AppDeleted {
            key: app_key(int(map, "key")?)?,
        },
        "collaborator" => Change::CollaboratorSet {
            app: app_key(int(map, "app")?)?,
            user: user_key(int(map, "user")?)?,
            permissions: scopes_from_text(text(map, "permissions")?)?,
        },
        "collaborator_removed" => Change::CollaboratorRemoved {
            app: app_key(int(map, "app")?)?,
            user: user_key(int(map, "user")?)?,
        },
        "item" => Change::ItemUpserted {
            app: app_key(int(map, "app")?)?,
            kind: item_kind(map)?,
            id: text(map, "id")?.to_owned(),
            visibility: visibility(text(map, "visibility")?)?,
        },
        "item_deleted" => Change::ItemDeleted {
            app: app_key(int(map, "app")?)?,
            kind: item_kind(map)?,
            id: text(map, "id")?.to_owned(),
        },
        "credential" => Change::CredentialAdded {
            hash: hash(map)?,
            entry: CredentialEntry {
                id: int(map, "id")?,
                user: user_key(int(map, "user")?)?,
                kind: CredentialKind::parse(text(map, "kind")?).ok_or_else(|| corrupt("kind"))?,
                scopes: scopes_from_text(text(map, "scopes")?)?,
                org: opt_int(map, "org")?.map(org_key).transpose()?,
                app: opt_int(map, "app")?.map(app_key).transpose()?,
                expires_at: opt_int(map, "expires_at")?,
            },
        },
        "credential_revoked" => Change::CredentialRevoked { hash: hash(map)? },
        "credential_sso" => Change::CredentialSsoAuthorized {
            credential: int(map, "credential")?,
            org: org_key(int(map, "org")?)?,
        },
        "org_sso_break_glass" => Change::OrgSsoBreakGlass {
            key: org_key(int(map, "key")?)?,
            users: map
                .get("users")
                .and_then(Value::as_array)
                .ok_or_else(|| corrupt("users"))?
                .iter()
                .map(|u| user_key(u.as_i64().ok_or_else(|| corrupt("users"))?))
                .collect::<Result<_>>()?,
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "change feed entry of unknown type `{other}`"
            )));
        }
    };
    Ok(change)
}

/// A dedicated PostgreSQL connection `LISTEN`ing on [`CHANGES_CHANNEL`]: a prompt wake-up for
/// followers. Notifications carry nothing; the feed table stays the source of truth.
#[derive(Debug)]
pub struct ChangeListener(sqlx::postgres::PgListener);

impl ChangeListener {
    /// Listens on the store's database; `None` for SQLite (one process, nothing to hear).
    pub async fn connect(store: &Store) -> Result<Option<Self>> {
        let Some(url) = store.listen_url() else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(Self(listener)))
    }

    /// Waits for the next notification (reconnecting if the connection dropped).
    pub async fn next(&mut self) -> Result<()> {
        self.0.recv().await?;
        Ok(())
    }
}
